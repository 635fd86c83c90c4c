import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { InputError, type ClockPort, type CryptoPort, type ResolvedSite } from '../model/index.js';
import { describeDrift, notAfterOf } from './compare.js';
import { assessExpiry, expiryWarning, needingAction, type ExpiryFact } from './expiry.js';
import { bootstrapToken, serial } from './secrets.js';
import { corrupt, missingCore, readMeta, STATE_META, type StateFiles, type StateMeta } from './state-meta.js';
import { certInstances, type CertInstance } from './table.js';

export { bootstrapToken } from './secrets.js';
export { STATE_META, type StateFiles, type StateMeta } from './state-meta.js';

const BACKDATE_MS = 5 * 60 * 1000;
const HOUR_MS = 3600 * 1000;
/** The last instant an X.509 GeneralizedTime can hold. */
export const LAST_TIME = new Date('9999-12-31T23:59:59Z');

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
  /** How long every certificate and CA of the state has left after this run. */
  expiry: ExpiryFact[];
  warnings: string[];
  meta: StateMeta;
}

export interface PkiOptions {
  renew?: boolean;
  rotateCa?: boolean;
  /** Leaf members found damaged that `--renew` replaces (paths of certificates or keys). */
  damaged?: ReadonlySet<string>;
  /** Record in state.json that a bundle is made from this state (gen bundle; see rotation.ts). */
  markBundled?: boolean;
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
export async function ensurePki(
  site: ResolvedSite,
  existing: StateFiles | null,
  ports: { crypto: CryptoPort; clock: ClockPort },
  opts: PkiOptions = {},
): Promise<PkiResult> {
  const now = ports.clock.now();
  const fresh = !existing || existing.size === 0 || Boolean(opts.rotateCa);
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
    meta = {
      apiVersion: 'kubeseed/v1alpha1',
      kind: 'SiteState',
      site: site.name,
      keyAlgorithm: site.pki.keyAlgorithm,
      created: Math.floor(now.getTime() / 1000),
    };
    put(STATE_META, `${JSON.stringify(meta, null, 2)}\n`);
  } else {
    meta = readMeta(files, site);
  }
  if (opts.markBundled && !meta.bundled) put(STATE_META, `${JSON.stringify((meta = { ...meta, bundled: true }), null, 2)}\n`);

  const insts = certInstances(site);
  // Keys are generated together so that the thread pool works on them in parallel.
  const plans = insts.map((inst) => ({ inst, paths: certPaths(inst), decision: decide(inst, files, opts, now, fresh) }));
  for (const p of plans) if (p.decision.warning) warnings.push(p.decision.warning);
  const needKeys = plans.filter((p) => p.decision.issue);
  const keys = await Promise.all(needKeys.map(() => ports.crypto.generateKeyPair(meta.keyAlgorithm)));
  const newKey = new Map(needKeys.map((p, i) => [p.inst.id, keys[i]!]));

  const caMaterial = new Map<string, { certPem: string; privateKeyPem: string; notBefore: Date; notAfter: Date }>();
  const reports = new Map<string, CertReport>();
  const issueOne = async ({ inst, paths, decision }: (typeof plans)[number]) => {
    if (!decision.issue) {
      reports.set(inst.id, { id: inst.id, kind: inst.spec.kind, cn: inst.cn, status: 'kept', ...notAfterOf(files.get(paths.crt)!, inst) });
      if (inst.spec.kind === 'ca') {
        const c = new X509Certificate(files.get(paths.crt)!);
        caMaterial.set(inst.spec.name, {
          certPem: files.get(paths.crt)!,
          privateKeyPem: files.get(paths.key)!,
          notBefore: new Date(c.validFrom),
          notAfter: new Date(c.validTo),
        });
      }
      return;
    }
    const key = newKey.get(inst.id)!;
    const status: CertStatus = decision.status ?? (files.has(paths.crt) ? 'reissued' : 'created');
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
    if (!(notAfter <= LAST_TIME)) {
      const field = isCA ? 'caValidity' : 'certValidity';
      throw new InputError(
        `spec.pki.${field}: a certificate issued now for ${isCA ? site.pki.caValidityHours : site.pki.certValidityHours}h would end after ${LAST_TIME.toISOString()}`,
        [],
        'X.509 dates end with the year 9999; choose a shorter lifetime',
      );
    }
    // A leaf starts when its CA did, as kubeadm's leaves do (pkiutil.NewSignedCert: NotBefore = caCert.NotBefore):
    // a renewed leaf is then valid at once on a node whose clock lags the machine that issued it.
    const notBefore = issuer ? issuer.notBefore : new Date(now.getTime() - BACKDATE_MS);
    if (issuer) {
      // A leaf never claims validity its CA does not have.
      if (notAfter > issuer.notAfter) {
        notAfter = issuer.notAfter;
        warnings.push(`${inst.id}: lifetime capped at its CA's notAfter (${issuer.notAfter.toISOString()})`);
      }
    }
    const certPem = await ports.crypto.issueCertificate({
      cn: inst.cn,
      o: inst.o,
      sans: isCA ? { dns: [inst.cn], ips: [] } : inst.sans,
      usages: inst.spec.usages,
      serialHex: serial(ports.crypto),
      notBefore,
      notAfter,
      subjectPublicKeyPem: key.publicKeyPem,
      ...(issuer ? { issuer } : { selfPrivateKeyPem: key.privateKeyPem }),
    });
    put(paths.key, key.privateKeyPem);
    put(paths.crt, certPem);
    if (isCA) caMaterial.set(inst.spec.name, { certPem, privateKeyPem: key.privateKeyPem, notBefore, notAfter });
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
    if (new Date(cert.validTo) > ca.notAfter)
      warnings.push(
        `${inst.id} claims validity until ${new Date(cert.validTo).toISOString()}, after its CA ends (${ca.notAfter.toISOString()}): clients stop trusting it then`,
      );
  }

