/** Registry host of a full reference (`registry.k8s.io/pause:3.10.1` → `registry.k8s.io`). */
export function registryOf(ref: string): string {
  return ref.split('/')[0]!;
}

/**
 * Where an image is pulled from: a mirror configured for its registry replaces the host.
 * `k8s.gcr.io` names pull from `registry.k8s.io` (the old registry is frozen).
 */
export function mirrorFor(ref: string, mirrors: Record<string, string>): string {
  let host = registryOf(ref);
  let rest = ref.slice(host.length);
  if (host === 'k8s.gcr.io') {
    host = 'registry.k8s.io';
    rest = ref.slice('k8s.gcr.io'.length);
  }
  const mirror = mirrors[host];
  if (!mirror) return `${host}${rest}`;
  return `${mirror.replace(/^https?:\/\//, '').replace(/\/+$/, '')}${rest}`;
}
