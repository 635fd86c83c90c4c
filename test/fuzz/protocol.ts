/** What the fuzz worker is given and what it says back. */
export interface WorkerInput {
  seed: number;
  seconds: number;
  bases: string[];
  /** How many of the bases, from the first, are valid blueprints. */
  valid: number;
  dir: string;
  root: string;
}

export type WorkerMessage =
  | { type: 'case'; n: number; text: string }
  | { type: 'done'; cases: number; codes: Record<string, number> }
  | { type: 'failed'; cases: number; codes: Record<string, number>; message: string };

/** A stack frame as Node prints it: the mark of an error nobody turned into a message. */
const STACK_FRAME = /^\s+at .+(:\d+:\d+\)?|\(native\)|\(<anonymous>\))$/m;

/** What is wrong with a `gen validate` outcome, if anything: only 0 and 2, no stack trace, no "failed:" catch-all. */
export function outcomeProblem(code: number | null, output: string): string | undefined {
  if (code === null) return 'did not finish (killed by the time limit)';
  if (code !== 0 && code !== 2) return `exit code ${code}`;
  if (STACK_FRAME.test(output)) return 'printed a stack trace';
  if (/^gen \w+: failed: /m.test(output)) return "ended in the CLI's catch-all for unexpected errors";
  if (/^\(node:\d+\) \w*Warning: /m.test(output)) return 'printed a Node.js process warning';
  return undefined;
}
