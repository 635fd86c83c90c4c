import { X509Certificate } from 'node:crypto';
import type { CertInstance } from './table.js';

/** Comparing an issued certificate with what the site needs of it now. */

/** What the certificate says differently from what the site now needs, if anything. */
export function describeDrift(cert: X509Certificate, inst: CertInstance): string | undefined {
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
    dns: parts
      .filter((p) => p.startsWith('DNS:'))
      .map((p) => p.slice(4))
      .sort(),
    ips: parts
      .filter((p) => p.startsWith('IP Address:'))
      .map((p) => normalizeIp(p.slice(11)))
      .sort(),
  };
}

/** Node prints ::1 as 0:0:0:0:0:0:0:1. */
function normalizeIp(ip: string): string {
  return ip.includes(':')
    ? ip
        .split(':')
        .map((g) => g.replace(/^0+(?=.)/, ''))
        .join(':')
        .replace(/^0:0:0:0:0:0:0:1$/, '::1')
    : ip;
}

export function notAfterOf(pem: string, inst: CertInstance): { notAfter?: string } {
  if (inst.spec.kind === 'keypair') return {};
  return { notAfter: new Date(new X509Certificate(pem).validTo).toISOString() };
}
