import { readFile, stat } from 'node:fs/promises';
import { InputError } from '../model/index.js';

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses a `WWW-Authenticate` header: `Bearer realm="…",service="…",scope="…"` or `Basic realm="…"`. */
export function parseChallenge(header: string): Challenge | null {
  const m = /^\s*(\w+)\s*(.*)$/s.exec(header);
  if (!m) return null;
  const params: Record<string, string> = {};
  const re = /([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))/g;
  for (let p = re.exec(m[2]!); p; p = re.exec(m[2]!)) params[p[1]!.toLowerCase()] = (p[2] ?? p[3] ?? '').replace(/\\(.)/g, '$1');
  return { scheme: m[1]!.toLowerCase(), params };
}

export interface Credentials {
  username: string;
  password: string;
}

/** Docker Hub's credentials are stored under its v1 index address. */
const HOST_ALIASES: Record<string, string[]> = {
  'docker.io': ['https://index.docker.io/v1/', 'index.docker.io', 'registry-1.docker.io'],
};

/** Credentials per registry host from a Docker `config.json` (`auths.<host>.auth` = base64 `user:password`). */
export function credentialsFromDockerConfig(json: unknown, file: string): Map<string, Credentials> {
  const out = new Map<string, Credentials>();
  const auths = (json as { auths?: Record<string, { auth?: string; username?: string; password?: string }> } | null)?.auths;
  if (!auths || typeof auths !== 'object') return out;
  for (const [key, entry] of Object.entries(auths)) {
    const host = key.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
    let creds: Credentials | null = null;
    if (entry?.auth) {
      const plain = Buffer.from(entry.auth, 'base64').toString('utf8');
      const i = plain.indexOf(':');
      if (i < 0) throw new InputError(`${file}: auths.${key}.auth is not base64 of user:password`);
      creds = { username: plain.slice(0, i), password: plain.slice(i + 1) };
    } else if (entry?.username !== undefined && entry.password !== undefined) {
      creds = { username: entry.username, password: entry.password };
    }
    if (creds) out.set(host, creds);
  }
  for (const [host, aliases] of Object.entries(HOST_ALIASES)) {
    for (const a of aliases) {
      const h = a.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
      if (!out.has(host) && out.has(h)) out.set(host, out.get(h)!);
    }
  }
  return out;
}

/** Reads a Docker config file; a missing default file means no credentials, a missing named one is an error. */
export async function readDockerConfig(path: string, required: boolean): Promise<Map<string, Credentials>> {
  let text: string;
  try {
    // Checked before it is opened: a FIFO would block the read, a device never end it.
    if (!(await stat(path)).isFile()) throw new InputError(`${path} is not a regular file`, [], '--registry-auth takes a file in Docker config.json format');
    text = await readFile(path, 'utf8');
  } catch (e) {
    if (e instanceof InputError) throw e;
    if (!required && (e as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
    throw new InputError(
      `${path}: ${(e as Error).message}`,
      [],
      '--registry-auth takes a file in Docker config.json format ({"auths": {"host": {"auth": "base64(user:password)"}}})',
    );
  }
  try {
    return credentialsFromDockerConfig(JSON.parse(text), path);
  } catch (e) {
    if (e instanceof InputError) throw e;
    throw new InputError(`${path}: not JSON: ${(e as Error).message}`);
  }
}
