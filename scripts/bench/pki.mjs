// PKI benchmark: time to create a site's full PKI with kubeseed, next to the same certificates
// made with the openssl CLI (one `openssl req -x509 -CA …` per certificate, as many in parallel
// as there are cores) in the same run. Targets (issue #3): lab1 with RSA-2048 under 3 s;
// 100 nodes with ECDSA-P256 under 3 s.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { realCrypto } from '../../dist/generator/io/crypto.js';
import { realFs } from '../../dist/generator/io/fs.js';
import { readCatalog } from '../../dist/generator/pipeline/load.js';
import { certsStage } from '../../dist/generator/pipeline/certs.js';
import { certInstances } from '../../dist/generator/pki/table.js';
import { checkSite, parseSite } from '../../dist/generator/site/index.js';

const repo = new URL('../../', import.meta.url).pathname;
const catalogDir = join(repo, 'blueprints/catalog');
const { catalog } = await readCatalog(realFs, catalogDir);
const lab1Text = readFileSync(join(repo, 'blueprints/sites/lab1.yaml'), 'utf8');

function site(text) {
  const r = checkSite(parseSite(text, 'bench.yaml'), catalog, new Date());
  if (!r.resolved) throw new Error(JSON.stringify(r.issues));
  return r.resolved;
}

/** lab1's three control planes plus 97 workers in a /16. */
function hundredNodes(alg) {
  const head = lab1Text
    .slice(0, lab1Text.indexOf('  nodes:\n'))
    .replace('keyAlgorithm: rsa-2048', `keyAlgorithm: ${alg}`)
    .replace(/192\.168\.93\.1\b/g, '192.168.0.1');
  const nodes = Array.from(
    { length: 100 },
    (_, i) =>
      `    - name: node-${String(i + 1).padStart(3, '0')}\n      address: 192.168.${Math.floor((i + 10) / 250)}.${((i + 10) % 250) + 2}/16\n      gateway: 192.168.0.1\n      roles: [${i < 3 ? 'control-plane, etcd, worker' : 'worker'}]\n`,
  );
  return site(`${head}  nodes:\n${nodes.join('')}`);
}

async function ours(s) {
  const dir = mkdtempSync(join(tmpdir(), 'bench-pki-'));
  try {
    const t0 = performance.now();
    await certsStage(s, join(dir, 'state'), { crypto: realCrypto, clock: { now: () => new Date() } }, {});
    return (performance.now() - t0) / 1000;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const NEWKEY = {
  'rsa-2048': ['-newkey', 'rsa:2048'],
  'rsa-4096': ['-newkey', 'rsa:4096'],
  'ecdsa-p256': ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'],
};

function run(args, cwd) {
  return new Promise((resolve, reject) => {
    const p = spawn('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d) => (err += d));
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`openssl ${args.join(' ')}: ${err}`))));
  });
}

/** The same set of keys and certificates with the openssl CLI: CAs first, then leaves in parallel. */
async function reference(s) {
  const dir = mkdtempSync(join(tmpdir(), 'bench-openssl-'));
  const alg = NEWKEY[s.pki.keyAlgorithm];
  const insts = certInstances(s);
  const subj = (i) => `/CN=${i.cn || i.id}${i.o.map((o) => `/O=${o}`).join('')}`;
  const file = (i) => i.id.replaceAll('/', '_');
  try {
    const t0 = performance.now();
    await Promise.all(
      insts
        .filter((i) => i.spec.kind === 'ca')
        .map((i) =>
          run(['req', '-x509', '-new', ...alg, '-nodes', '-keyout', `${file(i)}.key`, '-out', `${file(i)}.crt`, '-subj', subj(i), '-days', '3650'], dir),
        ),
    );
    const leaves = insts.filter((i) => i.spec.kind !== 'ca');
    let next = 0;
    const worker = async () => {
      while (next < leaves.length) {
        const i = leaves[next++];
        if (i.spec.kind === 'keypair')
          await run(
            [
              'genpkey',
              ...(alg[1] === 'ec'
                ? ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256']
                : ['-algorithm', 'RSA', '-pkeyopt', `rsa_keygen_bits:${alg[1].split(':')[1]}`]),
              '-out',
              `${file(i)}.key`,
            ],
            dir,
          );
        else
          await run(
            [
              'req',
              '-x509',
              '-new',
              ...alg,
              '-nodes',
              '-keyout',
              `${file(i)}.key`,
              '-out',
              `${file(i)}.crt`,
              '-subj',
              subj(i),
              '-days',
              '365',
              '-CA',
              `${i.spec.ca}.crt`,
              '-CAkey',
              `${i.spec.ca}.key`,
            ],
            dir,
          );
      }
    };
    await Promise.all(Array.from({ length: cpus().length }, worker));
    return (performance.now() - t0) / 1000;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const TARGETS = { 'lab1/rsa-2048': 3, '100 nodes/ecdsa-p256': 3 };
const full = process.env.BENCH_FULL === '1';
const rows = [['site', 'algorithm', 'certs', 'kubeseed s', 'openssl s', 'ratio', 'target']];
for (const alg of ['rsa-2048', 'ecdsa-p256', 'rsa-4096']) {
  for (const [name, make] of [
    ['lab1', () => site(lab1Text.replace('keyAlgorithm: rsa-2048', `keyAlgorithm: ${alg}`))],
    ['100 nodes', () => hundredNodes(alg)],
  ]) {
    if (alg === 'rsa-4096' && name === '100 nodes' && !full) {
      rows.push([name, alg, '-', 'skipped', 'skipped', '-', 'BENCH_FULL=1 (minutes)']);
      continue;
    }
    const s = make();
    const a = await ours(s);
    const b = await reference(s);
    const target = TARGETS[`${name}/${alg}`];
    rows.push([
      name,
      alg,
      String(certInstances(s).length),
      a.toFixed(2),
      b.toFixed(2),
      (a / b).toFixed(2),
      target ? `< ${target} s: ${a < target ? 'met' : 'MISSED'}` : '-',
    ]);
  }
}
const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
console.log(
  `PKI creation on ${cpus().length} cores (${execFileSync('openssl', ['version'], { encoding: 'utf8' }).trim()}); ratio = kubeseed / openssl, lower is better`,
);
for (const r of rows) console.log(r.map((c, i) => c.padEnd(widths[i])).join('  '));
