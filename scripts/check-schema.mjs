// Fails when blueprints/schema/site.schema.json differs from what the schema source generates.
import { readFileSync } from 'node:fs';
import { siteJsonSchema } from '../dist/generator/site/schema.js';

const target = new URL('../blueprints/schema/site.schema.json', import.meta.url);
const want = `${JSON.stringify(siteJsonSchema(), null, 2)}\n`;
let have = '';
try {
  have = readFileSync(target, 'utf8');
} catch {
  // No file yet: the comparison below reports it as out of date.
}
if (have !== want) {
  console.error('blueprints/schema/site.schema.json is out of date: run `npm run schema` and commit it');
  process.exit(1);
}
console.log('site.schema.json is current');
