import { X509Certificate } from 'node:crypto';

/**
 * How long the site's certificates and CAs have left, as facts: `gen certs` warns from them,
 * `gen certs --check` (cron, CI) decides its exit code from them. Pure: the instant is a parameter.
 */

/** Certificates and CAs this close to their end are reported (and `--check` fails). */
export const EXPIRY_WARNING_DAYS = 30;
export const DAY_MS = 24 * 3600 * 1000;

export type ExpiryState = 'expired' | 'expiring' | 'ok';

export interface ExpiryFact {
  id: string;
  kind: 'ca' | 'leaf';
  cn: string;
  notAfter: string;
  /** Whole days left, rounded down; negative once expired. */
  daysLeft: number;
  state: ExpiryState;
}

export interface ExpiryInput {
  id: string;
  kind: 'ca' | 'leaf';
  cn: string;
  certPem: string;
}

export function assessExpiry(certs: readonly ExpiryInput[], now: Date, withinHours = EXPIRY_WARNING_DAYS * 24): ExpiryFact[] {
  return certs.map((c) => {
    const end = new Date(new X509Certificate(c.certPem).validTo);
    const left = end.getTime() - now.getTime();
    const state: ExpiryState = left <= 0 ? 'expired' : left <= withinHours * 3600 * 1000 ? 'expiring' : 'ok';
    return { id: c.id, kind: c.kind, cn: c.cn, notAfter: end.toISOString(), daysLeft: Math.floor(left / DAY_MS), state };
  });
}

/** The facts that need the operator, soonest first. */
export function needingAction(facts: readonly ExpiryFact[]): ExpiryFact[] {
  return facts.filter((f) => f.state !== 'ok').sort((a, b) => a.notAfter.localeCompare(b.notAfter) || a.id.localeCompare(b.id));
}

/** One line per fact that needs action, saying what to do about it. */
export function expiryWarning(f: ExpiryFact): string {
  const when = f.state === 'expired' ? `expired on ${f.notAfter}` : `expires in ${f.daysLeft} day${f.daysLeft === 1 ? '' : 's'}, on ${f.notAfter}`;
  if (f.kind === 'ca')
    return `the ${f.id} CA ${when}: nothing it signed is trusted after that; start a new PKI before then (README: Day two → Certificates over time)`;
  return `${f.id} ${when}: run gen certs --renew, then gen bundle and deliver the update to the nodes`;
}

/** `720h`, `90m`, `1h30m` (Go's notation) or `45d`; null when it is none of them or zero. */
export function parseWithin(text: string): number | null {
  const days = /^(\d{1,5})d$/.exec(text);
  if (days) return Number(days[1]) > 0 ? Number(days[1]) * 24 : null;
  const m = /^(?:(\d{1,6})h)?(?:(\d{1,7})m)?(?:(\d{1,9})s)?$/.exec(text);
  if (!m || text === '') return null;
  const hours = Number(m[1] ?? 0) + Number(m[2] ?? 0) / 60 + Number(m[3] ?? 0) / 3600;
  return hours > 0 ? hours : null;
}
