import { createHash } from 'node:crypto';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BundlePlan, ResolvedSite } from '../model/index.js';
import { FILES, installTarget, KUBECONFIG, NODE, payloadName, UPDATE_FILES } from '../model/layout.js';
import { etcdctlContext } from '../render/files.js';
import { nodeFacts, type NodeFacts } from '../render/facts.js';
import { installSteps } from '../render/install.js';
import {
  artifactMarker,
  healthCheck,
  IMAGES_KEY,
  KUBEADM_UPGRADE,
  RESTART_ORDER,
  restartContext,
  restartVia,
  type UnitRestartRow,
} from '../render/restarts.js';
import { containerdQuirk } from '../catalog/quirks.js';
import { FailureError } from '../model/index.js';
import type { Engine } from '../text/template.js';
import { describeUpdate, type NodeUpdate } from '../update/compute.js';
import { DIST } from './dist-layout.js';
import { diskFile, memFile, writeTarTo } from './files.js';
import type { ArtifactFile } from './payload.js';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** The update's SHA-256 list: paths relative to /, like the node-files list. */
export function updateList(u: NodeUpdate): string {
  return [...u.added, ...u.changed]
    .sort((a, b) => a.path.localeCompare(b.path))
    .map((f) => `${f.sha256}  ${f.path.slice(1)}\n`)
    .join('');
}

/** The SHA-256 list of the update's downloads from the new payload: names relative to its payload directory. */
export function payloadList(u: NodeUpdate): string {
  return [...u.artifacts]
    .sort((a, b) => a.file.localeCompare(b.file))
    .map((a) => `${a.sha256}  ${a.file}\n`)
    .join('');
}

/**
 * How each download of an upgrade lands on the node, as first boot installs it (render/install.ts):
 * a binary at its target, an archive unpacked into its directory, the image archive imported.
 */
function artifactContext(site: ResolvedSite, plan: BundlePlan, f: NodeFacts, u: NodeUpdate) {
  const steps = installSteps(plan.artifacts.filter((a) => a.nodes.includes(u.node)));
  return u.artifacts.map((a) => {
    const marker = artifactMarker(a.key);
    if (a.key === IMAGES_KEY) {
      const refs = plan.images.filter((i) => i.nodes.includes(u.node)).flatMap((i) => [i.ref, ...i.aliases]);
      const platform = containerdQuirk('importPlatformFlag', site.containerRuntime.version) ? `linux/${f.node.arch}` : '';
      return { key: a.key, file: a.file, marker, images: { refs, platform }, install: null };
    }
    const step = steps.find((s) => s.file === a.file);
    if (!step) throw new Error(`internal: no install step for ${a.file} on ${u.node}`);
    return { key: a.key, file: a.file, marker, images: null, install: { tar: step.tar, dest: step.dest, strip: step.strip, members: step.members } };
  });
}

/** kubeadm's preflight checks `kubeadm upgrade apply` is told to pass over (reasons in kubeadmUpgradeCommand). */
const KUBEADM_UPGRADE_IGNORED_CHECKS = ['ImagePull', 'CoreDNSUnsupportedPlugins', 'CoreDNSMigration'];

/** kubeadm mode: the command that upgrades the node's part of the control plane with the new kubeadm (the first control plane applies, the others follow). */
export function kubeadmUpgradeCommand(site: ResolvedSite, f: NodeFacts): string[] | null {
  if (!f.kubeadm) return null;
  // kubeseed owns the certificates (gen certs --renew): kubeadm must not renew them on the way.
  const common = ['--certificate-renewal=false'];
  if (f.bootstrap) {
    return [
      'upgrade',
      'apply',
      site.kubernetes.version,
      '--config',
      FILES.kubeadmConfig,
      '--yes',
      // kubeadm refuses a target with a pre-release part (v1.20.3-kubeseed.1) unless told (cmd/kubeadm/app/phases/upgrade/policy.go, EnforceVersionPolicies).
      ...(site.kubernetes.version.includes('-') ? ['--allow-experimental-upgrades'] : []),
      // The images are in containerd already (imported from the update); kubeadm must not try to pull them.
      // First boot skips kubeadm's CoreDNS addon (render/firstboot.ts), so kubeadm finds no CoreDNS version of its own
      // to migrate from and its CoreDNS checks fail ("start version '' not supported", seen booting kubeadm 1.20.2).
      // The addon upgrade itself skips a cluster without kubeadm's coredns ConfigMap (postupgrade.go, kubeadm 1.20 on).
      `--ignore-preflight-errors=${KUBEADM_UPGRADE_IGNORED_CHECKS.join(',')}`,
      ...(site.kubernetes.etcdTopology === 'external' ? ['--etcd-upgrade=false'] : []),
      ...common,
    ];
  }
  return ['upgrade', 'node', ...common];
}

