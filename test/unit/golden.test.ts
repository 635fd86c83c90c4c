import test from 'ava';
import { readFileSync } from 'node:fs';
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
});
