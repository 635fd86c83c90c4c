import test from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { goldenDir, renderGoldens } from '../goldens.js';

test('resolved lab1 and its plan match the golden files (regenerate with `npm run golden`, review the diff)', async (t) => {
  const goldens = await renderGoldens();
  for (const [rel, text] of Object.entries(goldens)) {
    let expected: string;
    try {
      expected = readFileSync(join(goldenDir, rel), 'utf8');
    } catch {
      t.fail(`missing golden file test/golden/${rel}: run npm run golden`);
      continue;
    }
    t.is(text, expected, `test/golden/${rel} is out of date`);
  }
  const stale = readdirSync(goldenDir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => `${e.parentPath}/${e.name}`.slice(goldenDir.length + 1))
    .filter((rel) => !(rel in goldens));
  t.deepEqual(stale, [], 'golden files that nothing renders any more: run npm run golden');
});
