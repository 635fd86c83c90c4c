import test from 'ava';
import fc from 'fast-check';
import { parse } from 'yaml';
import { caseArb, render } from '../fuzz/mutations.js';
import { outcomeProblem } from '../fuzz/protocol.js';
import { readRepo } from '../helpers.js';

// The fuzz harness's own parts: a harness that cannot see a failure would pass forever.

test('the outcome check flags exit 1, a stack trace, the catch-all, a process warning and a kill', (t) => {
  t.is(outcomeProblem(0, 'valid: lab1'), undefined);
  t.is(outcomeProblem(2, 'x.yaml:1:1  error  the document must be a YAML mapping  [schema]'), undefined);
  t.regex(outcomeProblem(1, 'gen validate: something')!, /exit code 1/);
  // What a billion-laughs blueprint printed before the alias limit became an issue.
  const old =
    'gen validate: failed: ReferenceError: Excessive alias count indicates a resource exhaustion attack\n    at Alias.resolve (/work/node_modules/yaml/dist/nodes/Alias.js:67:27)\n    at Alias.toJSON (/work/node_modules/yaml/dist/nodes/Alias.js:76:29)';
  t.regex(outcomeProblem(2, old)!, /stack trace/);
  t.regex(outcomeProblem(2, 'gen validate: failed: TypeError: x is not a function')!, /catch-all/);
  t.regex(outcomeProblem(2, '(node:123) Warning: Keys with collection values will be stringified')!, /process warning/);
  t.regex(outcomeProblem(null, '')!, /did not finish/);
});

test('mutations change the blueprint, and every kind of mutation is drawn', (t) => {
  const lab1 = readRepo('blueprints/sites/lab1.yaml');
  const kinds = new Set<string>();
  let changed = 0;
  for (const c of fc.sample(caseArb(1, 1), { seed: 42, numRuns: 300 })) {
    const text = render([lab1], c);
    if (text !== lab1) changed++;
    for (const m of c.mutations) kinds.add(m.kind);
  }
  t.true(changed > 250, `${changed} of 300 cases differ from lab1`);
  t.true(kinds.size >= 10, [...kinds].join(', '));
});

test('the laughs mutation builds an alias tower the parser sees as such', (t) => {
  const text = render([readRepo('blueprints/sites/lab1.yaml')], { base: 0, mutations: [{ kind: 'laughs', at: 5, width: 9, depth: 9 }] });
  t.regex(text, /&l9/);
  t.throws(() => parse(text, { maxAliasCount: 100 }), { instanceOf: ReferenceError });
});
