import test from 'ava';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { constants as zlibConstants, gunzipSync } from 'node:zlib';
import { readState } from '../../generator/io/state.js';
import { distDirMode, distFileMode, isSecretDistFile } from '../../generator/pack/modes.js';
import { cliPath } from '../helpers.js';
import { cleanup, firstLine, makeWork } from '../state-fixture.js';

/** Issue #19 item 3: secrets at rest in dist/, found by content, and modes that ignore the umask. */

const roots: string[] = [];
test.after.always(() => cleanup(roots));

/** Every secret of the state, as it may appear in a bundle file: PEM bodies, base64 of a PEM (kubeconfigs), tokens, keys. */
async function secretsOf(state: string): Promise<{ name: string; needles: string[] }[]> {
  const files = (await readState(state))!;
  const out: { name: string; needles: string[] }[] = [];
  for (const [path, content] of files) {
    if (path.endsWith('.key')) {
      const body = content.split('\n').filter((l) => l && !l.startsWith('-----'));
      out.push({ name: path, needles: [body[1] ?? body[0]!, Buffer.from(content).toString('base64').slice(0, 60)] });
    } else if (path.startsWith('secrets/')) out.push({ name: path, needles: [content.trim()] });
  }
  return out;
}

/** The text a reader of the file can get at: the bytes, and every gzip stream inside them unpacked (tarballs nest node-files.tar.gz; the seed ISO carries it as a file). */
function readableBytes(raw: Buffer, depth = 3): string {
  const parts = [raw.toString('latin1')];
  if (depth === 0) return parts[0]!;
  const magic = Buffer.from([0x1f, 0x8b, 0x08]);
  for (let i = raw.indexOf(magic); i >= 0; i = raw.indexOf(magic, i + 1)) {
    try {
      parts.push(readableBytes(gunzipSync(raw.subarray(i), { finishFlush: zlibConstants.Z_SYNC_FLUSH }), depth - 1));
    } catch {
      // not the start of a gzip stream
    }
  }
  // Base64 blocks of 76-column lines (a kickstart's embedded archive), decoded and searched too.
  for (const block of parts[0]!.match(/(?:^[A-Za-z0-9+/=]{60,76}\n){4,}/gm) ?? [])
    parts.push(readableBytes(Buffer.from(block.replace(/\n/g, ''), 'base64'), depth - 1));
  return parts.join('\n');
}

const readable = (abs: string) => readableBytes(readFileSync(abs));

for (const mode of ['binary', 'kubeadm'] as const) {
  test(`${mode} mode: every dist file that carries a key or token is 0600 in a 0700 directory, and the mode table says so`, async (t) => {
    // kubeadm mode with every output format: a kickstart carries the node's files too.
    const w = makeWork(roots, (s) => {
      if (mode !== 'kubeadm') return;
      s.spec.kubernetes.mode = 'kubeadm';
      s.spec.output.formats = ['nocloud-iso', 'tarball', 'kickstart'];
    });
    const r = w.gen('bundle', ['--skip-payload']);
    t.is(r.code, 0, r.stderr);
    const secrets = await secretsOf(w.state);
    t.true(secrets.length >= 20, `${secrets.length} secrets`);
    const carriers: string[] = [];
    for (const e of readdirSync(w.dist, { recursive: true, withFileTypes: true })) {
      const abs = join(e.parentPath, e.name);
      const rel = abs.slice(w.dist.length + 1);
      if (e.isDirectory()) {
        t.is(statSync(abs).mode & 0o777, distDirMode(rel), `${rel}/`);
        continue;
      }
      const text = readable(abs);
      const found = secrets.filter((s) => s.needles.some((n) => text.includes(n))).map((s) => s.name);
      t.is(statSync(abs).mode & 0o777, distFileMode(rel), rel);
      if (found.length) {
        carriers.push(rel);
        t.is(statSync(abs).mode & 0o777, 0o600, `${rel} carries ${found.slice(0, 3).join(', ')}`);
        t.is(statSync(dirname(abs)).mode & 0o777, 0o700, `${rel}'s directory`);
      }
      t.is(isSecretDistFile(rel), found.length > 0, `${rel}: the table and the content agree (${found.slice(0, 2).join(', ')})`);
    }
    // Every node's seed ISO, tarball and node-files archive, and the admin kubeconfig.
    t.true(carriers.includes('admin/admin.kubeconfig'));
    for (const n of ['k8s-01', 'k8s-02', 'k8s-03']) {
      for (const f of ['seed.iso', `${n}.tar.gz`, 'node-files.tar.gz', ...(mode === 'kubeadm' ? ['ks.cfg'] : [])])
        t.true(carriers.includes(`nodes/${n}/${f}`), `nodes/${n}/${f}`);
    }
    if (mode === 'kubeadm') {
      const token = readFileSync(join(w.state, 'current/secrets/bootstrap-token'), 'utf8').trim();
      t.true(readable(join(w.dist, 'nodes/k8s-02/k8s-02.tar.gz')).includes(token), 'a kubeadm node carries the bootstrap token');
    }
  });
}

test('modes in dist/ and manifest.json do not depend on the umask (077 and 022 give byte-identical manifests)', (t) => {
  const w = makeWork(roots);
  t.is(w.gen('certs').code, 0);
  const manifests: string[] = [];
  const modes: string[] = [];
  for (const umask of ['077', '022', '002']) {
    const out = join(w.dir, `out-${umask}`);
    const r = spawnSync(
      'sh',
      ['-c', `umask ${umask} && exec "$0" "$@"`, process.execPath, cliPath, 'bundle', ...w.args, '--skip-payload', '--out', out, '--state', w.state],
      { cwd: w.dir, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } },
    );
    t.is(r.status, 0, r.stderr);
    const dist = join(out, 'lab1/dist');
    manifests.push(readFileSync(join(dist, 'manifest.json'), 'utf8') + readFileSync(join(dist, 'SHA256SUMS'), 'utf8'));
    modes.push(
      readdirSync(dist, { recursive: true, withFileTypes: true })
        .map((e) => `${(statSync(join(e.parentPath, e.name)).mode & 0o777).toString(8)} ${join(e.parentPath, e.name).slice(dist.length)}`)
        .sort()
        .join('\n'),
    );
  }
  t.is(manifests[1], manifests[0]);
  t.is(manifests[2], manifests[0]);
  t.is(modes[1], modes[0]);
  t.is(modes[2], modes[0]);
  t.regex(manifests[0]!, /"path": "nodes\/k8s-01\/seed\.iso",\n\s+"size": \d+,\n\s+"mode": "0600"/);
});

test('gen verify reports a seed looser than 0600 and a node directory looser than 0700 (exit 1)', (t) => {
  const w = makeWork(roots);
  t.is(w.gen('bundle', ['--skip-payload']).code, 0);
  spawnSync('chmod', ['0644', join(w.dist, 'nodes/k8s-01/seed.iso')]);
  spawnSync('chmod', ['0755', join(w.dist, 'nodes/k8s-02')]);
  const r = spawnSync(process.execPath, [cliPath, 'verify', w.dist], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  t.is(r.status, 1);
  t.regex(r.stderr, /problem {2}nodes\/k8s-01\/seed\.iso: mode 0644, must be 0600: it carries private keys or tokens/);
  t.regex(r.stderr, /problem {2}nodes\/k8s-02\/: mode 0755, must be 0700: it holds files that carry private keys or tokens/);
  t.truthy(firstLine(r.stderr));
});
