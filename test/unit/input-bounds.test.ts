import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { z } from 'zod';
import { parseCommandLine, UsageError } from '../../generator/cli/args.js';
import type { Command } from '../../generator/cli/commands.js';
import { MAX_YAML_ALIASES, MAX_YAML_BYTES, parseStructured } from '../../generator/input/structured.js';
import { MAX_INPUT_FILE_BYTES, readInputText } from '../../generator/io/fs.js';
import { InputError } from '../../generator/model/index.js';
import { LATEST_ARCHIVE_TIME, parseSourceDateEpoch } from '../../generator/pack/epoch.js';
import { memFile } from '../../generator/pack/files.js';
import { buildIso, IsoError } from '../../generator/pack/iso9660.js';
import { ustarHeader, writeTar } from '../../generator/pack/tar.js';
import { BILLION_LAUGHS } from '../hostile-fixtures.js';

const anything = z.record(z.string(), z.unknown());
const parse = (text: string) => parseStructured(text, 'x.yaml', anything, () => []);

test('billion laughs: alias expansion stops at the limit and is one issue with its line', (t) => {
  const r = parse(BILLION_LAUGHS);
  t.is(r.value, undefined);
  t.is(r.issues.length, 1);
  t.like(r.issues[0], { rule: 'yaml-aliases', severity: 'error', line: 2, col: 8 });
  t.regex(r.issues[0]!.message, new RegExp(`limit of ${MAX_YAML_ALIASES}`));
});

test('a few aliases are fine', (t) => {
  const r = parse('a: &x [1, 2]\nb: *x\n');
  t.deepEqual(r.issues, []);
  t.deepEqual(r.value, { a: [1, 2], b: [1, 2] });
});

test('a second document is named as such, at its --- line', (t) => {
  const r = parse('a: 1\n---\nb: 2\n');
  t.is(r.issues.length, 1);
  t.like(r.issues[0], { rule: 'yaml-syntax', message: 'the file holds more than one YAML document', line: 2, col: 1 });
  t.notRegex(JSON.stringify(r.issues), /parseAllDocuments/);
});

test('a mapping key that is not a plain name is an issue (no yaml warning on stderr)', (t) => {
  for (const text of ['!!binary aGk=: 1\n', '? [a, b]\n: 1\n', 'x: &k a\n*k : 1\n', '{a: 1}: 2\n']) {
    const r = parse(text);
    t.is(r.issues.length, 1, text);
    t.like(r.issues[0], { rule: 'yaml-syntax', message: 'a mapping key is not a plain name (a list, a mapping, an alias or a tagged value)' });
  }
});

test('text past the size limit is not parsed', (t) => {
  const r = parse(`a: "${'x'.repeat(MAX_YAML_BYTES)}"\n`);
  t.is(r.issues.length, 1);
  t.like(r.issues[0], { rule: 'yaml-size', line: 1 });
});

test('deep nesting is an issue, not a crash', (t) => {
  for (const text of [
    '['.repeat(65) + ']'.repeat(65),
    '['.repeat(5000) + ']'.repeat(5000),
    '{a: '.repeat(3000) + '}'.repeat(3000),
    Array.from({ length: 600 }, (_, i) => `${' '.repeat(i)}a:`).join('\n'),
  ]) {
    const r = parse(text);
    t.is(r.value, undefined);
    t.is(r.issues.length, 1);
    t.like(r.issues[0], { rule: 'yaml-syntax', hint: 'a blueprint nests a few levels deep; check for unclosed brackets' });
    t.regex(r.issues[0]!.message, /nests (too deeply|more than 64 levels)/);
    t.true((r.issues[0]!.line ?? 0) >= 1);
  }
});

async function refusal(t: import('ava').ExecutionContext, path: string, pattern: RegExp): Promise<void> {
  const e = await t.throwsAsync(readInputText(path), { instanceOf: InputError });
  t.regex(e.message, pattern);
}

