import type { BundlePlan } from '../model/index.js';
import { FILES, installTarget, KUBECONFIG, manifestPath, NODE, OS_PATHS, pkiPath, registryHostsPath, unitPath } from '../model/layout.js';
import { TOKEN_PATH, type StateFiles } from '../pki/issue.js';
import { discoveryHash } from '../pki/secrets.js';
import { certFiles } from '../pki/select.js';
import { bridgeConflist, crictlConfig, kubeletConfig, kubeProxyConfig } from './configs.js';
import { containerdConfig } from './containerd-config.js';
import type { Engine } from '../text/template.js';
import type { EtcdCluster, NodeFacts } from './facts.js';
import { firstbootContext } from './firstboot.js';
import { chronyConf, containerdHosts } from './host-config.js';
import { kubeadmConfig } from './kubeadm.js';
import { kernelModules, SYSCTL } from './preflight.js';
import { manifestTable, UnsupportedError } from './manifests.js';
import { resetContext } from './reset.js';
import { serviceOrder, unitContext } from './units.js';
import { restartContext, restartRows } from './restarts.js';

/** What a file's renderer may read: the node's facts, the plan, the site state and the templates. */
export interface RenderContext extends NodeFacts {
  plan: BundlePlan;
  state: StateFiles;
  engine: Engine;
}

/** One file on a node. The plan lists these without rendering; the render stage calls `render`. */
export interface NodeFile {
  path: string;
  mode: '0644' | '0600' | '0755';
  secret: boolean;
  /** `render:<template or builder>`, or `pki:<certificate>`. */
  origin: string;
  render(c: RenderContext): string;
}

/** A row of the table: one file with its condition, or a family of files (one per unit, registry, manifest, certificate). */
type Row = (NodeFile & { when?: (f: NodeFacts) => boolean }) | { each: (f: NodeFacts) => NodeFile[] };

const file = (
  path: string,
  template: string,
  render: NodeFile['render'],
  opts: { mode?: NodeFile['mode']; secret?: boolean; when?: (f: NodeFacts) => boolean } = {},
): Row => ({
  path,
  mode: opts.mode ?? '0644',
  secret: opts.secret ?? false,
  origin: `render:${template}`,
  render,
  ...(opts.when ? { when: opts.when } : {}),
});

/** The control planes behind the node's apiserver proxy or the VIP. */
const apiserverUpstreams = (c: RenderContext) => c.site.nodes.filter((n) => n.roles.includes('control-plane'));

/**
 * The names a node resolves through /etc/hosts: its own, and the control planes and etcd members.
 * Nothing reaches a worker by name (the apiserver and metrics-server ask kubelets by InternalIP),
 * so a worker added later changes no other node's file (issue #22).
 */
const namedNodes = (c: RenderContext) => c.site.nodes.filter((n) => n === c.node || n.roles.includes('control-plane') || n.roles.includes('etcd'));

