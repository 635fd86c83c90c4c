// Writes blueprints/schema/site.schema.json from the schema in generator/site/schema.ts.
import { writeFileSync } from 'node:fs';
import { siteJsonSchema } from '../dist/generator/site/schema.js';

const target = new URL('../blueprints/schema/site.schema.json', import.meta.url);
writeFileSync(target, `${JSON.stringify(siteJsonSchema(), null, 2)}\n`);
console.log(`wrote ${target.pathname}`);
