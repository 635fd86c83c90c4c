/**
 * Names that land in configuration files (chrony.conf, the kubelet's clusterDomain, network-config,
 * /etc/localtime's link): each is checked for what it is, so that no blueprint string can add a
 * line, an option or a path to a file it ends up in.
 */

const LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** A DNS name of RFC 1123 labels (lower case), at most 253 characters, no trailing dot. */
export function isDnsName(name: string): boolean {
  return name.length > 0 && name.length <= 253 && name.split('.').every((l) => LABEL.test(l));
}

/** A host name as a server is named: a DNS name in any case whose last label is not all digits (that would be a mistyped address). */
export function isHostName(name: string): boolean {
  const lower = name.toLowerCase();
  return isDnsName(lower) && !/^\d+$/.test(lower.split('.').at(-1)!);
}

/** A Linux interface name: at most 15 bytes (IFNAMSIZ − 1), no '/', whitespace or ':', not '.' or '..'. */
export function isInterfaceName(name: string): boolean {
  return /^[A-Za-z0-9_.-]{1,15}$/.test(name) && name !== '.' && name !== '..';
}

/** tz database names: Area/Location segments, each starting with a capital (UTC, Europe/Berlin, America/Port-au-Prince, Etc/GMT+5). */
const TZ_NAME = /^[A-Z][A-Za-z0-9_+-]*(\/[A-Z][A-Za-z0-9_+-]*)*$/;

/**
 * A tz database name the build machine's ICU knows (Node's `Intl`, tzdata 2025 here), spelled as
 * the zoneinfo file is named: the node links /etc/localtime to /usr/share/zoneinfo/<name>, so a
 * wrong case or a path is a broken link, or worse. Returns the problem and, for a near miss, the name meant.
 */
export function timezoneProblem(name: string): { message: string; hint: string } | undefined {
  let known: string | undefined;
  try {
    known = new Intl.DateTimeFormat('en', { timeZone: name }).resolvedOptions().timeZone;
  } catch {
    known = undefined;
  }
  if (known !== undefined && TZ_NAME.test(name)) return undefined;
  const example = 'e.g. UTC, Europe/Berlin, America/New_York';
  if (known !== undefined) return { message: `${JSON.stringify(name)} is not spelled as the tz database names it`, hint: `write ${known}` };
  return { message: `${JSON.stringify(name)} is not a time zone of the tz database`, hint: example };
}
