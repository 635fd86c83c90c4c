import type { LoadBalancer, Mode, NetworkPlugin, OsFamily, ProxyMode, ResolvedNode, ResolvedSite, Role } from '../model/index.js';
import { OS_PATHS } from '../model/layout.js';

/**
 * What a node's units and first boot need from the host, as data: the kernel modules and
 * settings the sysctl and modules-load files name, and the commands and files the units run.
 * First boot's preflight checks every entry that applies to the node before it starts anything,
 * and names the package that provides what is missing (issue #18), so that a host without nginx
 * fails in seconds instead of a kubelet waiting an hour for its apiserver proxy.
 */

/** Which site choices and roles an entry applies to; absent fields match everything. */
export interface NeedCondition {
  mode?: Mode;
  proxyMode?: ProxyMode;
  loadBalancer?: LoadBalancer;
  network?: NetworkPlugin;
  roles?: Role[];
  /** The site names NTP servers (first boot restarts chrony with them). */
  ntp?: boolean;
  /** The site has more than one node (static routes between them). */
  peers?: boolean;
}

/** Package providing something, per OS family; `{kernel}` stands for the running kernel's release. */
type Providers = Record<OsFamily, string>;

const KERNEL: Providers = { debian: 'linux-image-{kernel}', ubuntu: 'linux-modules-extra-{kernel}', rhel: 'kernel-modules-{kernel}' };

export interface KernelModule {
  name: string;
  why: string;
  when: NeedCondition;
}

/**
 * kube-proxy's IPVS mode needs ip_vs and its schedulers (Kubernetes 1.20 `pkg/proxy/ipvs/README.md`,
 * "Load IPVS kernel modules"); br_netfilter makes bridged pod traffic pass iptables, overlay backs
 * containerd's snapshotter, nf_conntrack carries the conntrack table the sysctl below sizes.
 */
export const KERNEL_MODULES: KernelModule[] = [
  { name: 'br_netfilter', why: 'bridged pod traffic through iptables', when: {} },
  { name: 'overlay', why: "containerd's overlayfs snapshotter", when: {} },
  { name: 'ip_vs', why: 'kube-proxy IPVS mode', when: { proxyMode: 'ipvs' } },
  { name: 'ip_vs_rr', why: 'kube-proxy IPVS mode', when: { proxyMode: 'ipvs' } },
  { name: 'ip_vs_wrr', why: 'kube-proxy IPVS mode', when: { proxyMode: 'ipvs' } },
  { name: 'ip_vs_sh', why: 'kube-proxy IPVS mode', when: { proxyMode: 'ipvs' } },
  { name: 'nf_conntrack', why: 'kube-proxy connection tracking', when: {} },
];

export interface KernelSetting {
  key: string;
  value: string;
  /** The module that creates the key; the key exists only once it is loaded. */
  module?: string;
}

/** Kernel settings Kubernetes needs, and those the kubelet's protectKernelDefaults insists on. */
export const SYSCTL: KernelSetting[] = [
  { key: 'net.bridge.bridge-nf-call-iptables', value: '1', module: 'br_netfilter' },
  { key: 'net.bridge.bridge-nf-call-ip6tables', value: '1', module: 'br_netfilter' },
  { key: 'net.ipv4.ip_forward', value: '1' },
  { key: 'net.netfilter.nf_conntrack_max', value: '1048576', module: 'nf_conntrack' },
  { key: 'fs.inotify.max_user_watches', value: '524288' },
  { key: 'fs.inotify.max_user_instances', value: '8192' },
  { key: 'vm.overcommit_memory', value: '1' },
  { key: 'vm.panic_on_oom', value: '0' },
  { key: 'kernel.panic', value: '10' },
  { key: 'kernel.panic_on_oops', value: '1' },
  { key: 'kernel.keys.root_maxkeys', value: '1000000' },
  { key: 'kernel.keys.root_maxbytes', value: '25000000' },
];

/** The apiserver proxy's nginx and its stream module, per family (the layout's OS paths). */
const NGINX = Object.fromEntries(Object.entries(OS_PATHS).map(([f, p]) => [f, p.nginx])) as Record<OsFamily, string>;
const NGINX_STREAM_MODULE = Object.fromEntries(Object.entries(OS_PATHS).map(([f, p]) => [f, p.nginxStreamModule])) as Record<OsFamily, string>;

export interface HostTool {
  /** A command looked up on PATH, or an absolute path that must exist (per family where they differ). */
  name: string | Record<OsFamily, string>;
  why: string;
  providers: Providers;
  when: NeedCondition;
}

const IPTABLES: Providers = { debian: 'iptables', ubuntu: 'iptables', rhel: 'iptables-nft' };
const UTIL_LINUX: Providers = { debian: 'util-linux', ubuntu: 'util-linux', rhel: 'util-linux' };
const MOUNT: Providers = { debian: 'mount', ubuntu: 'mount', rhel: 'util-linux' };

/**
 * Commands and files outside the payload that the node's units and first boot run. The
 * kubeadm entries are kubeadm 1.20's mandatory InPathCheck list (`cmd/kubeadm/app/preflight/
 * checks.go`: conntrack, ip, iptables, mount, nsenter), which first boot skips with the phase;
 * kube-proxy looks up `conntrack` (`pkg/util/conntrack`) and, in IPVS mode, runs `ipset`
 * (`pkg/util/ipset`); the kubelet and the CNI plugins run iptables.
 */