/** The node's `apply` script. */
export function applyScript(engine: Engine, site: ResolvedSite, u: NodeUpdate, plan?: BundlePlan): string {
  const f = nodeFacts(
    site,
    site.nodes.find((n) => n.name === u.node)!,
  );
  if (u.artifacts.length && !plan) throw new Error('internal: an update with downloads needs the plan');
  const kubeadm = kubeadmUpgradeCommand(site, f);
  const context = restartContext(f, u.restarts);
  const artifacts = plan ? artifactContext(site, plan, f, u) : [];
  return engine.render('pack/apply.sh', {
    node: u.node,
    site: site.name,
    revision: u.revision,
    base: u.base,
    listSha256: sha256(updateList(u)),
    payloadListSha256: sha256(payloadList(u)),
    removed: u.removed,
    takeOut: u.departures.length ? UPDATE_FILES.takeOut : '',
    departed: u.departures.map((d) => d.name),
    artifacts,
    imagePlatform: artifacts.find((a) => a.images)?.images?.platform ?? '',
    release: site.kubernetes.version,
    ...context,
    restart: { ...context.restart, kubeadmUpgrade: kubeadm ? [installTarget('kubeadm'), ...kubeadm] : null, kubeadmAdmin: KUBECONFIG.kubeadmAdmin },
    // What kubeadm's upgrade rewrites that is not the update's own: apply keeps it for kubeseed-rollback when the upgrade runs.
    kubeadmRewrites: kubeadm ? { step: KUBEADM_UPGRADE, staticPods: NODE.staticPods, kubeletConfig: FILES.kubeletConfig } : null,
    layout: {
      // The install-node-files partial's: it keeps the host's originals on a first install only.
      originals: FILES.originals,
      firstboot: FILES.firstboot,
      firstbootUnit: FILES.firstbootUnit,
      status: FILES.status,
      revisionFile: FILES.revision,
      pendingFile: FILES.updatePending,
      listName: UPDATE_FILES.list,
      filesDir: UPDATE_FILES.dir,
      payloadListName: UPDATE_FILES.payloadList,
      payloadDir: UPDATE_FILES.payloadDir,
      rollbackName: UPDATE_FILES.rollback,
      rollbackDir: FILES.rollbackDir,
      rollback: FILES.rollback,
      rollbackParent: NODE.sbin,
      installed: FILES.installed,
      ctr: `${installTarget('containerd')}/ctr`,
    },
  });
}

/** The node's `take-out` script, for an update that takes departed nodes out of the cluster. */
export function takeOutScript(engine: Engine, site: ResolvedSite, u: NodeUpdate): string {
  return engine.render('pack/take-out.sh', {
    node: u.node,
    site: site.name,
    kubectl: installTarget('kubectl'),
    kubeconfig: site.kubernetes.mode === 'kubeadm' ? KUBECONFIG.kubeadmAdmin : KUBECONFIG.bootstrapper,
    filesDir: UPDATE_FILES.dir,
    ...etcdctlContext(),
    departures: u.departures.map((d) => ({ name: d.name, etcd: d.etcd, etcdEndpoints: d.etcdEndpoints, peerUrl: d.ip ? `https://${d.ip}:2380` : '' })),
  });
}

const KUBELET = 'kubelet';

/**
 * The rollback's restarts: the update's, but for kubeadm's upgrade, which is not run again (it cannot undo itself):
 * the static pod manifests and the kubelet's config it rewrote come back with the other files apply kept. Where it
 * ran, the kubelet restarts: it reads its config only at start, and starts the static pods again from the restored
 * manifests (a changed manifest is a new pod to it; it also watches the directory and would do so on its own).
 */
function rollbackRestarts(f: NodeFacts, rows: UnitRestartRow[]): UnitRestartRow[] {
  const upgrade = rows.find((r) => r.unit === KUBEADM_UPGRADE);
  const rest = rows.filter((r) => r.unit !== KUBEADM_UPGRADE);
  if (!upgrade) return rest;
  const kubelet = rest.find((r) => r.unit === KUBELET) ?? { unit: KUBELET, via: restartVia(f, KUBELET), check: healthCheck(KUBELET), paths: [] };
  const merged = { ...kubelet, paths: [...new Set([...kubelet.paths, ...upgrade.paths])].sort() };
  return [...rest.filter((r) => r.unit !== KUBELET), merged].sort((a, b) => RESTART_ORDER.indexOf(a.unit) - RESTART_ORDER.indexOf(b.unit));
}

/** The node's `rollback` script: apply keeps it beside what it replaced and links it as kubeseed-rollback. */
export function rollbackScript(engine: Engine, site: ResolvedSite, u: NodeUpdate): string {
  const f = nodeFacts(
    site,
    site.nodes.find((n) => n.name === u.node)!,
  );
  const context = restartContext(f, rollbackRestarts(f, u.restarts));
  return engine.render('pack/rollback.sh', {
    node: u.node,
    site: site.name,
    ...context,
    restart: { ...context.restart, kubeadmUpgrade: null },
    layout: { rollbackDir: FILES.rollbackDir, rollback: FILES.rollback, revisionFile: FILES.revision, pendingFile: FILES.updatePending },
  });
}

