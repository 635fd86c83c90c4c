// Rewrites the golden files under test/golden; review the result with `git diff test/golden`.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { goldenDir, renderGoldens } from '../dist/test/goldens.js';

const goldens = await renderGoldens();
for (const [rel, text] of Object.entries(goldens)) {
  const file = join(goldenDir, rel);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
  console.log(`wrote test/golden/${rel}`);
}
