import test from 'ava';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { siteMulticast } from '../../generator/pack/vm.js';
import { cleanup, makeWork } from '../state-fixture.js';

/**
 * Issue #21 item 1: the dist/vm scripts boot the site as its blueprint describes it. QEMU is
 * started for real up to its first instruction (-S, TCG, no guest code runs) and asked through its
 * QMP monitor what it was given; the whole-site scripts run against a recording stand-in.
 */

const roots: string[] = [];
test.after.always(() => cleanup(roots));

const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

/** A QMP session: the greeting, capabilities, then one command at a time. */
async function qmp(socket: string): Promise<{ ask: (command: string, args?: object) => Promise<unknown>; close: () => void }> {
  const conn = createConnection(socket);
  let buffer = '';
  const waiting: ((msg: Record<string, unknown>) => void)[] = [];
  conn.on('data', (d: Buffer) => {
    buffer += d.toString();
    for (let i = buffer.indexOf('\n'); i >= 0; i = buffer.indexOf('\n')) {
      const msg = JSON.parse(buffer.slice(0, i)) as Record<string, unknown>;
      buffer = buffer.slice(i + 1);
      if ('event' in msg) continue;
      waiting.shift()?.(msg);
    }
  });
  const next = () => new Promise<Record<string, unknown>>((r) => waiting.push(r));
  await next(); // greeting
  const ask = async (command: string, args?: object) => {
    const answer = next();
    conn.write(`${JSON.stringify({ execute: command, ...(args ? { arguments: args } : {}) })}\n`);
    const msg = await answer;
    if ('error' in msg) throw new Error(`${command}: ${JSON.stringify(msg.error)}`);
    return msg.return;
  };
  await ask('qmp_capabilities');
  return { ask, close: () => conn.destroy() };
}