/** Every file that turns a fresh host into its part of the cluster. */
const TABLE: Row[] = [
  file(FILES.hosts, 'hosts', (c) => c.engine.render('hosts', { site: c.site.name, nodes: namedNodes(c) })),
  file(FILES.sysctl, 'sysctl', (c) => c.engine.render('sysctl.conf', { settings: SYSCTL })),
  file(FILES.modules, 'modules-load', (c) => c.engine.render('modules-load.conf', { modules: kernelModules(c.site, c.node) })),
  // The whole chrony.conf, so the distribution's public pool is gone; where it lives depends on the family.
  {
    each: (f) =>
      f.ntp
        ? [{ path: OS_PATHS[f.site.os.family].chronyConf, mode: '0644', secret: false, origin: 'render:chrony.conf', render: (c) => chronyConf(c.site) }]
        : [],
  },
  file(FILES.containerdConfig, 'containerd-config.toml', (c) => {
    const pause = c.plan.images.find((i) => i.name === 'pause');
    if (!pause) throw new UnsupportedError(`Kubernetes ${c.site.kubernetes.version} has no pause image in the catalog; containerd needs one for every pod`);
    return containerdConfig({ version: c.site.containerRuntime.version, sandboxImage: pause.ref });
  }),
  file(unitPath('containerd'), 'containerd.service', (c) => c.engine.render('systemd/containerd.service', { bin: NODE.bin, config: FILES.containerdConfig })),
  {
    each: (f) =>
      Object.entries(f.site.containerRuntime.registryMirrors).map(([registry, mirrors]) => ({
        path: registryHostsPath(registry),
        mode: '0644',
        secret: false,
        origin: 'render:containerd-hosts.toml',
        render: () => containerdHosts(mirrors),
      })),
  },
  file(FILES.crictlConfig, 'crictl.yaml', () => crictlConfig()),
  {
    each: (f) =>
      f.units.map((u) => ({
        path: unitPath(u.name),
        mode: '0644',
        secret: false,
        origin: `render:${u.name}.service`,
        render: (c) => c.engine.render('systemd/component.service', unitContext(u)),
      })),
  },
  file(FILES.etcdCluster, 'etcd-cluster.env', (c) => etcdClusterEnv(c.etcdCluster!), { when: (f) => f.etcdUnit }),
  file(
    FILES.etcdJoin,
    'etcd-join.sh',
    (c) =>
      c.engine.render('etcd-join.sh', {
        name: c.node.name,
        peerUrl: `https://${c.node.ip}:2380`,
        envFile: FILES.etcdCluster,
        dataDir: NODE.etcdData,
        ...etcdctlContext(),
      }),
    { mode: '0755', when: (f) => f.etcdUnit },
  ),
  file(
    FILES.kubeletKubeadmDropIn,
    'kubelet-kubeadm-dropin',
    (c) => c.engine.render('systemd/kubelet-kubeadm.conf', { bin: NODE.bin, layout: { ...FILES, kubeconfig: KUBECONFIG } }),
    { when: (f) => f.kubeadm },
  ),
  file(
    FILES.kubeadmConfig,
    'kubeadm-config',
    (c) => kubeadmConfig(c.site, c.node, { token: c.state.get(TOKEN_PATH)!.trim(), caCertHash: discoveryHash(c.state.get('pki/ca.crt')!) }, c.plan.images),
    { mode: '0600', secret: true, when: (f) => f.kubeadm },
  ),
  file(FILES.kubeletConfig, 'kubelet-config', (c) => kubeletConfig(c.site, c.node), { mode: '0600', when: (f) => !f.kubeadm }),
  file(FILES.kubeProxyConfig, 'kube-proxy-config', (c) => kubeProxyConfig(c.site, c.node), { mode: '0600' }),
  file(
    FILES.apiserverProxyConfig,
    'apiserver-proxy.conf',
    (c) =>
      c.engine.render('apiserver-proxy.conf', {
        port: c.site.controlPlane.endpoint.port,
        upstreams: apiserverUpstreams(c).map((n) => `${n.ip}:${c.site.controlPlane.apiserverPort}`),
        streamModule: OS_PATHS[c.site.os.family].nginxStreamModule,
        pid: FILES.apiserverProxyPid,
      }),
    { when: (f) => f.local },
  ),
  file(
    unitPath('kubeseed-apiserver-proxy'),
    'apiserver-proxy.service',
    (c) =>
      c.engine.render('systemd/apiserver-proxy.service', {
        port: c.site.controlPlane.endpoint.port,
        nginx: OS_PATHS[c.site.os.family].nginx,
        config: FILES.apiserverProxyConfig,
        prefix: FILES.apiserverProxyPrefix,
      }),
    { when: (f) => f.local },
  ),
  file(
    FILES.haproxyConfig,
    'haproxy-vip.cfg',
    (c) =>
      c.engine.render('haproxy-vip.cfg', {
        vip: c.site.controlPlane.vip!,
        port: c.site.controlPlane.endpoint.port,
        upstreams: apiserverUpstreams(c).map((n) => ({ name: n.name, address: `${n.ip}:${c.site.controlPlane.apiserverPort}` })),
      }),
    { when: (f) => f.vip },
  ),
  file(FILES.keepalivedConfig, 'keepalived.conf', (c) => keepalivedConf(c), { mode: '0600', secret: true, when: (f) => f.vip }),
  file(FILES.bridgeConflist, 'cni-bridge', (c) => bridgeConflist(c.site, c.node), { when: (f) => f.bridge }),
  file(
    unitPath('kubeseed-routes'),
    'kubeseed-routes.service',
    (c) =>
      c.engine.render('systemd/kubeseed-routes.service', {
        routes: c.site.nodes.filter((n) => n !== c.node).map((n) => ({ subnet: n.podSubnet!, via: n.ip })),
      }),
    { when: (f) => f.routes },
  ),
  {
    each: (f) =>
      f.bootstrap
        ? manifestTable(f.site).map(([name, build]) => ({
            path: manifestPath(name),
            mode: '0644',
            secret: false,
            origin: 'render:cluster-manifests',
            render: (c) => build(c.plan.images),
          }))
        : [],
  },
  file(
    FILES.firstboot,
    'firstboot.sh',
    // A later boot with a newer seed restarts the units of the files that changed: the whole node's restart table.
    (c) =>
      c.engine.render('firstboot.sh', {
        ...firstbootContext(c),
        ...restartContext(
          c,
          restartRows(
            c,
            nodeFiles(c).map((f) => f.path),
          ),
        ),
      }),
    { mode: '0755' },
  ),
  file(FILES.release, 'release', (c) => releaseFile(c)),
  file(FILES.firstbootUnit, 'kubeseed-firstboot.service', (c) =>
    c.engine.render('systemd/kubeseed-firstboot.service', { node: c.node.name, site: c.site.name, firstboot: FILES.firstboot }),
  ),
  file(
    FILES.status,
    'kubeseed-status.sh',
    (c) =>
      c.engine.render('kubeseed-status.sh', {
        stateDir: NODE.state,
        revisionFile: FILES.revision,
        releaseFile: FILES.release,
        units: ['kubeseed-firstboot', 'containerd', ...serviceOrder(c).ordered],
      }),
    { mode: '0755' },
  ),
  // Derived from this very table (resetContext reads the node's file list): nothing is listed twice.
  file(
    FILES.reset,
    'kubeseed-reset.sh',
    (c) =>
      c.engine.render(
        'kubeseed-reset.sh',
        resetContext(
          c,
          nodeFiles(c).map((x) => x.path),
        ),
      ),
    { mode: '0755' },
  ),
  {
    each: (f) => certFiles(f.site, f.node).map((p) => ({ path: p.path, mode: p.mode, secret: p.secret, origin: p.origin, render: (c) => p.content(c.state) })),
  },
];

