import test from 'ava';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { readTemplates } from '../../generator/io/templates.js';
import type { Catalog, ResolvedSite, RunningSite } from '../../generator/model/index.js';
import { FILES, installTarget, NODE, unitPath } from '../../generator/model/layout.js';
import { takeOutScript } from '../../generator/pack/update.js';
import { renderSite } from '../../generator/pipeline/render.js';
import { nodeFacts } from '../../generator/render/facts.js';
import { createEngine } from '../../generator/text/template.js';
import { computeUpdates, type RenderedNodeFiles } from '../../generator/update/compute.js';
import { runningSite, type DeliveryRecord } from '../../generator/update/record.js';
import { loadDefaultCatalog, repoRoot } from '../helpers.js';
import { makeState } from '../pki-fixture.js';
import { ecdsa, loopbackSiteFromLab1, type SiteEdit } from '../sites.js';
import { tempDirs } from '../temp.js';

/**
 * etcd membership changes against real etcd members (Debian's etcd-server 3.4) on 127.0.0.21–23
 * (not pki-etcd's 127.0.0.11–13: AVA runs test files at once, and both bind ports 2379 and 2380),
 * with the files and scripts kubeseed renders: each member starts as its etcd.service says (the
 * ExecStart flags, the EnvironmentFile, the ExecStartPre join script), the departing member is
 * taken out by the `take-out` script of the bootstrap node's update, and a new member on
 * 127.0.0.24 joins through its own join script. The scripts and unit run with their node paths
 * moved under one directory per node (every node shares this host), and each member listens for
 * clients on its own address only (the unit's 127.0.0.1:2379 would be the same socket for all).
 * kubectl is a stand-in that logs what the take-out asks (there is no apiserver here).
 */

const procs = new Map<string, ChildProcess>();
const logs: Record<string, string> = {};
const tmp = tempDirs();
test.after.always(() => {
  for (const p of procs.values()) p.kill('SIGKILL');
});

const ADDRESS: Record<string, string> = { 'k8s-01': '127.0.0.21', 'k8s-02': '127.0.0.22', 'k8s-03': '127.0.0.23', 'k8s-04': '127.0.0.24' };

const onLoopback =
  (...names: string[]): SiteEdit =>
  (s) => {
    const model = s.spec.nodes[0]!;
    s.spec.kubernetes.version = 'v1.20.2';
    s.spec.nodes = names.map((name) => ({
      ...structuredClone(model),
      name,
      address: `${ADDRESS[name]}/8`,
      gateway: '127.0.0.1',
      dns: ['127.0.0.1'],
      mac: `52:54:00:93:00:${ADDRESS[name]!.split('.')[3]}`,
    }));
  };

interface Rendered {
  site: ResolvedSite;
  nodes: RenderedNodeFiles[];
}

async function render(catalog: Catalog, stateRoot: string, running: RunningSite | null, ...names: string[]): Promise<Rendered> {
  const site = loopbackSiteFromLab1(catalog, ecdsa, onLoopback(...names));
  const st = await makeState(site, stateRoot);
  const templates = await readTemplates(join(repoRoot, 'blueprints', 'templates'));
  const r = renderSite(site, catalog, st.files, templates, running);
  return {
    site,
    nodes: r.nodes.map((n) => ({
      facts: nodeFacts(
        site,
        site.nodes.find((x) => x.name === n.name)!,
        running,
      ),
      files: n.files,
    })),
  };
}

/** A node path under the node's own directory; etcd and etcdctl from the host's PATH. */
function relocate(root: string, text: string): string {
  return text
    .replaceAll(`${installTarget('etcd')}/etcdctl`, 'etcdctl')
    .replaceAll(`${NODE.bin}/etcd `, 'etcd ')
    .replaceAll(`${NODE.pki}/`, `${root}${NODE.pki}/`)
    .replaceAll(NODE.etcdData, `${root}${NODE.etcdData}`)
    .replaceAll(`${NODE.config}/`, `${root}${NODE.config}/`)
    .replaceAll(installTarget('kubectl'), `${root}${installTarget('kubectl')}`);
}

function lay(work: string, n: RenderedNodeFiles): string {
  const root = join(work, n.facts.node.name);
  for (const f of n.files) {
    mkdirSync(dirname(join(root, f.path)), { recursive: true });
    writeFileSync(join(root, f.path), f.content, { mode: Number.parseInt(f.mode, 8) });
  }
  return root;
}

const file = (n: RenderedNodeFiles, path: string) => n.files.find((f) => f.path === path)!.content;

/** What systemd hands etcd and its ExecStartPre from the EnvironmentFile. */
function environment(n: RenderedNodeFiles): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of file(n, FILES.etcdCluster).split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line);
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

/** The unit's ExecStart, moved under the node's directory, clients on the node's own address only. */
function execStart(root: string, n: RenderedNodeFiles): string[] {
  const unit = file(n, unitPath('etcd'));
  const body = /^ExecStart=([\s\S]*?)\n(?!\s)/m.exec(unit)![1]!.replace(/ \\\n\s*/g, ' ');
  const argv = relocate(root, `${body} `).trim().split(/\s+/);
  return argv.map((a) => (a.startsWith('--listen-client-urls=') ? `--listen-client-urls=https://${n.facts.node.ip}:2379` : a));
}

