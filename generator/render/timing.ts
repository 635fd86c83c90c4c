import type { TimingProfile } from '../model/index.js';

/**
 * Timing of the control plane per profile. `standard` is what etcd and Kubernetes ship with.
 * `relaxed` is for machines where a process can stall for seconds (shared hosts, small boards,
 * software emulation): a 100 ms heartbeat then turns into endless etcd elections and the
 * controller-manager and scheduler keep losing their leases; a kubelet whose 10 s heartbeat
 * times out is marked NotReady 40 s later. The price is slower failover and slower detection of a
 * dead node.
 */
export const TIMING: Record<
  TimingProfile,
  {
    etcdHeartbeatMs: number;
    etcdElectionMs: number;
    leaseDuration: string;
    renewDeadline: string;
    retryPeriod: string;
    nodeStatusUpdate: string;
    nodeLeaseSeconds: number;
    nodeGracePeriod: string;
  }
> = {
  standard: {
    etcdHeartbeatMs: 100,
    etcdElectionMs: 1000,
    leaseDuration: '15s',
    renewDeadline: '10s',
    retryPeriod: '2s',
    nodeStatusUpdate: '10s',
    nodeLeaseSeconds: 40,
    nodeGracePeriod: '40s',
  },
  // The kubelet's heartbeat timeout is the shorter of its status period and lease duration (20 s
  // here); the controller-manager waits six missed heartbeats before it calls a node NotReady.
  relaxed: {
    etcdHeartbeatMs: 500,
    etcdElectionMs: 5000,
    leaseDuration: '60s',
    renewDeadline: '40s',
    retryPeriod: '10s',
    nodeStatusUpdate: '20s',
    nodeLeaseSeconds: 80,
    nodeGracePeriod: '2m0s',
  },
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

/** KubeletConfiguration fields a profile sets: how often the kubelet reports and how long its lease lasts. */
export function kubeletTimingFields(profile: TimingProfile): { nodeStatusUpdateFrequency?: string; nodeLeaseDurationSeconds?: number } {
  if (profile === 'standard') return {};
  const t = TIMING[profile];
  return { nodeStatusUpdateFrequency: t.nodeStatusUpdate, nodeLeaseDurationSeconds: t.nodeLeaseSeconds };
}

/** Flags a profile adds to kube-controller-manager only: how long a silent node stays Ready. */
export function nodeMonitorArgs(profile: TimingProfile): Record<string, string> {
  if (profile === 'standard') return {};
  return { 'node-monitor-grace-period': TIMING[profile].nodeGracePeriod };
}
