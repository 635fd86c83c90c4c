import fc from 'fast-check';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { cliPath, repoRoot } from '../helpers.js';
import { caseArb, render } from './mutations.js';
import { outcomeProblem, type WorkerInput, type WorkerMessage } from './protocol.js';

export interface FuzzOptions {
  /** Time budget of the in-process run, in seconds. */
  seconds: number;
  seed: number;
  /** Cases also run through the real `gen` binary, each in its own process. */
  spawns: number;
  /** A case that takes longer than this is a hang. */
  hangSeconds?: number;
}

export interface FuzzReport {
  seed: number;
  cases: number;
  seconds: number;
  /** Exit codes of the in-process cases. */
  codes: Record<string, number>;
  spawned: number;
  spawnCodes: Record<string, number>;
  failure?: string;
}

/** The blueprints mutations start from: the valid ones (lab1, the test sites) first, then the invalid corpus. */
export function baseBlueprints(): { texts: string[]; valid: number } {
  const read = (d: string) =>
    readdirSync(d)
      .filter((f) => f.endsWith('.yaml'))
      .sort()
      .map((f) => readFileSync(join(d, f), 'utf8'));
  const valid = [...read(join(repoRoot, 'blueprints', 'sites')), ...read(join(repoRoot, 'test', 'fixtures', 'sites'))];
  return { texts: [...valid, ...read(join(repoRoot, 'test', 'fixtures', 'sites', 'invalid'))], valid: valid.length };
}

/**
 * Fuzzes `gen validate` with fast-check over mutated blueprints: in process (through `run`, in a
 * worker thread the parent ends if a case hangs) for `seconds`, then `spawns` cases through the
 * real binary. Every case must end with 0 or 2, without a stack trace, in time.
 */
export async function fuzzValidate(opts: FuzzOptions): Promise<FuzzReport> {
  const { texts: bases, valid } = baseBlueprints();
  const dir = mkdtempSync(join(tmpdir(), 'kubeseed-fuzz-'));
  const hangMs = (opts.hangSeconds ?? 20) * 1000;
  const started = Date.now();
  try {
    const input: WorkerInput = { seed: opts.seed, seconds: opts.seconds, bases, valid, dir, root: repoRoot };
    const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: input });
    const outcome = await new Promise<{ cases: number; codes: Record<string, number>; failure?: string }>((resolve) => {
      let last: { n: number; text: string } = { n: 0, text: '' };
      let watchdog: NodeJS.Timeout;
      const arm = () => {
        clearTimeout(watchdog);
        watchdog = setTimeout(() => {
          void worker.terminate();
          resolve({ cases: last.n, codes: {}, failure: `case ${last.n} did not return within ${hangMs / 1000} s (a hang)\n--- blueprint ---\n${last.text}` });
        }, hangMs);
      };
      arm();
      worker.on('message', (m: WorkerMessage) => {
        if (m.type === 'case') {
          last = m;
          arm();
          return;
        }
        clearTimeout(watchdog);
        resolve(m.type === 'done' ? { cases: m.cases, codes: m.codes } : { cases: m.cases, codes: m.codes, failure: m.message });
      });
      worker.on('error', (e) => {
        clearTimeout(watchdog);
        resolve({ cases: last.n, codes: {}, failure: `the worker died: ${e.stack ?? String(e)}\n--- last blueprint ---\n${last.text}` });
      });
    });
    const report: FuzzReport = {
      seed: opts.seed,
      cases: outcome.cases,
      seconds: 0,
      codes: outcome.codes,
      spawned: 0,
      spawnCodes: {},
      ...(outcome.failure ? { failure: outcome.failure } : {}),
    };
    if (!report.failure) {
      // The same generator, a few cases through the binary: argument parsing, stdout and exit code as a shell sees them.
      const file = join(dir, 'spawned.yaml');
      for (const c of fc.sample(caseArb(bases.length, valid), { seed: opts.seed, numRuns: opts.spawns })) {
        const text = render(bases, c);
        writeFileSync(file, text);
        const r = spawnSync(process.execPath, [cliPath, 'validate', '--site', file], {
          cwd: dir,
          encoding: 'utf8',
          timeout: hangMs,
          env: { ...process.env, NO_COLOR: '1' },
        });
        report.spawned++;
        report.spawnCodes[String(r.status)] = (report.spawnCodes[String(r.status)] ?? 0) + 1;
        const problem = outcomeProblem(r.status, `${r.stdout}\n${r.stderr}`);
        if (problem) {
          report.failure = `gen validate (spawned): ${problem}\n--- blueprint ---\n${text}\n--- output ---\n${`${r.stdout}\n${r.stderr}`.slice(0, 4000)}`;
          break;
        }
      }
    }
    report.seconds = Math.round((Date.now() - started) / 100) / 10;
    return report;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A seed from the environment (to replay a run) or a fresh one. */
export function seedFrom(env: NodeJS.ProcessEnv): number {
  const given = env.KUBESEED_FUZZ_SEED;
  return given !== undefined && /^-?\d+$/.test(given) ? Number(given) : (Date.now() ^ (process.pid << 8)) | 0;
}
