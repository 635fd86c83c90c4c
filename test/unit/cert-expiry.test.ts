import test from 'ava';
import { X509Certificate } from 'node:crypto';
import type { Catalog, ResolvedSite } from '../../generator/model/index.js';
import { realCrypto } from '../../generator/io/crypto.js';
import { assessExpiry, DAY_MS, expiryWarning, needingAction, parseWithin } from '../../generator/pki/expiry.js';
import { ensurePki, expiryOf, type StateFiles } from '../../generator/pki/issue.js';
import { certInstances } from '../../generator/pki/table.js';
import { loadDefaultCatalog } from '../helpers.js';
import { ecdsa, siteFromLab1 } from '../sites.js';

/** Certificates and CAs over time, with the clock injected: the state is made once at T0 and read at later instants. */

const T0 = new Date('2026-01-01T00:00:00Z');
const at = (days: number) => new Date(T0.getTime() + days * DAY_MS);
const clock = (d: Date) => ({ now: () => d });

let catalog: Catalog;
let site: ResolvedSite;
let files: StateFiles;
test.before(async () => {
  catalog = await loadDefaultCatalog();
  site = siteFromLab1(catalog, ecdsa);
  files = (await ensurePki(site, null, { crypto: realCrypto, clock: clock(T0) })).files;
});

test('every certificate and CA of the site has a fact; key pairs have none', (t) => {
  const facts = expiryOf(site, files, T0);
  const want = certInstances(site)
    .filter((i) => i.spec.kind !== 'keypair')
    .map((i) => i.id);
  t.deepEqual(
    facts.map((f) => f.id),
    want,
  );
  t.true(facts.every((f) => f.state === 'ok'));
  t.is(facts.find((f) => f.id === 'ca')!.kind, 'ca');
  // Leaves last certValidity (8760h = 365 days) from T0.
  t.is(facts.find((f) => f.id === 'kube-proxy')!.notAfter, at(365).toISOString());
  t.is(facts.find((f) => f.id === 'kube-proxy')!.daysLeft, 365);
});

test('leaves within 30 days are expiring, then expired; CAs stay ok', (t) => {
  const early = expiryOf(site, files, at(334));
  t.true(
    early.every((f) => f.state === 'ok'),
    'exactly 31 days left is outside the window',
  );
  const close = expiryOf(site, files, at(340));
  const leaves = close.filter((f) => f.kind === 'leaf');
  t.true(leaves.every((f) => f.state === 'expiring' && f.daysLeft === 25));
  t.true(close.filter((f) => f.kind === 'ca').every((f) => f.state === 'ok'));
  const late = expiryOf(site, files, at(366));
  t.true(late.filter((f) => f.kind === 'leaf').every((f) => f.state === 'expired' && f.daysLeft === -1));
});

test('a CA near its end is reported like a leaf, with its own advice', (t) => {
  // caValidity 87600h = 3650 days.
  const facts = expiryOf(site, files, at(3640));
  const ca = facts.find((f) => f.id === 'etcd-ca')!;
  t.is(ca.state, 'expiring');
  t.is(ca.daysLeft, 10);
  t.regex(expiryWarning(ca), /^the etcd-ca CA expires in 10 days, on 2035-12-30T00:00:00\.000Z: nothing it signed is trusted after that/);
});

test('--within moves the window', (t) => {
  const wide = expiryOf(site, files, at(300), parseWithin('70d')!);
  t.true(wide.filter((f) => f.kind === 'leaf').every((f) => f.state === 'expiring'));
  const narrow = expiryOf(site, files, at(340), parseWithin('24h')!);
  t.true(narrow.every((f) => f.state === 'ok'));
});

test('the facts that need action come soonest first, each with a line that says what to do', (t) => {
  const facts = assessExpiry(
    [
      { id: 'later', kind: 'leaf', cn: 'x', certPem: files.get('pki/kube-proxy.crt')! },
      { id: 'ca', kind: 'ca', cn: 'kubernetes', certPem: files.get('pki/ca.crt')! },
    ],
    at(350),
  );
  t.deepEqual(
    needingAction(facts).map((f) => f.id),
    ['later'],
  );
  t.is(
    expiryWarning(facts[0]!),
    'later expires in 15 days, on 2027-01-01T00:00:00.000Z: run gen certs --renew, then gen bundle and deliver the update to the nodes',
  );
  const expired = assessExpiry([{ id: 'gone', kind: 'leaf', cn: 'x', certPem: files.get('pki/kube-proxy.crt')! }], at(400));
  t.regex(expiryWarning(expired[0]!), /^gone expired on 2027-01-01T00:00:00\.000Z: run gen certs --renew/);
});

test('ensurePki warns about what expires soon, and --renew ends the warnings', async (t) => {
  const later = await ensurePki(site, files, { crypto: realCrypto, clock: clock(at(350)) });
  const leafCount = later.expiry.filter((f) => f.kind === 'leaf').length;
  t.is(later.warnings.filter((w) => / expires in 15 days, on /.test(w)).length, leafCount, later.warnings.join('\n'));
  t.deepEqual(later.changed, []);
  const renewed = await ensurePki(site, files, { crypto: realCrypto, clock: clock(at(350)) }, { renew: true });
  t.deepEqual(renewed.warnings, []);
  t.true(renewed.expiry.every((f) => f.state === 'ok'));
  // Renewed leaves start with their CA (a node whose clock lags takes them at once), and end certValidity after now.
  const start = (p: string) => new X509Certificate(renewed.files.get(p)!).validFrom;
  t.is(start('pki/apiserver/k8s-01.crt'), start('pki/ca.crt'));
  t.is(start('pki/etcd-server/k8s-01.crt'), start('pki/etcd-ca.crt'));
  const end = (f: StateFiles) => new Date(new X509Certificate(f.get('pki/apiserver/k8s-01.crt')!).validTo).getTime();
  t.true(end(renewed.files) > end(files));
});

test('--within takes Go durations and days, nothing else', (t) => {
  t.is(parseWithin('720h'), 720);
  t.is(parseWithin('45d'), 45 * 24);
  t.is(parseWithin('1h30m'), 1.5);
  t.is(parseWithin('90m'), 1.5);
  for (const bad of ['', '0d', '0h', '30', '-1d', '1w', '1.5d', 'd', '99999999d']) t.is(parseWithin(bad), null, bad);
});
