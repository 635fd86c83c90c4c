#!/usr/bin/env node
import { packageRoot } from '../io/fs.js';
import { run } from './run.js';

const color = Boolean(process.stdout.isTTY) && !process.env.NO_COLOR;
process.exitCode = await run(process.argv.slice(2), {
  streams: {
    out: (t) => process.stdout.write(`${t}\n`),
    err: (t) => process.stderr.write(`${t}\n`),
    color,
    cwd: process.cwd(),
    errTty: Boolean(process.stderr.isTTY) && process.env.TERM !== 'dumb',
    errRaw: (t) => process.stderr.write(t),
  },
  env: process.env,
  root: packageRoot(),
});
