import { isIP } from 'node:net';

/** The placeholders a catalog path may hold; anything else in braces would reach a URL as is. */
export const TEMPLATE_PLACEHOLDERS = ['version', 'semver', 'arch'] as const;

/** Placeholders in a template that expandTemplate does not fill. */
export function unknownPlaceholders(template: string): string[] {
  return [...template.matchAll(/\{([^{}]*)\}/g)].map((m) => m[1]!).filter((p) => !(TEMPLATE_PLACEHOLDERS as readonly string[]).includes(p));
}

/**
 * Cloud metadata services: a download source pointing at one would fetch the build machine's
 * credentials into the bundle. 169.254.0.0/16 and fe80::/10 (link-local) are refused as a whole.
 */
const METADATA_HOSTS = new Set([
  'metadata',
  'metadata.google.internal',
  'metadata.goog',
  'metadata.azure.com',
  'instance-data',
  'instance-data.ec2.internal',
  '100.100.100.200',
  'fd00:ec2::254',
]);

export interface UrlProblem {
  message: string;
  hint: string;
}

/** A URL with any password replaced, for messages and listings. */
export function redactUrl(text: string): string {
  try {
    const u = new URL(text);
    if (!u.username && !u.password) return text;
    u.username = u.username ? '***' : '';
    u.password = u.password ? '***' : '';
    return u.toString();
  } catch {
    // Not a URL: hide anything that looks like user:password@ all the same.
    return text.replace(/\/\/[^/@\s]*@/, '//***@');
  }
}

/**
 * The problem with a download or registry URL the build machine will fetch from, if any: http(s)
 * only (no file://, ftp://, gopher://), no credentials inside (they would be printed, logged and
 * kept in lock files; credentials go in the registry auth file), no link-local or metadata host.
 */
export function downloadUrlProblem(text: string): UrlProblem | undefined {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    return { message: `${redactUrl(text)} is not a URL`, hint: 'e.g. https://mirror.site.internal/k8s' };
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    return { message: `${u.protocol}// URLs are not fetched: ${redactUrl(text)}`, hint: 'use an http:// or https:// URL' };
  if (u.username || u.password)
    return {
      message: `${redactUrl(text)} carries credentials`,
      hint: 'remove user:password@ from the URL; registry credentials go in the auth file (--registry-auth, Docker config.json format)',
    };
  const host = u.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (METADATA_HOSTS.has(host) || isLinkLocal(host))
    return { message: `${host} is a link-local or cloud metadata address, not a download source`, hint: 'name a mirror on the build network' };
  return undefined;
}

function isLinkLocal(host: string): boolean {
  if (isIP(host) === 4) return host.startsWith('169.254.');
  // fe80::/10, and 169.254/16 written as an IPv4-mapped IPv6 address (::ffff:a9fe:…).
  if (isIP(host) === 6) return /^fe[89ab][0-9a-f]:/i.test(host) || /^::ffff:a9fe:/i.test(host);
  return false;
}
