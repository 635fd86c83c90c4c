import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { InputError, type ClockPort, type CryptoPort, type KeyAlgorithmName, type ResolvedSite } from '../model/index.js';
import { certInstances, type CertInstance } from './table.js';

/** The site state as files: relative path → content. */
export type StateFiles = Map<string, string>;

export const STATE_META = 'state.json';
const BACKDATE_MS = 5 * 60 * 1000;
const HOUR_MS = 3600 * 1000;
/** Leaves this close to expiry are reported; `--renew` reissues them. */
export const EXPIRY_WARNING_DAYS = 30;

export interface StateMeta {
  apiVersion: 'kubeseed/v1alpha1';
  kind: 'SiteState';
  site: string;
  keyAlgorithm: KeyAlgorithmName;
  /** When the state was created, in seconds since the epoch; also the bundle's fixed mtime. */
  created: number;
}

export type CertStatus = 'created' | 'kept' | 'reissued';

export interface CertReport {
  id: string;
  kind: 'ca' | 'leaf' | 'keypair';
  cn: string;
  notAfter?: string;
  status: CertStatus;
  reason?: string;
}

export interface PkiResult {
  files: StateFiles;
  /** Paths whose content is new or changed (to write). */
  changed: string[];
  report: CertReport[];
  warnings: string[];
  meta: StateMeta;
}

export interface PkiOptions {
  renew?: boolean;
  rotateCa?: boolean;
}

export function certPaths(inst: CertInstance): { crt: string; key: string } {
  const base = inst.node ? `pki/${inst.spec.name}/${inst.node.name}` : `pki/${inst.spec.name}`;
  return inst.spec.kind === 'keypair' ? { crt: `${base}.pub`, key: `${base}.key` } : { crt: `${base}.crt`, key: `${base}.key` };
}

export const TOKEN_PATH = 'secrets/bootstrap-token';
export const ENCRYPTION_KEY_PATH = 'secrets/encryption-key';

/**
 * Load-or-create the site's PKI. Existing, valid material is kept byte for byte; CAs are only
 * replaced with `rotateCa`; leaves are reissued with `renew`, or when the site changed what they
 * must say (names, addresses). A state that is damaged or belongs to another site is an error.
 */
