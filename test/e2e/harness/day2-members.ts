import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { DIST } from '../../../generator/pack/dist-layout.js';
import type { WrittenNode, WrittenSite } from '../../../generator/site/index.js';
import { cliPath } from '../../helpers.js';
import type { Machines } from './boot.js';
import { hostOf, pollUntil, type E2eRun } from './context.js';
import { applyOver } from './day2.js';

/**
 * `--day2 replace-member` on a running site with three etcd members (lab1): the last etcd member
 * leaves (the blueprint loses it, `gen bundle`, the updates applied over ssh, the first control
 * plane's taking it out), then a new member with a new name and address joins (`gen bundle`, the
 * others' updates, the new node booted from its seed). Throughout, a watcher in the run's namespace
 * asks etcd every 5 s for its members and their health; the checks: a quorum of the members healthy
 * in every round, two members after the removal, three healthy members at the end, every node
 * Ready.
 */

const quorum = (n: number) => Math.floor(n / 2) + 1;

/** etcdctl in the run's namespace with the operator's copy of the apiserver's etcd client certificate. */
function etcdctlArgs(r: E2eRun, endpoints: string[]): string[] {
  return [
    'etcdctl',
    '--endpoints',
    endpoints.join(','),
    '--cacert',
    join(r.pkiState, 'etcd-ca.crt'),
    '--cert',
    join(r.pkiState, 'apiserver-etcd-client.crt'),
    '--key',
    join(r.pkiState, 'apiserver-etcd-client.key'),
    '--dial-timeout=3s',
    '--command-timeout=10s',
  ];
}

/** The members' names and status (`started` / `unstarted`), from member list. */
function memberList(r: E2eRun, endpoints: string[]): Map<string, string> {
  const s = spawnSync('ip', ['netns', 'exec', r.ns, ...etcdctlArgs(r, endpoints), 'member', 'list'], {
    encoding: 'utf8',
    env: { ...process.env, ETCDCTL_API: '3' },
  });
  const out = new Map<string, string>();
  for (const line of s.status === 0 ? s.stdout.trim().split('\n') : []) {
    const [, status, name, peer] = line.split(', ');
    out.set(name || peer!, status!);
  }
  return out;
}

/**
 * A shell loop in the namespace (the harness blocks on ssh while updates apply): every 5 s one
 * round of `member list` and `endpoint health --cluster`, between `round <epoch>` lines.
 */
function startWatcher(r: E2eRun, endpoints: string[], log: string): ChildProcess {
  const ctl = etcdctlArgs(r, endpoints)
    .map((a) => `'${a}'`)
    .join(' ');
  const script = `while :; do echo "round $(date +%s)"; ${ctl} member list 2>&1; ${ctl} endpoint health --cluster 2>&1; sleep 5; done >${log}`;
  return spawn('ip', ['netns', 'exec', r.ns, 'sh', '-c', script], { stdio: 'ignore', env: { ...process.env, ETCDCTL_API: '3' }, detached: true });
}

interface Round {
  at: number;
  members: number;
  healthy: number;
}

function rounds(log: string): Round[] {
  return readFileSync(log, 'utf8')
    .split(/^round /m)
    .filter((b) => /^\d+/.test(b))
    .map((b) => ({
      at: Number(/^\d+/.exec(b)![0]),
      members: b.split('\n').filter((l) => /^[0-9a-f]+, (started|unstarted), /.test(l)).length,
      healthy: (b.match(/ is healthy/g) ?? []).length,
    }));
}

function gen(r: E2eRun, ...args: string[]) {
  return spawnSync(process.execPath, [cliPath, ...args], { cwd: r.work, encoding: 'utf8' });
}

