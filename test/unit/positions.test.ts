import test from 'ava';
import { parseSite } from '../../generator/site/index.js';
import { readRepo } from '../helpers.js';

const lab1 = readRepo('blueprints/sites/lab1.yaml');
/** lab1 leaves kube-proxy's mode to the release's default; these tests need a value to break. */
const withMode = lab1.replace('    nodePortRange: 30000-32767\n', '    nodePortRange: 30000-32767\n    proxyMode: ipvs\n');

/** The 1-based line and column of the n-th occurrence of `needle` in `text`. */
function lineColOf(text: string, needle: string, nth = 0): { line: number; col: number } {
  let at = -1;
  for (let i = 0; i <= nth; i++) at = text.indexOf(needle, at + 1);
  const before = text.slice(0, at);
  const line = before.split('\n').length;
  return { line, col: at - before.lastIndexOf('\n') };
}

test('an unknown key is reported at the key, with a did-you-mean hint', (t) => {
  const text = lab1.replace('      gateway: 192.168.93.1\n', '      gatway: 192.168.93.1\n');
  const r = parseSite(text, 'x.yaml');
  const i = r.issues.find((x) => x.rule === 'unknown-field')!;
  t.is(i.path, 'spec.nodes[0].gatway');
  t.is(i.hint, "did you mean 'gateway'?");
  t.deepEqual({ line: i.line, col: i.col }, lineColOf(text, 'gatway'));
  t.truthy(r.issues.find((x) => x.rule === 'required-field' && x.path === 'spec.nodes[0].gateway'));
});

test('a wrong value is reported where the value stands', (t) => {
  const text = withMode.replace('proxyMode: ipvs', 'proxyMode: ipvss');
  const i = parseSite(text, 'x.yaml').issues[0]!;
  t.is(i.path, 'spec.kubernetes.proxyMode');
  t.deepEqual({ line: i.line, col: i.col }, lineColOf(text, 'ipvss'));
  t.regex(i.hint!, /did you mean 'ipvs'\?/);
});

test('all structural problems are reported in one pass', (t) => {
  const text = withMode
    .replace('proxyMode: ipvs', 'proxyMode: nft')
    .replace('keyAlgorithm: rsa-2048', 'keyAlgorithm: dsa')
    .replace('embedPayload: false', 'embedPayload: 3');
  const paths = parseSite(text, 'x.yaml')
    .issues.map((i) => i.path)
    .sort();
  t.deepEqual(paths, ['spec.kubernetes.proxyMode', 'spec.output.embedPayload', 'spec.pki.keyAlgorithm']);
});

test('YAML syntax errors carry line and column', (t) => {
  const text = lab1.replace('  addons: [coredns, metrics-server]', '  addons: [coredns, metrics-server');
  const i = parseSite(text, 'x.yaml').issues[0]!;
  t.is(i.rule, 'yaml-syntax');
  t.true(typeof i.line === 'number' && i.line > 1);
});

test('defaults are filled for fields the blueprint leaves out', (t) => {
  const minimal =
    'apiVersion: kubeseed/v1alpha1\nkind: Site\nmetadata: {name: tiny}\nspec:\n  kubernetes: {version: v1.34.2}\n  nodes:\n    - {name: n1, address: 10.0.0.5/24, gateway: 10.0.0.1, roles: [control-plane, etcd, worker]}\n';
  const s = parseSite(minimal, 'x.yaml').site!;
  t.is(s.spec.kubernetes.serviceCIDR, '10.254.0.0/16');
  t.is(s.spec.controlPlane.loadBalancer, 'local');
  t.is(s.spec.pki.keyAlgorithm, 'rsa-2048');
  t.deepEqual(s.spec.artifacts.arch, ['amd64']);
  t.deepEqual(s.spec.addons, ['coredns', 'metrics-server']);
});
