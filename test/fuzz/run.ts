// `npm run fuzz`: the long fuzz run of gen validate. Options: --seconds N (default 600), --seed N,
// --spawns N (default 50). Exits 1 when a case fails, printing the seed that replays it.
import { parseArgs } from 'node:util';
import { fuzzValidate, seedFrom } from './validate-fuzz.js';

const { values } = parseArgs({ options: { seconds: { type: 'string' }, seed: { type: 'string' }, spawns: { type: 'string' } } });
const seed = values.seed !== undefined ? Number(values.seed) : seedFrom(process.env);
const seconds = Number(values.seconds ?? 600);
const spawns = Number(values.spawns ?? 50);
if (![seed, seconds, spawns].every(Number.isInteger) || seconds < 1 || spawns < 0) {
  console.error('usage: npm run fuzz -- [--seconds N] [--seed N] [--spawns N]');
  process.exit(2);
}
console.log(`fuzzing gen validate for ${seconds} s, seed ${seed} (replay: npm run fuzz -- --seed ${seed} --seconds ${seconds})`);
const r = await fuzzValidate({ seconds, seed, spawns });
console.log(
  `${r.cases} cases in process (exit codes ${JSON.stringify(r.codes)}), ${r.spawned} through the binary (${JSON.stringify(r.spawnCodes)}), ${r.seconds} s, seed ${r.seed}`,
);
if (r.failure) {
  console.error(`FAILED (seed ${r.seed}):\n${r.failure}`);
  process.exit(1);
}
