import test from 'ava';
import { siteJsonSchema } from '../../generator/site/index.js';
import { readRepo } from '../helpers.js';

test('blueprints/schema/site.schema.json is generated from the current schema (npm run schema)', (t) => {
  const current = `${JSON.stringify(siteJsonSchema(), null, 2)}\n`;
  t.is(readRepo('blueprints/schema/site.schema.json'), current);
});

test('the JSON Schema names every spec section and forbids unknown fields', (t) => {
  const s = siteJsonSchema() as { properties: { spec: { properties: Record<string, unknown>; additionalProperties: boolean } } };
  t.deepEqual(
    Object.keys(s.properties.spec.properties).sort(),
    ['addons', 'artifacts', 'containerRuntime', 'controlPlane', 'kubernetes', 'network', 'nodes', 'os', 'output', 'pki'].sort(),
  );
  t.is(s.properties.spec.additionalProperties, false);
});