export async function ensurePki(site: ResolvedSite, existing: StateFiles | null, ports: { crypto: CryptoPort; clock: ClockPort }, opts: PkiOptions = {}): Promise<PkiResult> {
  const now = ports.clock.now();
  const fresh = !existing || existing.size === 0 || opts.rotateCa;
  const files: StateFiles = new Map(fresh ? [] : existing);
  const changed = new Set<string>();
  const report: CertReport[] = [];
  const warnings: string[] = [];
  const put = (path: string, content: string) => {
    if (files.get(path) !== content) changed.add(path);
    files.set(path, content);
  };

  let meta: StateMeta;
  if (fresh) {
    meta = { apiVersion: 'kubeseed/v1alpha1', kind: 'SiteState', site: site.name, keyAlgorithm: site.pki.keyAlgorithm, created: Math.floor(now.getTime() / 1000) };
    put(STATE_META, `${JSON.stringify(meta, null, 2)}\n`);
  } else {
    meta = readMeta(files, site);
  }

  const insts = certInstances(site);
  // Keys are generated together so that the thread pool works on them in parallel.
  const plans = insts.map((inst) => ({ inst, paths: certPaths(inst), decision: decide(inst, files, opts, now) }));
  for (const p of plans) if (p.decision.warning) warnings.push(p.decision.warning);
  const needKeys = plans.filter((p) => p.decision.issue);
  const keys = await Promise.all(needKeys.map(() => ports.crypto.generateKeyPair(meta.keyAlgorithm)));
  const newKey = new Map(needKeys.map((p, i) => [p.inst.id, keys[i]!]));

  const caMaterial = new Map<string, { certPem: string; privateKeyPem: string; notAfter: Date }>();
  const reports = new Map<string, CertReport>();
  const issueOne = async ({ inst, paths, decision }: (typeof plans)[number]) => {
    if (!decision.issue) {
      reports.set(inst.id, { id: inst.id, kind: inst.spec.kind, cn: inst.cn, status: 'kept', ...notAfterOf(files.get(paths.crt)!, inst) });
      if (inst.spec.kind === 'ca') caMaterial.set(inst.spec.name, { certPem: files.get(paths.crt)!, privateKeyPem: files.get(paths.key)!, notAfter: new Date(new X509Certificate(files.get(paths.crt)!).validTo) });
      return;
    }
    const key = newKey.get(inst.id)!;
    const status: CertStatus = files.has(paths.crt) ? 'reissued' : 'created';
    const why = decision.reason ? { reason: decision.reason } : {};
    if (inst.spec.kind === 'keypair') {
      put(paths.key, key.privateKeyPem);
      put(paths.crt, key.publicKeyPem);
      reports.set(inst.id, { id: inst.id, kind: 'keypair', cn: '', status, ...why });
      return;
    }
    const isCA = inst.spec.kind === 'ca';
    const issuer = isCA ? undefined : caMaterial.get(inst.spec.ca!);
    if (!isCA && !issuer) throw new Error(`internal: CA ${inst.spec.ca} not ready before ${inst.id}`);
    const validityHours = isCA ? site.pki.caValidityHours : site.pki.certValidityHours;
    let notAfter = new Date(now.getTime() + validityHours * HOUR_MS);
    if (issuer && notAfter > issuer.notAfter) notAfter = issuer.notAfter;
    const certPem = await ports.crypto.issueCertificate({
      cn: inst.cn,
      o: inst.o,
      sans: isCA ? { dns: [inst.cn], ips: [] } : inst.sans,
      usages: inst.spec.usages,
      serialHex: serial(ports.crypto),
      notBefore: new Date(now.getTime() - BACKDATE_MS),
      notAfter,
      subjectPublicKeyPem: key.publicKeyPem,
      ...(issuer ? { issuer } : { selfPrivateKeyPem: key.privateKeyPem }),
    });
    put(paths.key, key.privateKeyPem);
    put(paths.crt, certPem);
    if (isCA) caMaterial.set(inst.spec.name, { certPem, privateKeyPem: key.privateKeyPem, notAfter });
    reports.set(inst.id, { id: inst.id, kind: inst.spec.kind, cn: inst.cn, status, notAfter: notAfter.toISOString(), ...why });
  };
  // CAs first (leaves need them), then every leaf at once: signing runs on the thread pool too.
  for (const p of plans.filter((x) => x.inst.spec.kind === 'ca')) await issueOne(p);
  await Promise.all(plans.filter((x) => x.inst.spec.kind !== 'ca').map(issueOne));
  for (const { inst } of plans) report.push(reports.get(inst.id)!);

  // Leaves must chain to the CA in the state: a CA replaced by hand would leave them orphaned.
  for (const { inst, paths } of plans) {
    if (inst.spec.kind !== 'leaf') continue;
    const ca = caMaterial.get(inst.spec.ca!)!;
    const cert = new X509Certificate(files.get(paths.crt)!);
    if (!cert.verify(new X509Certificate(ca.certPem).publicKey)) {
      throw corrupt(paths.crt, `is not signed by the ${inst.spec.ca} in this state`);
    }
  }

  if (!files.has(TOKEN_PATH)) put(TOKEN_PATH, `${bootstrapToken(ports.crypto)}\n`);
  if (!files.has(ENCRYPTION_KEY_PATH)) put(ENCRYPTION_KEY_PATH, `${Buffer.from(ports.crypto.randomBytes(32)).toString('base64')}\n`);
  if (!/^[a-z0-9]{6}\.[a-z0-9]{16}$/.test(files.get(TOKEN_PATH)!.trim())) throw corrupt(TOKEN_PATH, 'is not a bootstrap token');
  if (Buffer.from(files.get(ENCRYPTION_KEY_PATH)!.trim(), 'base64').length !== 32) throw corrupt(ENCRYPTION_KEY_PATH, 'is not a base64 32-byte key');

  return { files, changed: [...changed].sort(), report, warnings, meta };
}

interface Decision {
  issue: boolean;
  reason?: string;
  warning?: string;
}

function decide(inst: CertInstance, files: StateFiles, opts: PkiOptions, now: Date): Decision {
  const { crt, key } = certPaths(inst);
  const hasCrt = files.has(crt);
  const hasKey = files.has(key);
  if (!hasCrt && !hasKey) return { issue: true };
  if (hasCrt !== hasKey) throw corrupt(hasCrt ? key : crt, 'is missing while its pair is present');
  const crtPem = files.get(crt)!;
  const keyPem = files.get(key)!;
  let privateKey;
  try {
    privateKey = createPrivateKey(keyPem);
  } catch {
    throw corrupt(key, 'is not a private key');
  }
  if (inst.spec.kind === 'keypair') {
    let pub;
    try {
      pub = createPublicKey(crtPem);
    } catch {
      throw corrupt(crt, 'is not a public key');
    }
    const derived = createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
    if (!derived.equals(pub.export({ type: 'spki', format: 'der' }))) throw corrupt(crt, 'does not belong to its private key');
    return { issue: false };
  }
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(crtPem);
  } catch {
    throw corrupt(crt, 'is not a certificate');
  }
  if (!cert.checkPrivateKey(privateKey)) throw corrupt(crt, 'does not match its private key');
  if (inst.spec.kind === 'ca') {
    if (!cert.ca) throw corrupt(crt, 'is not a CA certificate');
    return { issue: false };
  }
  if (opts.renew) return { issue: true, reason: 'renewal requested' };
  const drift = describeDrift(cert, inst);
  if (drift) return { issue: true, reason: drift };
  const daysLeft = (new Date(cert.validTo).getTime() - now.getTime()) / (24 * HOUR_MS);
  if (daysLeft < 0) return { issue: false, warning: `${inst.id} expired on ${new Date(cert.validTo).toISOString()}: run with --renew` };
  if (daysLeft < EXPIRY_WARNING_DAYS) return { issue: false, warning: `${inst.id} expires in ${Math.floor(daysLeft)} days: run with --renew` };
  return { issue: false };
}