test('vm/<node>.sh starts QEMU with the node on the site network (its MAC), an overlay of the base image, the seed and the payload read-only', async (t) => {
  t.timeout(60_000);
  const w = makeWork(roots);
  t.is(w.gen('bundle', ['--skip-payload']).code, 0);
  // A payload volume as an earlier bundle left it; --node writes the VM scripts anew with it attached.
  mkdirSync(join(w.dist, 'payload'));
  writeFileSync(join(w.dist, 'payload', 'payload-0123456789abcdef.iso'), Buffer.alloc(1 << 20));
  const r = w.gen('bundle', ['--skip-payload', '--node', 'k8s-02']);
  t.is(r.code, 0, r.stderr);
  const base = join(w.dir, 'base.qcow2');
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', base, '64M']);
  const baseSha = sha(base);
  const state = join(w.dir, 'vm-state');
  const monitor = join(w.dir, 'k8s-01.qmp');
  const console = join(w.dir, 'k8s-01.console');
  const vm = spawn('sh', [join(w.dist, 'vm', 'k8s-01.sh'), '-S'], {
    env: { ...process.env, BASE: base, VM_STATE: state, ACCEL: 'tcg', MONITOR: monitor, MEMORY: '256', CPUS: '1', CONSOLE: console, DISK_CACHE: 'unsafe' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  vm.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((res) => vm.on('exit', (c) => res(c)));
  t.teardown(() => vm.kill('SIGKILL'));
  for (let i = 0; i < 200 && !existsSync(monitor); i++) await new Promise((res) => setTimeout(res, 50));
  t.true(existsSync(monitor), `QMP socket: ${stderr}`);
  const m = await qmp(monitor);
  try {
    t.deepEqual(await m.ask('query-status'), { status: 'prelaunch', singlestep: false, running: false });
    t.is(((await m.ask('query-target')) as { arch: string }).arch, 'x86_64');
    const blocks = (await m.ask('query-block')) as { device: string; inserted?: { file: string; ro: boolean; backing_file?: string; drv: string } }[];
    const by = new Map(blocks.filter((b) => b.inserted).map((b) => [b.device, b.inserted!]));
    t.is(by.get('disk')?.file, join(state, 'k8s-01.qcow2'));
    t.is(by.get('disk')?.backing_file, base);
    t.false(by.get('disk')!.ro);
    t.deepEqual((by.get('disk') as unknown as { cache: object }).cache, { writeback: true, direct: false, 'no-flush': true }, 'DISK_CACHE=unsafe');
    const chardevs = (await m.ask('query-chardev')) as { label: string; filename: string }[];
    t.is(chardevs.find((c) => c.label === 'console')?.filename, 'file');
    t.true(existsSync(console), 'the serial console goes to CONSOLE');
    t.is(by.get('seed')?.file, join(w.dist, 'vm', '..', 'nodes', 'k8s-01', 'seed.iso'));
    t.true(by.get('seed')!.ro);
    t.is(by.get('payload')?.file, join(w.dist, 'vm', '..', 'payload', 'payload-0123456789abcdef.iso'));
    t.true(by.get('payload')!.ro);
    const net = (await m.ask('human-monitor-command', { 'command-line': 'info network' })) as string;
    const { group, port } = siteMulticast('lab1');
    t.regex(net, new RegExp(`site: index=0,type=socket,socket: mcast=${group.replaceAll('.', '\\.')}:${port}`));
    t.regex(net, /virtio-net-pci.*macaddr=52:54:00:93:00:45/);
    await m.ask('quit').catch(() => undefined);
  } finally {
    m.close();
  }
  t.is(await exited, 0, stderr);
  t.is(sha(base), baseSha, 'the base image is never written');
  t.regex(execFileSync('qemu-img', ['info', join(state, 'k8s-01.qcow2')], { encoding: 'utf8' }), new RegExp(`backing file: ${base.replaceAll('.', '\\.')}`));
});

/** A stand-in for QEMU on the PATH: records its arguments and, asked to daemonize, leaves a process behind its pidfile. */
function standIn(dir: string): { bin: string; calls: () => string[][] } {
  const bin = join(dir, 'bin');
  mkdirSync(bin, { recursive: true });
  const log = join(dir, 'qemu-calls');
  const script = `#!/bin/sh
printf '%s\\0' "$0" "$@" >>${log}
printf '\\n' >>${log}
pidfile=
while [ $# -gt 0 ]; do
  if [ "$1" = -pidfile ]; then pidfile=$2; fi
  shift
done
if [ -n "$pidfile" ]; then
  sleep 300 </dev/null >/dev/null 2>&1 &
  echo $! >"$pidfile"
fi
`;
  for (const name of ['qemu-system-x86_64', 'qemu-system-aarch64']) {
    writeFileSync(join(bin, name), script);
    chmodSync(join(bin, name), 0o755);
  }
  const calls = () =>
    existsSync(log)
      ? readFileSync(log, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => l.split('\0').filter(Boolean))
      : [];
  return { bin, calls };
}

test('vm/up.sh starts every node on one network with its own MAC and overlay, in the background; down.sh stops them; arm64 gets qemu-system-aarch64 -machine virt', (t) => {
  const w = makeWork(roots, (s) => {
    s.spec.artifacts.arch = ['amd64', 'arm64'];
    (s.spec.nodes[2] as { arch?: string }).arch = 'arm64';
  });
  const b = w.gen('bundle', ['--skip-payload']);
  t.is(b.code, 0, b.stderr);
  const base = join(w.dir, 'base.qcow2');
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', base, '64M']);
  const state = join(w.dir, 'vm-state');
  const stub = standIn(w.dir);
  const firmware = join(w.dir, 'QEMU_EFI.fd');
  writeFileSync(firmware, 'uefi');
  const env = { ...process.env, PATH: `${stub.bin}:${process.env.PATH}`, BASE: base, VM_STATE: state, FIRMWARE_ARM64: firmware };
  const up = spawnSync('sh', [join(w.dist, 'vm', 'up.sh')], { env, encoding: 'utf8' });
  t.is(up.status, 0, up.stderr);
  const calls = stub.calls();
  t.deepEqual(
    calls.map((c) => c[0]!.split('/').pop()),
    ['qemu-system-x86_64', 'qemu-system-x86_64', 'qemu-system-aarch64'],
  );
  const arg = (c: string[], flag: string) => c.filter((_, i) => c[i - 1] === flag);
  const { group, port } = siteMulticast('lab1');
  const macs = new Set<string>();
  calls.forEach((c, i) => {
    const node = `k8s-0${i + 1}`;
    t.deepEqual(arg(c, '-netdev'), [`socket,mcast=${group}:${port},localaddr=127.0.0.1,id=site`], node);
    macs.add(/mac=([0-9a-f:]+)/.exec(arg(c, '-device')[0]!)![1]!);
    t.true(arg(c, '-drive').includes(`id=disk,file=${join(state, `${node}.qcow2`)},if=virtio,format=qcow2,cache=writeback`), node);
    t.true(c.includes('-daemonize'));
    t.deepEqual(arg(c, '-chardev'), [`file,id=console,path=${join(state, `${node}.console`)},append=on`], node);
    t.regex(execFileSync('qemu-img', ['info', join(state, `${node}.qcow2`)], { encoding: 'utf8' }), /backing file: .*base\.qcow2/);
    t.true(existsSync(join(state, `${node}.pid`)));
  });
  t.deepEqual([...macs].sort(), ['52:54:00:93:00:45', '52:54:00:93:00:46', '52:54:00:93:00:47']);
  t.deepEqual(arg(calls[0]!, '-machine'), ['q35']);
  t.deepEqual(arg(calls[2]!, '-machine'), ['virt']);
  t.deepEqual(arg(calls[2]!, '-bios'), [firmware]);
  t.deepEqual(arg(calls[0]!, '-bios'), []);

  const again = spawnSync('sh', [join(w.dist, 'vm', 'up.sh')], { env, encoding: 'utf8' });
  t.regex(again.stdout, /k8s-01: already running/);
  t.is(stub.calls().length, 3, 'a running node is not started twice');

  const pids = ['k8s-01', 'k8s-02', 'k8s-03'].map((n) => Number(readFileSync(join(state, `${n}.pid`), 'utf8')));
  const down = spawnSync('sh', [join(w.dist, 'vm', 'down.sh')], { env: { ...env, PURGE: '1' }, encoding: 'utf8' });
  t.is(down.status, 0, down.stderr);
  for (const pid of pids) t.throws(() => process.kill(pid, 0), undefined, `pid ${pid} stopped`);
  t.false(existsSync(join(state, 'k8s-01.qcow2')), 'PURGE=1 drops the overlays');
  t.true(existsSync(base));

  // Without firmware, an arm64 node says what is missing instead of starting a machine that cannot boot.
  const noFirmware = spawnSync('sh', [join(w.dist, 'vm', 'k8s-03.sh')], { env: { ...env, FIRMWARE_ARM64: join(w.dir, 'absent.fd') }, encoding: 'utf8' });
  t.is(noFirmware.status, 1);
  t.regex(noFirmware.stderr, /no UEFI firmware at .*absent\.fd \(Debian: apt-get install qemu-efi-aarch64\)/);
});