const nodeReady = (r: E2eRun, name: string) =>
  r.kubectl(['get', 'node', name, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}'], { allowFail: true }).stdout.trim() === 'True';

/** Bundles `site` and applies every node update it makes, etcd members first (apply-updates.sh's order). */
function bundleAndApply(r: E2eRun, what: string, site: WrittenSite, file: string, artifacts: string): boolean {
  writeFileSync(file, stringify(site));
  const v = gen(r, 'validate', '--site', file);
  r.check(`day2 replace-member: ${what}: gen validate against the running site`, v.status === 0, (v.stdout + v.stderr).trim().split('\n').slice(-2).join('; '));
  const b = gen(r, 'bundle', '--site', file, '--artifacts', artifacts, '--json');
  let out: { revision?: number; nodeUpdates?: string[] } = {};
  try {
    out = JSON.parse(b.stdout) as typeof out;
  } catch {
    /* reported below */
  }
  r.check(`day2 replace-member: ${what}: gen bundle`, b.status === 0 && out.revision !== undefined, b.stderr.trim().split('\n').slice(-3).join('; '));
  if (b.status !== 0 || out.revision === undefined) return false;
  const rank = (n: WrittenNode) => (n.roles.includes('etcd') ? 0 : n.roles.includes('control-plane') ? 1 : 2);
  const order = site.spec.nodes.filter((n) => out.nodeUpdates?.includes(n.name)).sort((a, c) => rank(a) - rank(c) || a.name.localeCompare(c.name));
  let ok = true;
  for (const n of order) {
    const a = applyOver(r, n, join(r.dist, DIST.updateTarball(n.name, out.revision)));
    r.check(`day2 replace-member: ${what}: ${n.name}: update applied`, a.code === 0, a.out.split('\n').slice(-3).join('; '));
    ok &&= a.code === 0;
  }
  return ok;
}

export async function checkDay2ReplaceMember(r: E2eRun, machines: Machines, runSite: string, artifacts: string): Promise<void> {
  const site = parse(readFileSync(runSite, 'utf8')) as WrittenSite;
  const etcd = site.spec.nodes.filter((n) => n.roles.includes('etcd'));
  r.check('day2 replace-member: the site has three etcd members', etcd.length === 3, etcd.map((n) => n.name).join(', '));
  if (etcd.length !== 3) return;
  const leaving = etcd[2]!;
  const model = etcd[1]!;
  const [ip, prefix] = leaving.address.split('/') as [string, string];
  const octets = ip.split('.').map(Number);
  const taken = new Set(site.spec.nodes.map((n) => hostOf(n)));
  do octets[3]! += 1;
  while (taken.has(octets.join('.')));
  const next = leaving.name.replace(/(\d+)$/, (d) => String(Number(d) + 1).padStart(d.length, '0'));
  const joining: WrittenNode = { ...structuredClone(model), name: next, address: `${octets.join('.')}/${prefix}` };
  // The e2e sites write the address's last number as the MAC's last byte.
  if (model.mac) joining.mac = model.mac.replace(/[0-9a-f]{2}$/i, String(octets[3]).padStart(2, '0'));
  r.log(`day2 replace-member: ${leaving.name} leaves, ${joining.name} ${joining.address} joins`);

  const endpoints = [...etcd, joining].map((n) => `https://${hostOf(n)}:2379`);
  const watchLog = join(r.work, 'etcd-watch.log');
  const watcher = startWatcher(r, endpoints, watchLog);
  const t0 = Date.now() / 1000;
  try {
    // 1. Out: the blueprint loses the member; the first control plane's update takes it out.
    const smaller: WrittenSite = { ...site, spec: { ...site.spec, nodes: site.spec.nodes.filter((n) => n.name !== leaving.name) } };
    if (!bundleAndApply(r, `${leaving.name} out`, smaller, join(r.work, 'site-without.yaml'), artifacts)) return;
    const gone = await pollUntil(120_000, () => /NotFound|not found/.test(r.kubectl(['get', 'node', leaving.name], { allowFail: true }).stderr));
    r.check(`day2 replace-member: Node ${leaving.name} deleted`, gone);
    const afterOut = memberList(r, endpoints);
    r.check(
      `day2 replace-member: etcd has two members after ${leaving.name} left`,
      afterOut.size === 2 && !afterOut.has(leaving.name),
      [...afterOut].map(([n, s]) => `${n} ${s}`).join(', '),
    );
    // The departed node's seed still holds its keys (README: what a removed node can still do); it is switched off here.
    machines.rebooting.add(leaving.name);
    machines.process(leaving.name)?.kill('SIGKILL');
    const tOut = Date.now() / 1000;

    // 2. In: a new member with a new name and address.
    const grown: WrittenSite = { ...smaller, spec: { ...smaller.spec, nodes: [...smaller.spec.nodes, joining] } };
    if (!bundleAndApply(r, `${joining.name} in`, grown, join(r.work, 'site-with.yaml'), artifacts)) return;
    const tBoot = Date.now();
    machines.boot(joining, site.spec.nodes.length);
    const ready = await pollUntil(r.opts.timeoutS * 1000, () => nodeReady(r, joining.name));
    r.check(`day2 replace-member: ${joining.name} Ready`, ready, `${((Date.now() - tBoot) / 1000).toFixed(0)} s after its power-on`);
    const healthy3 = await pollUntil(300_000, () => {
      const m = memberList(r, endpoints);
      return m.size === 3 && [...m.values()].every((s) => s === 'started') && m.has(joining.name);
    });
    const finalMembers = memberList(r, endpoints);
    r.check(`day2 replace-member: etcd has three started members with ${joining.name}`, healthy3, [...finalMembers].map(([n, s]) => `${n} ${s}`).join(', '));
    const nodes = r.kubectl(['get', 'nodes', '-o', 'jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status}{"\\n"}{end}'], {
      allowFail: true,
    }).stdout;
    r.check(
      'day2 replace-member: every node Ready',
      grown.spec.nodes.every((n) => nodes.includes(`${n.name}=True`)) && !nodes.includes(`${leaving.name}=`),
      nodes.trim().split('\n').join(', '),
    );
    // The rounds the watcher saw: a quorum of the members healthy in every one; three healthy at the end.
    await new Promise((res) => setTimeout(res, 6_000));
    const seen = rounds(watchLog).filter((x) => x.at >= t0);
    const short = seen.filter((x) => x.members > 0 && x.healthy < quorum(x.members));
    const unread = seen.filter((x) => x.members === 0);
    r.check(
      'day2 replace-member: etcd kept a quorum of its members healthy throughout (5 s rounds)',
      seen.length > 0 && short.length === 0 && unread.length === 0,
      `${seen.length} rounds; below quorum: ${short.map((x) => `${x.at - Math.round(t0)} s ${x.healthy}/${x.members}`).join(', ') || 'none'}; unanswered: ${unread.length}`,
    );
    const last = seen.at(-1);
    r.check(
      'day2 replace-member: three healthy members in the last round',
      last !== undefined && last.members === 3 && last.healthy === 3,
      last ? `${last.healthy}/${last.members}` : 'no round',
    );
    r.log(`day2 replace-member: member out at ${(tOut - t0).toFixed(0)} s, ${seen.length} rounds watched`);
  } finally {
    if (watcher.pid) {
      try {
        process.kill(-watcher.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
}