export const HOST_TOOLS: HostTool[] = [
  { name: 'iptables', why: 'kubelet, kube-proxy and the CNI plugins', providers: IPTABLES, when: {} },
  { name: 'iptables-save', why: 'kube-proxy', providers: IPTABLES, when: {} },
  { name: 'iptables-restore', why: 'kube-proxy', providers: IPTABLES, when: {} },
  { name: 'conntrack', why: 'kube-proxy', providers: { debian: 'conntrack', ubuntu: 'conntrack', rhel: 'conntrack-tools' }, when: {} },
  { name: 'ipset', why: 'kube-proxy IPVS mode', providers: { debian: 'ipset', ubuntu: 'ipset', rhel: 'ipset' }, when: { proxyMode: 'ipvs' } },
  { name: 'mount', why: 'kubelet volumes, first boot', providers: MOUNT, when: {} },
  { name: 'umount', why: 'kubelet volumes, first boot', providers: MOUNT, when: {} },
  { name: 'swapoff', why: 'first boot (the kubelet refuses swap)', providers: MOUNT, when: {} },
  { name: 'nsenter', why: 'kubeadm', providers: UTIL_LINUX, when: { mode: 'kubeadm' } },
  { name: 'blkid', why: 'first boot finds the seed and payload volumes', providers: UTIL_LINUX, when: {} },
  { name: 'mountpoint', why: 'first boot', providers: UTIL_LINUX, when: {} },
  { name: 'modprobe', why: 'first boot loads kernel modules', providers: { debian: 'kmod', ubuntu: 'kmod', rhel: 'kmod' }, when: {} },
  { name: 'sysctl', why: 'first boot applies kernel settings', providers: { debian: 'procps', ubuntu: 'procps', rhel: 'procps-ng' }, when: {} },
  { name: 'ip', why: 'kubeadm and the static pod routes', providers: { debian: 'iproute2', ubuntu: 'iproute2', rhel: 'iproute' }, when: {} },
  {
    name: NGINX,
    why: 'the local apiserver proxy',
    providers: { debian: 'nginx-light', ubuntu: 'nginx-light', rhel: 'nginx' },
    when: { loadBalancer: 'local' },
  },
  {
    name: NGINX_STREAM_MODULE,
    why: "the local apiserver proxy's stream module",
    providers: { debian: 'libnginx-mod-stream', ubuntu: 'libnginx-mod-stream', rhel: 'nginx-mod-stream' },
    when: { loadBalancer: 'local' },
  },
  {
    name: 'haproxy',
    why: 'the apiserver VIP',
    providers: { debian: 'haproxy', ubuntu: 'haproxy', rhel: 'haproxy' },
    when: { loadBalancer: 'vip', roles: ['control-plane'] },
  },
  {
    name: 'keepalived',
    why: 'the apiserver VIP',
    providers: { debian: 'keepalived', ubuntu: 'keepalived', rhel: 'keepalived' },
    when: { loadBalancer: 'vip', roles: ['control-plane'] },
  },
  { name: 'chronyd', why: "the site's NTP servers", providers: { debian: 'chrony', ubuntu: 'chrony', rhel: 'chrony' }, when: { ntp: true } },
];

export function needApplies(when: NeedCondition, site: ResolvedSite, node: ResolvedNode): boolean {
  if (when.mode && when.mode !== site.kubernetes.mode) return false;
  if (when.proxyMode && when.proxyMode !== site.kubernetes.proxyMode) return false;
  if (when.loadBalancer && when.loadBalancer !== site.controlPlane.loadBalancer) return false;
  if (when.network && when.network !== site.network.plugin) return false;
  if (when.ntp !== undefined && when.ntp !== site.os.ntpServers.length > 0) return false;
  if (when.peers !== undefined && when.peers !== site.nodes.length > 1) return false;
  return !when.roles || when.roles.some((r) => node.roles.includes(r));
}

/** The kernel modules the node loads (modules-load.d, first boot) and preflight checks. */
export function kernelModules(site: ResolvedSite, node: ResolvedNode): string[] {
  return KERNEL_MODULES.filter((m) => needApplies(m.when, site, node)).map((m) => m.name);
}

export interface PreflightCheck {
  kind: 'command' | 'file' | 'module' | 'sysctl';
  name: string;
  why: string;
  /** The package to install when the check fails (`{kernel}`: `uname -r` on the node). */
  package: string;
}

/**
 * Everything first boot checks on the node before it starts a service. A setting a module
 * creates is checked through that module: its key appears only once first boot loads it.
 */
export function preflightChecks(site: ResolvedSite, node: ResolvedNode): PreflightCheck[] {
  const family = site.os.family;
  const modules = KERNEL_MODULES.filter((m) => needApplies(m.when, site, node));
  const tools = HOST_TOOLS.filter((t) => needApplies(t.when, site, node));
  return [
    ...tools.map((t): PreflightCheck => {
      const name = typeof t.name === 'string' ? t.name : t.name[family];
      return { kind: name.startsWith('/') ? 'file' : 'command', name, why: t.why, package: t.providers[family] };
    }),
    ...modules.map((m): PreflightCheck => ({ kind: 'module', name: m.name, why: m.why, package: KERNEL[family] })),
    ...SYSCTL.filter((s) => !s.module).map((s): PreflightCheck => ({
      kind: 'sysctl',
      name: s.key,
      why: 'the kubelet and kube-proxy (sysctl.d/90-kubeseed.conf)',
      package: KERNEL[family],
    })),
  ];
}
