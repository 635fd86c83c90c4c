import { resolve } from 'node:path';
import { realClock } from '../io/clock.js';
import { InputError } from '../model/index.js';
import { verifyBundle } from '../pipeline/verify.js';
import { EXIT, type Command } from './commands.js';
import { paint } from './output.js';

export const verifyCommand: Command = {
  name: 'verify',
  usage: 'gen verify DIST [--json]',
  help: [
    'DIST                  a bundle directory, e.g. output/lab1/dist',
    '--json                print the report as JSON',
    'Checks manifest.json against SHA256SUMS, every file against the manifest (size, mode, sha256), secrets 0600 in 0700',
    'directories, no extra, empty, symlinked or special entries (never opened), and the admin credential against the CA.',
    'Exit 0 ok, 1 problems found, 2 no readable manifest to verify by.',
  ],
  options: { json: { type: 'boolean' } },
  allowPositionals: true,
  async run(values, positionals, ctx) {
    const s = ctx.streams;
    if (positionals.length !== 1) throw new InputError('give one bundle directory', [], `usage: ${this.usage}`);
    const r = await verifyBundle(resolve(s.cwd, positionals[0]!), realClock);
    if (values.json) s.out(JSON.stringify(r, null, 2));
    else {
      for (const p of r.problems) s.err(`${paint(s, 'red', 'problem')}  ${p}`);
      for (const n of r.notes) s.out(n);
      s.out(r.ok ? `${paint(s, 'green', 'ok')}: ${r.checked} files match the manifest` : `${r.problems.length} problem(s) in ${r.checked} files`);
    }
    return r.ok ? EXIT.ok : EXIT.failure;
  },
};