/**
 * Nodes in the order an update goes through a site: etcd members, then the other control planes,
 * then the rest. In kubeadm mode the first control plane leads: its `kubeadm upgrade apply` moves
 * the cluster's configuration before the others' `kubeadm upgrade node`.
 */
export function siteOrder(site: ResolvedSite): string[] {
  const first = site.kubernetes.mode === 'kubeadm' ? site.derived.bootstrapNode : null;
  const rank = (n: { name: string; roles: string[] }) => (n.name === first ? -1 : n.roles.includes('etcd') ? 0 : n.roles.includes('control-plane') ? 1 : 2);
  return [...site.nodes].sort((a, b) => rank(a) - rank(b) || a.name.localeCompare(b.name)).map((n) => n.name);
}

/**
 * Per node written now that has an update: `nodes/<node>/<node>-rev<N>.update.tar.gz` (0600: it
 * may carry keys) holding `<node>-rev<N>/apply`, the SHA-256 list and the changed files with their
 * modes, beside `<node>-rev<N>.update.txt`, the change set in words. Then `apply-updates.sh` over
 * every update the bundle holds (those `--node` kept included), in the safe order.
 */
export async function packUpdates(
  dist: string,
  o: { site: ResolvedSite; plan: BundlePlan; payload: ArtifactFile[] | null; updates: NodeUpdate[]; revision: number; epoch: number; engine: Engine },
): Promise<void> {
  for (const u of o.updates) {
    const dir = DIST.updateName(u.node, u.revision);
    const downloads = [];
    for (const a of u.artifacts) {
      const source = o.payload?.find((p) => p.name === a.file);
      if (!source || source.sha256 !== a.sha256)
        throw new FailureError(
          `the update of ${u.node} carries ${a.file} (sha256 ${a.sha256.slice(0, 12)}…), which this bundle's payload does not hold`,
          "run gen bundle with the payload of the release the site names (not --skip-payload), or --update-from the node's revision",
        );
      const binary = o.plan.artifacts.some((p) => p.format === 'binary' && payloadName(p) === a.file);
      downloads.push(await diskFile(`${dir}/${UPDATE_FILES.payloadDir}/${a.file}`, source.source, binary ? 0o755 : 0o644));
    }
    await writeTarTo(
      join(dist, DIST.updateTarball(u.node, u.revision)),
      [
        memFile(`${dir}/${UPDATE_FILES.apply}`, applyScript(o.engine, o.site, u, o.plan), 0o755),
        memFile(`${dir}/${UPDATE_FILES.rollback}`, rollbackScript(o.engine, o.site, u), 0o755),
        memFile(`${dir}/${UPDATE_FILES.list}`, updateList(u), 0o644),
        ...(u.departures.length ? [memFile(`${dir}/${UPDATE_FILES.takeOut}`, takeOutScript(o.engine, o.site, u), 0o755)] : []),
        ...[...u.added, ...u.changed].map((f) => memFile(`${dir}/${UPDATE_FILES.dir}${f.path}`, f.content, Number.parseInt(f.mode, 8))),
        ...(u.artifacts.length ? [memFile(`${dir}/${UPDATE_FILES.payloadList}`, payloadList(u), 0o644), ...downloads] : []),
      ],
      o.epoch,
      true,
    );
    await writeFile(join(dist, DIST.updateSummary(u.node, u.revision)), describeUpdate(u), { mode: 0o644 });
  }
  const nodes = [];
  const upgrades = new Set(o.updates.filter((u) => u.artifacts.length).map((u) => u.node));
  for (const name of siteOrder(o.site)) {
    const present = await readdir(join(dist, DIST.nodeDir(name))).catch(() => [] as string[]);
    const revisions = present.map((f) => UPDATE_NAME.exec(f)).filter((m): m is RegExpExecArray => m !== null && m[1] === name);
    if (revisions.length !== 1) continue;
    const revision = Number(revisions[0]![2]);
    nodes.push({
      name,
      address: o.site.nodes.find((n) => n.name === name)!.ip,
      tarball: DIST.updateTarball(name, revision),
      file: DIST.updateTarball(name, revision).slice(DIST.nodeDir(name).length + 1),
      dir: DIST.updateName(name, revision),
      revision,
      // An upgrade (new downloads) on a node that runs workloads: cordoned and drained first, uncordoned once Ready.
      drain: upgrades.has(name) && o.site.nodes.find((n) => n.name === name)!.roles.includes('worker'),
    });
  }
  if (!nodes.length) return;
  await writeFile(
    join(dist, DIST.applyUpdates),
    o.engine.render('pack/apply-all.sh', {
      site: o.site.name,
      revision: o.revision,
      nodes,
      adminKubeconfig: DIST.adminKubeconfig,
      revisionFile: FILES.revision,
      rollback: FILES.rollback,
    }),
    { mode: 0o755 },
  );
}

const UPDATE_NAME = /^(.+)-rev(\d+)\.update\.tar\.gz$/;