/** The node's files, in path order, without rendering any. */
export function nodeFiles(f: NodeFacts): NodeFile[] {
  const out: NodeFile[] = [];
  for (const row of TABLE) {
    if ('each' in row) out.push(...row.each(f));
    else if (!row.when || row.when(f)) out.push(row);
  }
  return out.sort((a, b) => a.path.localeCompare(b.path));
}

/**
 * etcd.service's EnvironmentFile: etcd reads ETCD_<FLAG> for each flag. KUBESEED_ETCD_ENDPOINTS is
 * the join script's (etcd warns only about unknown ETCD_ names).
 */
export function etcdClusterEnv(e: EtcdCluster): string {
  return [
    `# How this etcd member starts the first time (etcd ignores it once ${NODE.etcdData} holds the member).`,
    `ETCD_INITIAL_CLUSTER_STATE=${e.state}`,
    `ETCD_INITIAL_CLUSTER=${e.initialCluster}`,
    `KUBESEED_ETCD_ENDPOINTS=${e.endpoints.join(',')}`,
    '',
  ].join('\n');
}

/**
 * How kubeseed's scripts call etcdctl on an etcd member: with the healthcheck client certificate,
 * which every member already holds (docs/decisions.md: no new credential for joining or removing).
 */
export function etcdctlContext(): Record<string, string> {
  return {
    etcdctl: `${installTarget('etcd')}/etcdctl`,
    etcdCa: pkiPath('etcd/ca.crt'),
    etcdCert: pkiPath('etcd/healthcheck-client.crt'),
    etcdKey: pkiPath('etcd/healthcheck-client.key'),
  };
}

/**
 * The release the node runs: the Kubernetes version and the version of each download it installs.
 * Plain `name=version` lines (kubeseed-status prints them; an upgrade's update replaces the file,
 * and a rollback puts the old one back).
 */
function releaseFile(c: RenderContext): string {
  const mine = c.plan.artifacts.filter((a) => a.nodes.includes(c.node.name));
  const versions = new Map(mine.map((a) => [a.component, a.version]));
  const lines = [...versions].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}=${v}`);
  return [`kubernetes=${c.site.kubernetes.version}`, ...lines].join('\n') + '\n';
}

function keepalivedConf(c: RenderContext): string {
  const cps = apiserverUpstreams(c);
  return c.engine.render('keepalived.conf', {
    node: c.node.name,
    site: c.site.name.replace(/-/g, '_'),
    interface: c.site.network.interface!,
    routerId: vrrpRouterId(c.site.name),
    // The first control plane is preferred; the others take over in order.
    priority: 150 - cps.indexOf(c.node),
    self: c.node.ip,
    peers: cps.filter((n) => n !== c.node).map((n) => n.ip),
    vip: c.site.controlPlane.vip!,
    prefix: c.node.prefixLength,
  });
}

/** A VRRP router id (1–255) stable for the site, so that two sites on one segment rarely collide. */
function vrrpRouterId(site: string): number {
  let h = 0;
  for (const c of site) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return (h % 255) + 1;
}