/** What the certificate says differently from what the site now needs, if anything. */
function describeDrift(cert: X509Certificate, inst: CertInstance): string | undefined {
  const subject = parseSubject(cert.subject);
  if (subject.cn !== inst.cn) return `CN changed (${subject.cn} → ${inst.cn})`;
  if ([...subject.o].sort().join(',') !== [...inst.o].sort().join(',')) return `O changed (${subject.o.join(',')} → ${inst.o.join(',')})`;
  const have = parseSans(cert.subjectAltName);
  const want = { dns: [...inst.sans.dns].sort(), ips: [...inst.sans.ips].map(normalizeIp).sort() };
  if (have.dns.join(',') !== want.dns.join(',') || have.ips.join(',') !== want.ips.join(',')) return 'subject alternative names changed';
  return undefined;
}

function parseSubject(subject: string): { cn: string; o: string[] } {
  const lines = subject.split('\n');
  return { cn: lines.find((l) => l.startsWith('CN='))?.slice(3) ?? '', o: lines.filter((l) => l.startsWith('O=')).map((l) => l.slice(2)) };
}

function parseSans(san: string | undefined): { dns: string[]; ips: string[] } {
  const parts = (san ?? '').split(', ').filter(Boolean);
  return {
    dns: parts.filter((p) => p.startsWith('DNS:')).map((p) => p.slice(4)).sort(),
    ips: parts.filter((p) => p.startsWith('IP Address:')).map((p) => normalizeIp(p.slice(11))).sort(),
  };
}

/** Node prints ::1 as 0:0:0:0:0:0:0:1. */
function normalizeIp(ip: string): string {
  return ip.includes(':') ? ip.split(':').map((g) => g.replace(/^0+(?=.)/, '')).join(':').replace(/^0:0:0:0:0:0:0:1$/, '::1') : ip;
}

function notAfterOf(pem: string, inst: CertInstance): { notAfter?: string } {
  if (inst.spec.kind === 'keypair') return {};
  return { notAfter: new Date(new X509Certificate(pem).validTo).toISOString() };
}

function readMeta(files: StateFiles, site: ResolvedSite): StateMeta {
  const text = files.get(STATE_META);
  if (text === undefined) throw new InputError(`the state holds files but no ${STATE_META}`, [], 'it was not made by kubeseed, or it is damaged; point --state at the right directory');
  let meta: StateMeta;
  try {
    meta = JSON.parse(text) as StateMeta;
  } catch {
    throw corrupt(STATE_META, 'is not JSON');
  }
  if (meta.kind !== 'SiteState' || typeof meta.site !== 'string' || typeof meta.created !== 'number') throw corrupt(STATE_META, 'is not a kubeseed site state');
  if (meta.site !== site.name) throw new InputError(`the state belongs to site '${meta.site}', not '${site.name}'`, [], 'point --state at this site\'s state directory');
  if (meta.keyAlgorithm !== site.pki.keyAlgorithm) {
    throw new InputError(`the state's keys are ${meta.keyAlgorithm}, the site asks for ${site.pki.keyAlgorithm}`, [], 'change spec.pki.keyAlgorithm back, or re-key everything with --rotate-ca');
  }
  return meta;
}

function corrupt(path: string, what: string): InputError {
  return new InputError(`state file ${path} ${what}`, [], 'restore the state from a backup; kubeseed never replaces a damaged state silently (--rotate-ca starts a new PKI)');
}

/** 128 random bits, top bit cleared so the DER integer stays positive, never zero. */
function serial(crypto: CryptoPort): string {
  const b = crypto.randomBytes(16);
  b[0] = (b[0]! & 0x7f) | 0x01;
  return Buffer.from(b).toString('hex');
}

const TOKEN_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

/** `[a-z0-9]{6}.[a-z0-9]{16}` from a CSPRNG, by rejection sampling so every character is uniform. */
export function bootstrapToken(crypto: CryptoPort): string {
  const out: string[] = [];
  while (out.length < 22) {
    for (const byte of crypto.randomBytes(32)) {
      if (byte < 252 && out.length < 22) out.push(TOKEN_ALPHABET[byte % 36]!);
    }
  }
  return `${out.slice(0, 6).join('')}.${out.slice(6).join('')}`;
}
