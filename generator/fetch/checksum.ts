import type { HashAlgorithm } from '../model/index.js';

const LENGTH: Record<HashAlgorithm, number> = { sha256: 64, sha512: 128 };

/**
 * The hash in a single-file checksum (`<hash>` or `<hash>  <name>`), as dl.k8s.io's `.sha256`,
 * containerd's `.sha256sum` and the CNI plugins' `.sha256` files hold it.
 */
export function parseHashFile(text: string, algorithm: HashAlgorithm): string | null {
  const first = text.trim().split(/\s+/)[0]?.toLowerCase() ?? '';
  return isHex(first, algorithm) ? first : null;
}

/**
 * The hash for `entry` in a `SHA256SUMS`-style list (`<hash>  <name>`, `<hash> *<name>` for
 * binary mode, names possibly with a leading `./` or a directory, as runc's list has).
 */
export function parseSumsFile(text: string, entry: string, algorithm: HashAlgorithm): string | null {
  for (const line of text.split('\n')) {
    const m = /^([0-9a-fA-F]+)\s+\*?(.+?)\s*$/.exec(line.trim());
    if (!m) continue;
    const name = m[2]!.replace(/^\.\//, '');
    if ((name === entry || name.endsWith(`/${entry}`)) && isHex(m[1]!.toLowerCase(), algorithm)) return m[1]!.toLowerCase();
  }
  return null;
}

function isHex(s: string, algorithm: HashAlgorithm): boolean {
  return s.length === LENGTH[algorithm] && /^[0-9a-f]+$/.test(s);
}
