import { createHash } from 'node:crypto';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ResolvedSite } from '../model/index.js';
import { FILES, installTarget, KUBECONFIG, UPDATE_FILES } from '../model/layout.js';
import { etcdctlContext } from '../render/files.js';
import { nodeFacts } from '../render/facts.js';
import { restartContext } from '../render/restarts.js';
import type { Engine } from '../text/template.js';
import { describeUpdate, type NodeUpdate } from '../update/compute.js';
import { DIST } from './dist-layout.js';
import { memFile, writeTarTo } from './files.js';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** The update's SHA-256 list: paths relative to /, like the node-files list. */
export function updateList(u: NodeUpdate): string {
  return [...u.added, ...u.changed]
    .sort((a, b) => a.path.localeCompare(b.path))
    .map((f) => `${f.sha256}  ${f.path.slice(1)}\n`)
    .join('');
}

/** The node's `apply` script. */
export function applyScript(engine: Engine, site: ResolvedSite, u: NodeUpdate): string {
  return engine.render('pack/apply.sh', {
    node: u.node,
    site: site.name,
    revision: u.revision,
    base: u.base,
    listSha256: sha256(updateList(u)),
    removed: u.removed,
    takeOut: u.departures.length ? UPDATE_FILES.takeOut : '',
    departed: u.departures.map((d) => d.name),
    ...restartContext(
      nodeFacts(
        site,
        site.nodes.find((n) => n.name === u.node)!,
      ),
      u.restarts,
    ),
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

/** Nodes in the order an update goes through a site: etcd members, then the other control planes, then the rest. */
function siteOrder(site: ResolvedSite): string[] {
  const rank = (roles: string[]) => (roles.includes('etcd') ? 0 : roles.includes('control-plane') ? 1 : 2);
  return [...site.nodes].sort((a, b) => rank(a.roles) - rank(b.roles) || a.name.localeCompare(b.name)).map((n) => n.name);
}

/**
 * Per node written now that has an update: `nodes/<node>/<node>-rev<N>.update.tar.gz` (0600: it
 * may carry keys) holding `<node>-rev<N>/apply`, the SHA-256 list and the changed files with their
 * modes, beside `<node>-rev<N>.update.txt`, the change set in words. Then `apply-updates.sh` over
 * every update the bundle holds (those `--node` kept included), in the safe order.
 */
export async function packUpdates(
  dist: string,
  o: { site: ResolvedSite; updates: NodeUpdate[]; revision: number; epoch: number; engine: Engine },
): Promise<void> {
  for (const u of o.updates) {
    const dir = DIST.updateName(u.node, u.revision);
    await writeTarTo(
      join(dist, DIST.updateTarball(u.node, u.revision)),
      [
        memFile(`${dir}/${UPDATE_FILES.apply}`, applyScript(o.engine, o.site, u), 0o755),
        memFile(`${dir}/${UPDATE_FILES.list}`, updateList(u), 0o644),
        ...(u.departures.length ? [memFile(`${dir}/${UPDATE_FILES.takeOut}`, takeOutScript(o.engine, o.site, u), 0o755)] : []),
        ...[...u.added, ...u.changed].map((f) => memFile(`${dir}/${UPDATE_FILES.dir}${f.path}`, f.content, Number.parseInt(f.mode, 8))),
      ],
      o.epoch,
      true,
    );
    await writeFile(join(dist, DIST.updateSummary(u.node, u.revision)), describeUpdate(u), { mode: 0o644 });
  }
  const nodes = [];
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
    });
  }
  if (!nodes.length) return;
  await writeFile(
    join(dist, DIST.applyUpdates),
    o.engine.render('pack/apply-all.sh', { site: o.site.name, revision: o.revision, nodes, adminKubeconfig: DIST.adminKubeconfig }),
    { mode: 0o755 },
  );
}

const UPDATE_NAME = /^(.+)-rev(\d+)\.update\.tar\.gz$/;
