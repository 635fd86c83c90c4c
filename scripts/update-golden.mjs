// Rewrites the golden files under test/golden; review the result with `git diff test/golden`.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { goldenDir, renderGoldens } from '../dist/test/goldens.js';

const goldens = await renderGoldens();
// Start from nothing, so a file the generator no longer writes leaves the golden set too.
rmSync(goldenDir, { recursive: true, force: true });
for (const [rel, text] of Object.entries(goldens)) {
  const file = join(goldenDir, rel);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
  console.log(`wrote test/golden/${rel}`);
}
