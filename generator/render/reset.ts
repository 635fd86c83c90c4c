import { dirname } from 'node:path';
import { FILES, NETWORK_LEFTOVERS, NODE, NODE_FILES } from '../model/layout.js';
import type { NodeFacts } from './facts.js';
import { serviceOrder } from './units.js';

/**
 * The render context of kubeseed-reset, derived from what installs the node: the node file table
 * (every file it lays down, every unit among them), the service order first boot starts units in
 * (stopped in reverse), and the layout's directories. Nothing here lists a file by hand.
 */
export function resetContext(f: NodeFacts, files: readonly string[]): object {
  const ownUnits = files.filter((p) => p.startsWith(`${NODE.units}/`) && p.endsWith('.service')).map((p) => p.slice(NODE.units.length + 1, -'.service'.length));
  // kubelet first (so it restarts no pod), then the rest in reverse start order, containerd last.
  const started = [...serviceOrder(f).ordered].reverse();
  const units = [
    'kubeseed-firstboot',
    ...started,
    ...ownUnits.filter((u) => !started.includes(u) && u !== 'kubeseed-firstboot' && u !== 'containerd'),
    'containerd',
  ];
  return {
    node: f.node.name,
    site: f.site.name,
    self: FILES.reset,
    units,
    unitDir: NODE.units,
    unitFiles: files.filter((p) => p.startsWith(`${NODE.units}/`)).concat(FILES.firstbootWants),
    // Kept apart from the other files: they go last, once nothing runs from them.
    // Registry hosts' files go with their directory (their names are registry hosts, which the
    // egress lint rightly refuses to see in a node's files).
    files: files.filter((p) => !p.startsWith(`${NODE.units}/`) && !p.startsWith(`${NODE.containerdCertsDir}/`) && p !== FILES.reset),
    installed: FILES.installed,
    originals: FILES.originals,
    osPackages: FILES.osPackages,
    bin: NODE.bin,
    socket: NODE.containerdSocket,
    endpoint: NODE.containerdSock,
    keepDirs: [NODE.bin, NODE.sbin, NODE.units, dirname(FILES.sysctl), dirname(FILES.modules)],
    kubeletDir: NODE.kubeletDir,
    // Whole directories first boot, kubeadm, the kubelet and the network plugins fill at run time.
    dirs: [
      NODE.config,
      NODE.kubernetes,
      NODE.kubeletDir,
      NODE.kubeProxyDir,
      NODE.etcdData,
      NODE.logDir,
      NODE.podLogs,
      NODE.containerLogs,
      NODE.cniConf,
      NODE.cniState,
      NODE.containerdCertsDir,
      ...NETWORK_LEFTOVERS.dirs,
      NODE.opt,
    ],
    payload: NODE.payload,
    payloadVolume: NODE.payloadVolume,
    copies: [NODE_FILES.copied, FILES.kickstartLog, FILES.apiserverProxyPid],
    allDirs: [NODE.containerdRoot, NODE.containerdState, NODE.containerdOpt],
    allFiles: [FILES.payloadTarball],
    mountRoots: [NODE.kubeletDir, NODE.containerdState, NODE.containerdRoot, NODE.opt, NETWORK_LEFTOVERS.netns],
    interfaces: NETWORK_LEFTOVERS.interfaces,
    netns: NETWORK_LEFTOVERS.netns,
    state: NODE.state,
  };
}
