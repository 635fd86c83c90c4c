import test from 'ava';
import { fuzzValidate, seedFrom } from '../fuzz/validate-fuzz.js';

// A short run on every test run, with a fresh seed each time (printed, and replayable with
// KUBESEED_FUZZ_SEED); `npm run fuzz` is the long one.
const seconds = Number(process.env.KUBESEED_FUZZ_SECONDS ?? 30);

test(`fuzz: gen validate over mutated blueprints for ${seconds} s ends with 0 or 2, no stack trace, no hang`, async (t) => {
  t.timeout((seconds + 90) * 1000);
  const seed = seedFrom(process.env);
  const r = await fuzzValidate({ seconds, seed, spawns: 5 });
  t.log(`seed ${r.seed}: ${r.cases} cases in process ${JSON.stringify(r.codes)}, ${r.spawned} spawned ${JSON.stringify(r.spawnCodes)}, ${r.seconds} s`);
  t.is(r.failure, undefined, `seed ${r.seed} (replay: KUBESEED_FUZZ_SEED=${r.seed}): ${r.failure}`);
  t.true(r.cases > 0, 'cases ran');
  t.true((r.codes['0'] ?? 0) > 0 && (r.codes['2'] ?? 0) > 0, 'the mutations reach both valid and invalid blueprints');
  t.is(r.spawned, 5);
});
