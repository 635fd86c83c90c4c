/**
 * Hosts a node of an air-gapped site must never be pointed at: public registries, package
 * mirrors, time pools, code hosts. Shared by the blueprint rule that refuses them in the fields
 * that reach a node (`gen validate`) and the egress lint over every rendered file (`gen bundle`).
 */
export const PUBLIC_HOST_DOMAINS = [
  'docker.io',
  'quay.io',
  'gcr.io',
  'k8s.gcr.io',
  'registry.k8s.io',
  'ghcr.io',
  'github.com',
  'githubusercontent.com',
  'googleapis.com',
  'dl.k8s.io',
  'pool.ntp.org',
  'ntp.org',
  'time.google.com',
  'time.cloudflare.com',
  'time.windows.com',
  'time.apple.com',
  'time.nist.gov',
  'debian.org',
  'ubuntu.com',
  'centos.org',
  'fedoraproject.org',
  'rockylinux.org',
  'almalinux.org',
  'redhat.com',
  'npmjs.org',
  'pypi.org',
] as const;

/** Any of the public hosts (or a subdomain) inside a text, as whole names. */
export const PUBLIC_HOST_PATTERN = new RegExp(`\\b(?:[a-z0-9-]+\\.)*(?:${PUBLIC_HOST_DOMAINS.map((d) => d.replaceAll('.', '\\.')).join('|')})\\b`, 'g');