/** ExecStartPre (the data directory, the join script) then ExecStart, as systemd would. */
async function startMember(root: string, n: RenderedNodeFiles): Promise<void> {
  const env = { ...process.env, ...environment(n) };
  mkdirSync(join(root, NODE.etcdData), { recursive: true, mode: 0o700 });
  const join_ = await runScript(root, file(n, FILES.etcdJoin), env);
  if (join_.code !== 0) throw new Error(`etcd-join on ${n.facts.node.name} failed: ${join_.out}`);
  const [bin, ...args] = execStart(root, n);
  const p = spawn(bin!, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const name = n.facts.node.name;
  logs[name] = '';
  p.stdout.on('data', (d: Buffer) => (logs[name] += d.toString()));
  p.stderr.on('data', (d: Buffer) => (logs[name] += d.toString()));
  procs.set(name, p);
}

function runScript(root: string, script: string, env: NodeJS.ProcessEnv, cwd = root): Promise<{ code: number; out: string }> {
  const path = join(root, `script-${Math.random().toString(36).slice(2)}.sh`);
  writeFileSync(path, relocate(root, script), { mode: 0o755 });
  return new Promise((resolve) => {
    const p = spawn('bash', [path], { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), 120_000);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, out });
    });
  });
}

function etcdctl(root: string, endpoints: string[], ...args: string[]) {
  return spawnSync(
    'etcdctl',
    [
      `--endpoints=${endpoints.join(',')}`,
      `--cacert=${root}${NODE.pki}/etcd/ca.crt`,
      `--cert=${root}${NODE.pki}/etcd/healthcheck-client.crt`,
      `--key=${root}${NODE.pki}/etcd/healthcheck-client.key`,
      '--dial-timeout=3s',
      '--command-timeout=10s',
      ...args,
    ],
    { encoding: 'utf8', env: { ...process.env, ETCDCTL_API: '3' }, timeout: 30_000 },
  );
}

const clientUrl = (name: string) => `https://${ADDRESS[name]}:2379`;
/** name → status of each member (`started`, `unstarted`). */
function members(root: string, names: string[]): Record<string, string> {
  const r = etcdctl(root, names.map(clientUrl), 'member', 'list');
  if (r.status !== 0) throw new Error(`member list: ${r.stderr}`);
  const out: Record<string, string> = {};
  for (const line of r.stdout.trim().split('\n')) {
    const [, status, name, peer] = line.split(', ');
    out[name || peer!] = status!;
  }
  return out;
}

async function healthy(root: string, names: string[]): Promise<boolean> {
  for (let i = 0; i < 60; i++) {
    const r = etcdctl(root, names.map(clientUrl), 'endpoint', 'health');
    if (r.status === 0 && (r.stdout + r.stderr).split(' is healthy').length - 1 === names.length) return true;
    await new Promise((res) => setTimeout(res, 500));
  }
  return false;
}

const dump = () =>
  Object.entries(logs)
    .map(([n, l]) => `--- ${n}\n${l.slice(-1500)}`)
    .join('\n');

/** A kubectl that logs its arguments; `get node X` fails once `delete node X` has run. */
function kubectlStandIn(root: string): string {
  const path = join(root, installTarget('kubectl'));
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(
    path,
    [
      '#!/bin/bash',
      `log=${join(root, 'kubectl.log')}`,
      'echo "$*" >>"$log"',
      'args=" $* "',
      'if [[ "$args" == *" get node "* ]]; then grep -q "delete node" "$log" && exit 1; fi',
      'exit 0',
      '',
    ].join('\n'),
  );
  chmodSync(path, 0o755);
  return join(root, 'kubectl.log');
}

