import type { TimingProfile } from '../model/index.js';

/**
 * Timing of the control plane per profile. `standard` is what etcd and Kubernetes ship with.
 * `relaxed` is for machines where a process can stall for seconds (shared hosts, small boards,
 * software emulation): a 100 ms heartbeat then turns into endless etcd elections and the
 * controller-manager and scheduler keep losing their leases. The price is slower failover.
 */
export const TIMING: Record<TimingProfile, { etcdHeartbeatMs: number; etcdElectionMs: number; leaseDuration: string; renewDeadline: string; retryPeriod: string }> = {
  standard: { etcdHeartbeatMs: 100, etcdElectionMs: 1000, leaseDuration: '15s', renewDeadline: '10s', retryPeriod: '2s' },
  relaxed: { etcdHeartbeatMs: 500, etcdElectionMs: 5000, leaseDuration: '60s', renewDeadline: '40s', retryPeriod: '10s' },
};

/** Flags (name → value) a profile adds to etcd; none for the upstream defaults. */
export function etcdTimingArgs(profile: TimingProfile): Record<string, string> {
  if (profile === 'standard') return {};
  const t = TIMING[profile];
  return { 'heartbeat-interval': String(t.etcdHeartbeatMs), 'election-timeout': String(t.etcdElectionMs) };
}

/** Flags a profile adds to kube-controller-manager and kube-scheduler. */
export function leaderElectionArgs(profile: TimingProfile): Record<string, string> {
  if (profile === 'standard') return {};
  const t = TIMING[profile];
  return { 'leader-elect-lease-duration': t.leaseDuration, 'leader-elect-renew-deadline': t.renewDeadline, 'leader-elect-retry-period': t.retryPeriod };
}