  // A new token or encryption key would silently lock every node (or every stored Secret) out:
  // they are made with the state and never again.
  if (fresh) {
    put(TOKEN_PATH, `${bootstrapToken(ports.crypto)}\n`);
    put(ENCRYPTION_KEY_PATH, `${Buffer.from(ports.crypto.randomBytes(32)).toString('base64')}\n`);
  }
  for (const p of [TOKEN_PATH, ENCRYPTION_KEY_PATH]) if (!files.has(p)) throw missingCore(p);
  if (!/^[a-z0-9]{6}\.[a-z0-9]{16}$/.test(files.get(TOKEN_PATH)!.trim())) throw corrupt(TOKEN_PATH, 'is not a bootstrap token');
  if (Buffer.from(files.get(ENCRYPTION_KEY_PATH)!.trim(), 'base64').length !== 32) throw corrupt(ENCRYPTION_KEY_PATH, 'is not a base64 32-byte key');

  const expiry = expiryOf(site, files, now);
  for (const f of needingAction(expiry)) warnings.push(expiryWarning(f));
  return { files, changed: [...changed].sort(), report, expiry, warnings, meta };
}

/**
 * The expiry facts of the site's certificates and CAs in a state, from its files alone (`--check`
 * issues nothing). Certificates the site needs but the state lacks yet are left out: `gen certs`
 * issues them, fresh.
 */
export function expiryOf(site: ResolvedSite, files: StateFiles, now: Date, withinHours?: number): ExpiryFact[] {
  const certs = certInstances(site).flatMap((inst) => {
    const pem = files.get(certPaths(inst).crt);
    if (inst.spec.kind === 'keypair' || pem === undefined) return [];
    return [{ id: inst.id, kind: inst.spec.kind, cn: inst.cn, certPem: pem }];
  });
  return assessExpiry(certs, now, withinHours);
}

interface Decision {
  issue: boolean;
  status?: CertStatus;
  reason?: string;
  warning?: string;
}

function decide(inst: CertInstance, files: StateFiles, opts: PkiOptions, now: Date, fresh: boolean): Decision {
  const { crt, key } = certPaths(inst);
  const hasCrt = files.has(crt);
  const hasKey = files.has(key);
  if (opts.damaged?.has(crt) || opts.damaged?.has(key)) return { issue: true, status: 'reissued', reason: 'damaged; --renew' };
  if (!hasCrt && !hasKey) {
    if (fresh) return { issue: true };
    // CAs and the service-account keys exist from the state's creation on; made anew they would
    // orphan every certificate or token signed before.
    if (inst.spec.kind !== 'leaf') throw missingCore(key);
    return { issue: true, reason: 'new: the site now needs it' };
  }
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
    const from = new Date(cert.validFrom);
    const to = new Date(cert.validTo);
    if (to <= now) {
      throw new InputError(
        `the ${inst.id} CA (${crt}) expired on ${to.toISOString()}`,
        [],
        'nothing it signed is trusted any more: start a new PKI with gen certs --rotate-ca (every node needs new seeds)',
      );
    }
    if (from > now) {
      throw new InputError(
        `the ${inst.id} CA (${crt}) is not valid before ${from.toISOString()}; this machine's clock says ${now.toISOString()}`,
        [],
        "check this machine's clock; if the CA really was made in the future, start a new PKI with gen certs --rotate-ca",
      );
    }
    return { issue: false };
  }
  if (opts.renew) return { issue: true, reason: 'renewal requested' };
  const drift = describeDrift(cert, inst);
  if (drift) return { issue: true, reason: drift };
  if (new Date(cert.validFrom) > now)
    return {
      issue: false,
      warning: `${inst.id} is not valid before ${new Date(cert.validFrom).toISOString()}: check this machine's clock, or run with --renew`,
    };
  // Expiry is reported from the state as it stands after the run (expiryOf), CAs included.
  return { issue: false };
}

/** The state member pairs `--renew` may replace when they are damaged: leaf certificates and their keys. */
export function renewablePairs(site: ResolvedSite): Map<string, { crt: string; key: string }> {
  const out = new Map<string, { crt: string; key: string }>();
  for (const inst of certInstances(site).filter((i) => i.spec.kind === 'leaf')) {
    const p = certPaths(inst);
    out.set(p.crt, p);
    out.set(p.key, p);
  }
  return out;
}
