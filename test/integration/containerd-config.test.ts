import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'smol-toml';
import type { Catalog } from '../../generator/model/index.js';
import { containerdConfig } from '../../generator/render/containerd-config.js';
import { loadDefaultCatalog, toolsDir } from '../helpers.js';

/** Debian unstable's containerd 2.x, unpacked by scripts/setup-test-tools.sh (bookworm has 1.6 only). */
const CONTAINERD2 = join(toolsDir, 'containerd2', 'usr', 'bin', 'containerd');
const CTR2 = join(toolsDir, 'containerd2', 'usr', 'bin', 'ctr');

let catalog: Catalog;
const roots: string[] = [];
test.before(async () => {
  catalog = await loadDefaultCatalog();
});
test.after.always(() => roots.forEach((r) => rmSync(r, { recursive: true, force: true })));

const release = (v: string) => catalog.releases.find((r) => r.version === v)!;
const pauseOf = (v: string) => release(v).images.find((i) => i.name === 'pause')!.ref;

/** The rendered config with its root, state and socket moved into a scratch directory (the rest untouched). */
function scratchConfig(text: string): { dir: string; file: string } {
  const dir = mkdtempSync(join(tmpdir(), 'kubeseed-cd2-'));
  roots.push(dir);
  const doc = parse(text) as Record<string, unknown>;
  Object.assign(doc, { root: join(dir, 'root'), state: join(dir, 'state'), grpc: { address: join(dir, 'c.sock') } });
  const file = join(dir, 'config.toml');
  writeFileSync(file, stringify(doc));
  return { dir, file };
}

/**
 * Starts containerd with the config until it reports booted (or 30 s pass), asks it for the
 * deprecated features it met (`ctr deprecations list`: one line per deprecation after the
 * header), then stops it.
 */
async function boot(file: string, socket: string): Promise<{ log: string; deprecations: string[]; plugins: string }> {
  const child = spawn(CONTAINERD2, ['--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  await new Promise<void>((resolve) => {
    const done = () => resolve();
    const timer = setTimeout(done, 30_000);
    const read = (d: Buffer) => {
      log += d.toString();
      if (log.includes('successfully booted')) {
        clearTimeout(timer);
        done();
      }
    };
    child.stdout.on('data', read);
    child.stderr.on('data', read);
    child.on('exit', () => {
      clearTimeout(timer);
      done();
    });
  });
  const list = spawnSync(CTR2, ['--address', socket, 'deprecations', 'list'], { encoding: 'utf8' });
  const plugins = spawnSync(CTR2, ['--address', socket, 'plugins', 'ls'], { encoding: 'utf8' }).stdout;
  child.kill('SIGTERM');
  await new Promise((r) => (child.exitCode !== null ? r(null) : child.on('exit', r)));
  if (list.status !== 0) throw new Error(`ctr deprecations list: ${list.stderr}\n${log}`);
  return {
    log,
    deprecations: list.stdout
      .split('\n')
      .slice(1)
      .filter((l) => l.trim()),
    plugins,
  };
}

test('a containerd 2.x loader is installed (scripts/setup-test-tools.sh)', (t) => {
  t.true(existsSync(CONTAINERD2), CONTAINERD2);
  t.regex(spawnSync(CONTAINERD2, ['--version'], { encoding: 'utf8' }).stdout, /containerd\/v2 2\./);
});

for (const v of ['v1.35.9', 'v1.36.4', 'v1.37.1']) {
  test(`containerd 2.x reads the version-3 config of ${v} natively: the values sit at their v3 keys, no migration, no deprecation`, async (t) => {
    const text = containerdConfig({ version: release(v).versions.containerd!, sandboxImage: pauseOf(v) });
    t.regex(text, /^version = 3$/m);
    const { dir, file } = scratchConfig(text);
    const dump = spawnSync(CONTAINERD2, ['--config', file, 'config', 'dump'], { encoding: 'utf8' });
    t.is(dump.status, 0, dump.stderr);
    const cfg = parse(dump.stdout) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- a TOML tree of containerd's own making, walked by key
    t.is(cfg.version, 3);
    const images = cfg.plugins['io.containerd.cri.v1.images'];
    const runtime = cfg.plugins['io.containerd.cri.v1.runtime'];
    t.is(images.pinned_images.sandbox, pauseOf(v));
    t.is(images.registry.config_path, '/etc/containerd/certs.d');
    t.is(runtime.containerd.default_runtime_name, 'runc');
    t.is(runtime.containerd.runtimes.runc.runtime_type, 'io.containerd.runc.v2');
    t.like(runtime.containerd.runtimes.runc.options, { BinaryName: '/usr/local/sbin/runc', SystemdCgroup: true });
    t.deepEqual(runtime.cni.bin_dirs, ['/opt/cni/bin']);
    t.is(runtime.cni.bin_dir, '', 'the deprecated bin_dir is left empty');
    t.is(runtime.cni.conf_dir, '/etc/cni/net.d');

    const { log, deprecations, plugins } = await boot(file, join(dir, 'c.sock'));
    t.regex(log, /successfully booted/);
    // The CRI plugins took the configuration (a bad value leaves them "error" here).
    for (const [type, id] of [
      ['io.containerd.cri.v1', 'images'],
      ['io.containerd.cri.v1', 'runtime'],
      ['io.containerd.grpc.v1', 'cri'],
    ] as const)
      t.regex(plugins, new RegExp(`^${type.replaceAll('.', '\\.')}\\s+${id}\\s+\\S+\\s+ok\\s*$`, 'm'), `${type} ${id}`);
    t.notRegex(log, /failed to load plugin/);
    t.notRegex(log, /migrated from version/i);
    t.deepEqual(deprecations, []);
  });
}

test('controls: the same daemon reports a deprecated key, and migrates a version-2 config at every start (so the checks above can fail)', async (t) => {
  const v3 = parse(containerdConfig({ version: '2.3.4', sandboxImage: pauseOf('v1.37.1') })) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- a TOML tree walked by key
  const cni = v3.plugins['io.containerd.cri.v1.runtime'].cni;
  delete cni.bin_dirs;
  cni.bin_dir = '/opt/cni/bin';
  const dep = scratchConfig(stringify(v3));
  const withBinDir = await boot(dep.file, join(dep.dir, 'c.sock'));
  t.true(
    withBinDir.deprecations.some((l) => l.startsWith('io.containerd.deprecation/cri-cni-bin-dir')),
    withBinDir.deprecations.join('\n'),
  );

  const old = scratchConfig(containerdConfig({ version: '1.7.28', sandboxImage: pauseOf('v1.37.1') }));
  const v2 = await boot(old.file, join(old.dir, 'c.sock'));
  t.regex(v2.log, /successfully booted/);
  t.regex(v2.log, /Configuration migrated from version 2/);
});