test.serial('a member leaves through the take-out script and a new one joins through its etcd-join, on a real three-member etcd', async (t) => {
  t.timeout(600_000);
  const catalog = await loadDefaultCatalog();
  const stateRoot = tmp('kubeseed-members-state-');
  const work = tmp('kubeseed-members-');
  const engine = createEngine(await readTemplates(join(repoRoot, 'blueprints', 'templates')));

  // The founding three: no record yet, so each starts a new cluster; the join script does nothing.
  const three = await render(catalog, stateRoot, null, 'k8s-01', 'k8s-02', 'k8s-03');
  const roots: Record<string, string> = {};
  for (const n of three.nodes) {
    roots[n.facts.node.name] = lay(work, n);
    t.is(environment(n).ETCD_INITIAL_CLUSTER_STATE, 'new');
  }
  for (const n of three.nodes) await startMember(roots[n.facts.node.name]!, n);
  const k1 = roots['k8s-01']!;
  t.true(await healthy(k1, ['k8s-01', 'k8s-02', 'k8s-03']), dump());
  t.deepEqual(members(k1, ['k8s-01']), { 'k8s-01': 'started', 'k8s-02': 'started', 'k8s-03': 'started' });
  const first = computeUpdates(
    null,
    three.nodes,
    three.nodes.map((n) => n.facts.node.name),
  ).record;

  // k8s-03 leaves: the bootstrap node's update takes it out.
  const two = await render(catalog, stateRoot, runningSite(first), 'k8s-01', 'k8s-02');
  const removal = computeUpdates(first, two.nodes, ['k8s-01', 'k8s-02']);
  const byK1 = removal.updates.find((u) => u.node === 'k8s-01')!;
  t.deepEqual(
    byK1.departures.map((d) => d.name),
    ['k8s-03'],
  );
  const takeOut = takeOutScript(engine, two.site, byK1);
  const shellcheck = spawnSync('shellcheck', ['--shell=bash', '--severity=style', '-'], { input: takeOut, encoding: 'utf8' });
  t.is(shellcheck.status, 0, shellcheck.stdout);
  const kubectlLog = kubectlStandIn(k1);
  const out1 = await runScript(k1, takeOut, process.env);
  t.is(out1.code, 0, `${out1.out}\n${dump()}`);
  t.regex(out1.out, /etcd member k8s-03 \([0-9a-f]+\) removed; 2 members remain/);
  t.deepEqual(
    readFileSync(kubectlLog, 'utf8')
      .trim()
      .split('\n')
      .map((l) => l.replace(/^--kubeconfig \S+ --request-timeout=60s /, '')),
    ['get node k8s-03', 'drain k8s-03 --ignore-daemonsets --delete-emptydir-data --force --timeout=300s', 'delete node k8s-03 --ignore-not-found'],
  );
  t.deepEqual(members(k1, ['k8s-01', 'k8s-02']), { 'k8s-01': 'started', 'k8s-02': 'started' });
  procs.get('k8s-03')!.kill('SIGKILL');
  t.true(await healthy(k1, ['k8s-01', 'k8s-02']), dump());

  const again = await runScript(k1, takeOut, process.env);
  t.is(again.code, 0, again.out);
  t.regex(again.out, /Node k8s-03 is gone already/);
  t.regex(again.out, /etcd member k8s-03 is gone already/);

  // The script's own guard: taking k8s-02 out of two members would need both, and one stays.
  const tooFar = await render(catalog, stateRoot, runningSite(removal.record), 'k8s-01');
  const refused = computeUpdates(removal.record, tooFar.nodes, ['k8s-01']).updates.find((u) => u.node === 'k8s-01')!;
  const out2 = await runScript(k1, takeOutScript(engine, tooFar.site, refused), process.env);
  t.is(out2.code, 1, out2.out);
  t.regex(out2.out, /only 1 of the 1 etcd members that stay are healthy; removing k8s-02 from 2 members needs 2/);
  t.deepEqual(members(k1, ['k8s-01', 'k8s-02']), { 'k8s-01': 'started', 'k8s-02': 'started' }, 'nothing was removed');

  // k8s-04 joins the two that stay, in a later change.
  const record: DeliveryRecord = removal.record;
  const grown = await render(catalog, stateRoot, runningSite(record), 'k8s-01', 'k8s-02', 'k8s-04');
  const k4 = grown.nodes.find((n) => n.facts.node.name === 'k8s-04')!;
  t.deepEqual(environment(k4), {
    ETCD_INITIAL_CLUSTER_STATE: 'existing',
    ETCD_INITIAL_CLUSTER: 'k8s-01=https://127.0.0.21:2380,k8s-02=https://127.0.0.22:2380,k8s-04=https://127.0.0.24:2380',
    KUBESEED_ETCD_ENDPOINTS: 'https://127.0.0.21:2379,https://127.0.0.22:2379',
  });
  const root4 = lay(work, k4);
  const env4 = { ...process.env, ...environment(k4) };
  mkdirSync(join(root4, NODE.etcdData), { recursive: true, mode: 0o700 });
  const added = await runScript(root4, file(k4, FILES.etcdJoin), env4);
  t.is(added.code, 0, added.out);
  t.regex(added.out, /added k8s-04 \(https:\/\/127\.0\.0\.24:2380\) to the cluster/);
  const twice = await runScript(root4, file(k4, FILES.etcdJoin), env4);
  t.is(twice.code, 0, twice.out);
  t.regex(twice.out, /k8s-04 \(https:\/\/127\.0\.0\.24:2380\) is in the member list/, 'a second run adds nothing');
  t.deepEqual(Object.values(members(k1, ['k8s-01', 'k8s-02'])).sort(), ['started', 'started', 'unstarted']);
  await startMember(root4, k4);
  t.true(await healthy(k1, ['k8s-01', 'k8s-02', 'k8s-04']), dump());
  t.deepEqual(members(k1, ['k8s-01', 'k8s-02', 'k8s-04']), { 'k8s-01': 'started', 'k8s-02': 'started', 'k8s-04': 'started' });
  t.true(existsSync(join(root4, NODE.etcdData, 'member')));
  const restart = await runScript(root4, file(k4, FILES.etcdJoin), env4);
  t.is(restart.code, 0, restart.out);
  t.is(restart.out, '', 'a member with its data starts without asking anyone');
});
