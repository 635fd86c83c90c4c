import type { ResolvedNode, ResolvedSite } from '../model/index.js';
import { FILES } from '../model/layout.js';
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

/** A file the PKI puts on a node; its content comes from the site state. */
export interface CertFile {
  path: string;
  mode: '0600' | '0644';
  secret: boolean;
  origin: string;
  content(state: StateFiles): string;
}

/**
 * Exactly the PKI files a node receives, from its roles (the certificate table's holders):
 * certificates, keys and kubeconfigs with embedded credentials, and on control planes the
 * encryption config (its key is site state) with the audit policy. The plan lists these; the
 * render stage fills them in from the state.
 */
export function certFiles(site: ResolvedSite, node: ResolvedNode): CertFile[] {
  const out: CertFile[] = [];
  for (const inst of certInstances(site)) {
    const hasCert = inst.certNodes.includes(node.name);
    const hasKey = inst.keyNodes.includes(node.name);
    if (!hasCert && !hasKey) continue;
    const p = certPaths(inst);
    const origin = `pki:${inst.id}`;
    if (inst.spec.kubeconfig) {
      out.push({ path: inst.spec.kubeconfig, mode: '0600', secret: true, origin, content: (state) => kubeconfigFor(inst, site, state) });
      continue;
    }
    const base = inst.spec.nodePath!;
    const ext = inst.spec.kind === 'keypair' ? 'pub' : 'crt';
    if (hasCert) out.push({ path: `${base}.${ext}`, mode: '0644', secret: false, origin, content: (state) => must(state, p.crt) });
    if (hasKey) out.push({ path: `${base}.key`, mode: '0600', secret: true, origin, content: (state) => must(state, p.key) });
  }
  if (node.roles.includes('control-plane')) {
    out.push({
      path: FILES.encryptionConfig,
      mode: '0600',
      secret: true,
      origin: 'render:encryption-config',
      content: (state) => encryptionConfig(must(state, ENCRYPTION_KEY_PATH).trim()),
    });
    out.push({ path: FILES.auditPolicy, mode: '0644', secret: false, origin: 'render:audit-policy', content: () => auditPolicy() });
  }
  return out.sort((a, b) => a.path.localeCompare(b.path));
}

/** The node's PKI files with their content. Pure: the same site and state give the same files. */
export function selectForNode(site: ResolvedSite, node: ResolvedNode, state: StateFiles): SecretFile[] {
  return certFiles(site, node).map((f) => ({ path: f.path, mode: f.mode, content: f.content(state), origin: f.origin }));
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
