import type { ResolvedNode, ResolvedSite } from '../model/index.js';
import { certPaths, ENCRYPTION_KEY_PATH, type StateFiles } from './issue.js';
import { auditPolicy, encryptionConfig, kubeconfig } from './secrets.js';
import { certInstances, type CertInstance } from './table.js';

export interface SecretFile {
  path: string;
  mode: '0600' | '0644';
  content: string;
  /** `pki:<certificate>` for state material, `render:<what>` for configs built around it. */
  origin: string;
}

/** Where a kubeconfig's user reaches the apiserver. */
function serverFor(inst: CertInstance, site: ResolvedSite): string {
  const name = inst.spec.name;
  // Control-plane components talk to the apiserver on their own node, as kubeadm sets them up.
  if (name === 'controller-manager' || name === 'scheduler' || name === 'bootstrapper') return `https://127.0.0.1:${site.controlPlane.apiserverPort}`;
  // The operator is outside the nodes: 127.0.0.1 would be their own machine.
  if (name === 'admin') {
    const cp = site.controlPlane;
    return cp.loadBalancer === 'vip' ? cp.endpoint.url : `https://${site.nodes.find((n) => n.name === site.derived.bootstrapNode)!.ip}:${cp.apiserverPort}`;
  }
  return site.controlPlane.endpoint.url;
}

const USER: Record<string, (inst: CertInstance) => string> = {
  admin: () => 'kubernetes-admin',
  'kubelet-client': (i) => `system:node:${i.node!.name}`,
};

function kubeconfigFor(inst: CertInstance, site: ResolvedSite, state: StateFiles): string {
  const p = certPaths(inst);
  return kubeconfig({
    cluster: site.name,
    server: serverFor(inst, site),
    caPem: must(state, 'pki/ca.crt'),
    user: USER[inst.spec.name]?.(inst) ?? inst.cn,
    certPem: must(state, p.crt),
    keyPem: must(state, p.key),
  });
}

/**
 * Exactly the secret files a node receives, from its roles (the certificate table's holders):
 * certificates, keys and kubeconfigs with embedded credentials, and the encryption config on
 * control planes. Pure: the same site and state give the same files.
 */
export function selectForNode(site: ResolvedSite, node: ResolvedNode, state: StateFiles): SecretFile[] {
  const out: SecretFile[] = [];
  for (const inst of certInstances(site)) {
    const hasCert = inst.certNodes.includes(node.name);
    const hasKey = inst.keyNodes.includes(node.name);
    if (!hasCert && !hasKey) continue;
    const p = certPaths(inst);
    if (inst.spec.kubeconfig) {
      out.push({ path: inst.spec.kubeconfig, mode: '0600', content: kubeconfigFor(inst, site, state), origin: `pki:${inst.id}` });
      continue;
    }
    const base = inst.spec.nodePath!;
    const ext = inst.spec.kind === 'keypair' ? 'pub' : 'crt';
    if (hasCert) out.push({ path: `${base}.${ext}`, mode: '0644', content: must(state, p.crt), origin: `pki:${inst.id}` });
    if (hasKey) out.push({ path: `${base}.key`, mode: '0600', content: must(state, p.key), origin: `pki:${inst.id}` });
  }
  if (node.roles.includes('control-plane')) {
    out.push({ path: '/etc/kubernetes/encryption-config.yaml', mode: '0600', content: encryptionConfig(must(state, ENCRYPTION_KEY_PATH).trim()), origin: 'render:encryption-config' });
    out.push({ path: '/etc/kubernetes/audit-policy.yaml', mode: '0644', content: auditPolicy(), origin: 'render:audit-policy' });
  }
  return out.sort((a, b) => a.path.localeCompare(b.path));
}

/** What the operator carries: `dist/admin/admin.kubeconfig` and the cluster CA certificate. */
export function operatorFiles(site: ResolvedSite, state: StateFiles): SecretFile[] {
  const admin = certInstances(site).find((i) => i.spec.name === 'admin')!;
  return [
    { path: 'admin/admin.kubeconfig', mode: '0600', content: kubeconfigFor(admin, site, state), origin: 'pki:admin' },
    { path: 'admin/ca.crt', mode: '0644', content: must(state, 'pki/ca.crt'), origin: 'pki:ca' },
  ];
}

function must(state: StateFiles, path: string): string {
  const v = state.get(path);
  if (v === undefined) throw new Error(`internal: state has no ${path}; run ensurePki first`);
  return v;
}
