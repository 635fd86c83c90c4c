import fc from 'fast-check';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { run } from '../../generator/cli/run.js';
import { caseArb, render } from './mutations.js';
import { outcomeProblem, type WorkerInput, type WorkerMessage } from './protocol.js';

/**
 * One fuzz run inside a worker thread, so that the parent can end it if a case never returns
 * (an endless loop or a regular expression that backtracks forever would block an async timeout).
 * Each case goes through `run`, the function the `gen` binary calls, exactly as a command line would.
 */
const input = workerData as WorkerInput;
const post = (m: WorkerMessage) => parentPort!.postMessage(m);
const file = join(input.dir, 'site.yaml');
const codes: Record<string, number> = {};
let cases = 0;

async function gen(args: string[]): Promise<{ code: number; output: string }> {
  const lines: string[] = [];
  const streams = { out: (t: string) => void lines.push(t), err: (t: string) => void lines.push(t), color: false, cwd: input.dir };
  const code = await run(args, { streams, env: {}, root: input.root });
  return { code, output: lines.join('\n') };
}

const property = fc.asyncProperty(caseArb(input.bases.length, input.valid), async (c) => {
  const text = render(input.bases, c);
  cases++;
  post({ type: 'case', n: cases, text });
  writeFileSync(file, text);
  const v = await gen(['validate', '--site', file]);
  codes[v.code] = (codes[v.code] ?? 0) + 1;
  const problem = outcomeProblem(v.code, v.output);
  if (problem) throw new Error(`gen validate: ${problem}\n--- blueprint ---\n${text}\n--- output ---\n${v.output.slice(0, 4000)}`);
  if (v.code === 0) {
    // A blueprint validate accepts must plan: plan is pure and runs on the resolved site.
    const p = await gen(['plan', '--site', file, '--json']);
    if (p.code !== 0)
      throw new Error(`gen plan exits ${p.code} on a blueprint gen validate accepted\n--- blueprint ---\n${text}\n--- output ---\n${p.output.slice(0, 4000)}`);
  }
});

try {
  await fc.assert(property, {
    includeErrorInReport: true,
    seed: input.seed,
    numRuns: Number.MAX_SAFE_INTEGER,
    interruptAfterTimeLimit: input.seconds * 1000,
    markInterruptAsFailure: false,
  });
  post({ type: 'done', cases, codes });
} catch (e) {
  post({ type: 'failed', cases, codes, message: (e as Error).message });
}
