/**
 * One line of an OpenSSH authorized_keys file (sshd(8), "AUTHORIZED_KEYS FILE FORMAT"):
 * `[options] keytype base64-key [comment]`. The key is checked as sshd would read it: a known
 * type, a base64 body whose first field names that same type, options sshd knows. sshd skips a
 * line it cannot read without a word, which would leave a node without the access it was meant to
 * have; and a line break inside a key would add a second line of the operator's choosing.
 */

/** Key types sshd accepts in authorized_keys (OpenSSH 9). */
const KEY_TYPES = new Set([
  'ssh-ed25519',
  'ssh-rsa',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'sk-ssh-ed25519@openssh.com',
  'sk-ecdsa-sha2-nistp256@openssh.com',
]);

/** Options sshd knows; those marked true take a quoted value (`from="10.0.0.0/8"`). */
const OPTIONS: Record<string, boolean> = {
  'agent-forwarding': false,
  'cert-authority': false,
  command: true,
  environment: true,
  'expiry-time': true,
  from: true,
  'no-agent-forwarding': false,
  'no-port-forwarding': false,
  'no-pty': false,
  'no-user-rc': false,
  'no-x11-forwarding': false,
  permitlisten: true,
  permitopen: true,
  'port-forwarding': false,
  principals: true,
  pty: false,
  'no-touch-required': false,
  restrict: false,
  tunnel: true,
  'user-rc': false,
  'verify-required': false,
  'x11-forwarding': false,
};

export interface SshKeyProblem {
  message: string;
  hint: string;
}

const EXAMPLE = 'paste one line of a .pub file, e.g. ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA… user@host';

/** The problem with one authorized_keys line, or undefined when sshd would accept it. */
export function sshKeyProblem(line: string): SshKeyProblem | undefined {
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(line))
    return { message: 'the line holds a line break or another control character', hint: 'one key per list entry, on one line' };
  const text = line.trim();
  if (!text) return { message: 'the line is empty', hint: EXAMPLE };
  let rest = text;
  const first = rest.split(' ', 1)[0]!;
  if (!KEY_TYPES.has(first)) {
    if (first === 'ssh-dss')
      return {
        message: 'ssh-dss (DSA) keys are no longer accepted by OpenSSH (disabled in 7.0, removed in 9.8)',
        hint: 'use an ed25519 key (ssh-keygen -t ed25519)',
      };
    const looksLikeOptions = first.split(',').some((o) => o.split('=', 1)[0]!.toLowerCase() in OPTIONS);
    if (!looksLikeOptions) return { message: `'${first.slice(0, 40)}' is not a key type sshd accepts`, hint: `key types: ${[...KEY_TYPES].join(', ')}` };
    const options = splitOptions(rest);
    if (typeof options === 'string') return { message: options, hint: 'options are name or name="value", separated by commas, before the key type' };
    for (const o of options.list) {
      const eq = o.indexOf('=');
      const name = (eq < 0 ? o : o.slice(0, eq)).toLowerCase();
      if (!(name in OPTIONS)) return { message: `sshd knows no option '${name.slice(0, 40)}'`, hint: 'see AUTHORIZED_KEYS FILE FORMAT in sshd(8)' };
      const value = eq < 0 ? undefined : o.slice(eq + 1);
      const quoted = value !== undefined && value.length >= 2 && value.startsWith('"') && value.endsWith('"');
      if (OPTIONS[name] ? !quoted : value !== undefined)
        return {
          message: OPTIONS[name] ? `option ${name} needs a quoted value (${name}="…")` : `option ${name} takes no value`,
          hint: 'see AUTHORIZED_KEYS FILE FORMAT in sshd(8)',
        };
    }
    rest = options.rest.trimStart();
  }
  const [type, body] = rest.split(/ +/, 2);
  if (!type || !KEY_TYPES.has(type))
    return { message: `'${(type ?? '').slice(0, 40)}' is not a key type sshd accepts`, hint: `key types: ${[...KEY_TYPES].join(', ')}` };
  if (!body) return { message: `${type} is followed by no key`, hint: EXAMPLE };
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(body) || body.length % 4 !== 0) return { message: 'the key is not base64', hint: EXAMPLE };
  const blob = Buffer.from(body, 'base64');
  const named = blob.length >= 4 ? blob.readUInt32BE(0) : -1;
  if (named < 1 || 4 + named > blob.length) return { message: 'the key holds no SSH public key (no type inside)', hint: EXAMPLE };
  const inner = blob.subarray(4, 4 + named).toString('latin1');
  if (inner !== type)
    return {
      message: `the line says ${type} but the key inside is ${/^[\x20-\x7e]+$/.test(inner) ? inner : 'of no known type'}`,
      hint: 'copy the line unchanged from the .pub file',
    };
  if (blob.length <= 4 + named + 4) return { message: `the ${type} key holds no key material`, hint: EXAMPLE };
  return undefined;
}

/** The options field: up to the first unquoted space; commas separate options, quotes may hold commas and spaces. */
function splitOptions(text: string): { list: string[]; rest: string } | string {
  const list: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '\\' && text[i + 1] === '"') {
        current += '\\"';
        i++;
      } else {
        if (c === '"') quoted = false;
        current += c;
      }
    } else if (c === '"') {
      quoted = true;
      current += c;
    } else if (c === ',') {
      list.push(current);
      current = '';
    } else if (c === ' ') {
      list.push(current);
      return list.some((o) => o === '') ? 'an option is empty (two commas, or a comma before the key type)' : { list, rest: text.slice(i) };
    } else current += c;
  }
  return quoted ? 'a quoted option value is never closed' : 'options are followed by no key';
}