test('input files: only regular files are opened, and only small ones', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kubeseed-input-'));
  try {
    await refusal(t, dir, /is a directory, not a regular file$/);
    await refusal(t, '/dev/zero', /is a character device, not a regular file$/);
    await refusal(t, '/dev/urandom', /is a character device, not a regular file$/);
    const fifo = join(dir, 'fifo');
    t.is(spawnSync('mkfifo', [fifo]).status, 0, 'mkfifo');
    // A FIFO without a writer: an open for reading would block this test until its timeout.
    await refusal(t, fifo, /is a named pipe \(FIFO\), not a regular file$/);
    const big = join(dir, 'big.yaml');
    writeFileSync(big, '');
    truncateSync(big, MAX_INPUT_FILE_BYTES + 1);
    await refusal(t, big, new RegExp(`is ${MAX_INPUT_FILE_BYTES + 1} bytes, more than the ${MAX_INPUT_FILE_BYTES}`));
    const latin1 = join(dir, 'latin1.yaml');
    writeFileSync(latin1, Buffer.from([0x61, 0x3a, 0x20, 0xe9, 0x0a]));
    await refusal(t, latin1, /is not UTF-8 text$/);
    const ok = join(dir, 'ok.yaml');
    writeFileSync(ok, '\ufeffa: é\n');
    t.is(await readInputText(ok), 'a: é\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('SOURCE_DATE_EPOCH: plain non-negative integers up to the last second archives can record', (t) => {
  t.is(parseSourceDateEpoch(undefined), undefined);
  t.is(parseSourceDateEpoch(''), undefined);
  t.is(parseSourceDateEpoch('0'), 0);
  t.is(parseSourceDateEpoch('1700000000'), 1700000000);
  t.is(parseSourceDateEpoch(String(2 ** 31)), 2 ** 31);
  t.is(parseSourceDateEpoch(String(LATEST_ARCHIVE_TIME)), LATEST_ARCHIVE_TIME);
  t.is(new Date(LATEST_ARCHIVE_TIME * 1000).toISOString(), '2155-12-31T23:59:59.000Z');
  for (const bad of ['1e3', '-1', '0x10', ' 5', '5 ', '1.5', '+5', 'now', '١٢٣']) {
    t.throws(() => parseSourceDateEpoch(bad), { instanceOf: InputError, message: /is not a whole number of seconds$/ }, bad);
  }
  for (const big of [String(LATEST_ARCHIVE_TIME + 1), String(2 ** 33), '99999999999999999999']) {
    t.throws(() => parseSourceDateEpoch(big), { instanceOf: InputError, message: /is later than the archives can record$/ }, big);
  }
});

const fake: Command = {
  name: 'fake',
  usage: 'gen fake',
  help: [],
  options: {
    site: { type: 'string', short: 's' },
    parallel: { type: 'string' },
    json: { type: 'boolean' },
    skip: { type: 'boolean' },
    from: { type: 'string' },
  },
  numbers: { parallel: { min: 1, max: 64 } },
  conflicts: [{ option: 'skip', with: ['from'], because: 'one or the other' }],
  run: () => Promise.resolve(0),
};

test('command line: numbers checked at parse time, repeats and conflicts refused, one line each', (t) => {
  t.deepEqual(parseCommandLine(fake, ['--parallel', '8', '-s', 'lab1']).values, { parallel: '8', site: 'lab1' });
  t.deepEqual(parseCommandLine(fake, ['--parallel=64']).values, { parallel: '64' });
  const refused: [string[], RegExp][] = [
    [['--parallel', '-5'], /^--parallel "-5": expected a whole number from 1 to 64$/],
    [['--parallel', '0'], /^--parallel "0": expected/],
    [['--parallel', '65'], /^--parallel "65": expected/],
    [['--parallel', '1e3'], /^--parallel "1e3": expected/],
    [['--parallel', '2.5'], /^--parallel "2.5": expected/],
    [['--parallel', ' 4'], /^--parallel " 4": expected/],
    [['--parallel='], /^--parallel "": expected/],
    [['--parallel', '99999999999999999999'], /^--parallel "99999999999999999999": expected/],
    [['--site', 'a', '--site', 'b'], /^--site is given 2 times \("a", "b"\); give it once$/],
    [['-s', 'a', '--site=b'], /^--site is given 2 times/],
    [['--json', '--json'], /^--json is given 2 times; give it once$/],
    [['--skip', '--from', 'x'], /^--skip and --from cannot be used together: one or the other$/],
    [['--sight', 'x'], /Unknown option '--sight'/],
  ];
  for (const [args, message] of refused) {
    const e = t.throws(() => parseCommandLine(fake, args), { instanceOf: UsageError }, args.join(' '));
    t.regex(e.message, message, args.join(' '));
    t.false(e.message.includes('\n'), 'one line');
  }
});

async function tarBytes(mtime: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await writeTar([memFile('a', 'x', 0o600)], new Writable({ write: (c, _e, cb) => (chunks.push(Buffer.from(c)), cb()) }), { mtime });
  return Buffer.concat(chunks);
}

test('tar mtimes past 2^31 are written in full (11 octal digits), not wrapped', async (t) => {
  const header = ustarHeader('a', 0o600, 1, 2 ** 31 + 5);
  t.is(header.subarray(136, 148).toString('ascii'), `${(2 ** 31 + 5).toString(8).padStart(11, '0')} `);
  const last = (await tarBytes(LATEST_ARCHIVE_TIME)).subarray(136, 148).toString('ascii');
  t.is(Number.parseInt(last, 8), LATEST_ARCHIVE_TIME);
  await t.throwsAsync(tarBytes(LATEST_ARCHIVE_TIME + 1), { message: /outside/ });
  await t.throwsAsync(tarBytes(-1), { message: /outside/ });
});

test('ISO images refuse a time their directory records cannot hold', (t) => {
  t.notThrows(() => buildIso([memFile('a', 'x', 0o644)], { volumeId: 'x', mtime: LATEST_ARCHIVE_TIME }));
  t.throws(() => buildIso([memFile('a', 'x', 0o644)], { volumeId: 'x', mtime: LATEST_ARCHIVE_TIME + 1 }), { instanceOf: IsoError });
});
