import { execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { InputError, isSystemError, UserError, type Issue, type SystemError } from '../model/index.js';
import { parseCommandLine, UsageError } from './args.js';
import { EXIT, type Command, type CommandContext } from './commands.js';
import { reportIssues, table, type Streams } from './output.js';

/**
 * The commands, each loaded only when it runs: a command pays for its own libraries (undici,
 * x509, handlebars) and no other's, which keeps a no-op `gen fetch` well under a second.
 */
const COMMANDS: { name: string; summary: string; load: () => Promise<Command> }[] = [
  {
    name: 'init',
    summary: 'write a new site blueprint from flags (name, nodes with addresses and roles, mode) or by questions, validated first',
    load: async () => (await import('./init-command.js')).initCommand,
  },
  {
    name: 'validate',
    summary: 'check a site blueprint against the schema, the rules and the catalog',
    load: async () => (await import('./site-commands.js')).validateCommand,
  },
  {
    name: 'plan',
    summary: 'list every download (with its size), image, certificate and node file of the bundle (no network unless --sizes; writes nothing)',
    load: async () => (await import('./site-commands.js')).planCommand,
  },
  {
    name: 'fetch',
    summary: 'download and verify every binary and image of a site into the cache, and keep its lock file',
    load: async () => (await import('./fetch-command.js')).fetchCommand,
  },
  {
    name: 'certs',
    summary: "create the site's PKI if missing (kept and reused afterwards) and list every certificate with its expiry",
    load: async () => (await import('./certs-command.js')).certsCommand,
  },
  {
    name: 'bundle',
    summary: 'write output/<site>/dist: per-node seed ISOs and tarballs, payload, admin credentials, manifest',
    load: async () => (await import('./bundle-command.js')).bundleCommand,
  },
  {
    name: 'verify',
    summary: 'check a bundle: every file against manifest.json, and the admin credential against the CA',
    load: async () => (await import('./verify-command.js')).verifyCommand,
  },
];

/**
 * What ran, for a bug report: the package version, the releases its embedded catalog offers and,
 * when run from a git checkout, the commit (with `-dirty` for local changes).
 */
function version(root: string): string {
  const pkg = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;
  const lines = [`gen ${pkg}`];
  const commit = gitCommit(root);
  if (commit) lines.push(`commit: ${commit}`);
  lines.push(`catalog: ${embeddedReleases(root).join(', ') || '(none)'}`);
  lines.push(`installed at: ${root}`);
  return lines.join('\n');
}

function embeddedReleases(root: string): string[] {
  try {
    return readdirSync(join(root, 'blueprints', 'catalog', 'releases'))
      .filter((f) => f.endsWith('.yaml'))
      .map((f) => f.slice(0, -'.yaml'.length))
      .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  } catch {
    return [];
  }
}

/** Only a checkout has a commit; an installed package (no .git) or a machine without git has none. */
function gitCommit(root: string): string | null {
  if (!existsSync(join(root, '.git'))) return null;
  try {
    return (
      execFileSync('git', ['-C', root, 'describe', '--always', '--dirty', '--abbrev=12'], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
        timeout: 5000,
      }).trim() || null
    );
  } catch {
    return null;
  }
}

function mainHelp(): string {
  return [
    'gen — turn a site blueprint into everything an air-gapped Kubernetes site needs',
    '',
    'Usage: gen <command> [options]',
    '',
    'Commands:',
    table(COMMANDS.map((c) => [`  ${c.name}`, c.summary])),
    '',
    'Options:',
    '  --help, -h     show help (also: gen <command> --help)',
    '  --version, -V  print the version, the catalog releases it carries and the git commit',
    '',
    'Where things are read and written:',
    '  --site NAME    a built-in blueprint, <install dir>/blueprints/sites/NAME.yaml (lab1 is the default)',
    '  --site FILE    any blueprint file (a value with a / or ending in .yaml); its lock file is written beside it',
    '  --out DIR      output root, ./output in the current directory by default: the site state in',
    '                 <out>/<site>/state, the bundle in <out>/<site>/dist',
    '  downloads     cached in $XDG_CACHE_HOME/kubeseed or ~/.cache/kubeseed (--cache DIR)',
    '',
    'Exit codes: 0 ok, 2 bad input (the blueprint, the catalog or the command line), 1 failure.',
    'Colour is used on a terminal unless NO_COLOR is set.',
  ].join('\n');
}

function commandHelp(c: Command, summary: string): string {
  return [`gen ${c.name} — ${summary}`, '', `Usage: ${c.usage}`, '', 'Options:', ...c.help.map((h) => `  ${h}`), '  --help, -h           show this help'].join(
    '\n',
  );
}

/** Runs one command line; returns the exit code. Errors are reported here, never thrown. */
export async function run(argv: string[], ctx: Omit<CommandContext, 'args'>): Promise<number> {
  const s: Streams = ctx.streams;
  const [first, ...rest] = argv;
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    if (first === undefined) s.err(mainHelp());
    else s.out(mainHelp());
    return first === undefined ? EXIT.badInput : EXIT.ok;
  }
  if (first === '--version' || first === '-V') {
    s.out(version(ctx.root));
    return EXIT.ok;
  }
  const entry = COMMANDS.find((c) => c.name === first);
  if (!entry) {
    s.err(`gen: unknown command '${first}'\n\n${mainHelp()}`);
    return EXIT.badInput;
  }
  const cmd = await entry.load();
  if (rest.includes('--help') || rest.includes('-h')) {
    s.out(commandHelp(cmd, entry.summary));
    return EXIT.ok;
  }
  // A command asked for JSON answers in JSON when it fails too (on stdout, the text on stderr as always).
  const json = 'json' in cmd.options && rest.includes('--json');
  const fail = (code: number, error: string, extra: { hint?: string; issues?: readonly Issue[] } = {}) => {
    if (json) s.out(JSON.stringify({ command: cmd.name, error, exitCode: code, ...extra }, null, 2));
    return code;
  };
  let parsed;
  try {
    parsed = parseCommandLine(cmd, rest);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    s.err(`gen ${cmd.name}: ${e.message}\n\nUsage: ${cmd.usage}`);
    return fail(EXIT.badInput, e.message, { hint: `usage: ${cmd.usage}` });
  }
  try {
    return await cmd.run(parsed.values, parsed.positionals, { ...ctx, args: rest });
  } catch (e) {
    if (e instanceof UserError) {
      const issues = e instanceof InputError ? e.issues : [];
      if (issues.length) reportIssues(s, issues);
      s.err(`gen ${cmd.name}: ${e.message}${e.hint ? `\n  hint: ${e.hint}` : ''}`);
      return fail(e.exitCode, e.message, { ...(e.hint ? { hint: e.hint } : {}), ...(issues.length ? { issues } : {}) });
    }
    if (isSystemError(e) && e.code in SYSTEM_ERRORS) {
      s.err(`gen ${cmd.name}: ${describeSystemError(e)}`);
      return fail(EXIT.failure, describeSystemError(e));
    }
    // Anything else is a bug of ours: the stack is what a report needs.
    s.err(`gen ${cmd.name}: failed: ${(e as Error).stack ?? String(e)}`);
    return fail(EXIT.failure, `internal error: ${(e as Error).message ?? String(e)}`, { hint: 'this is a kubeseed bug; the stack is on standard error' });
  }
}

/** Problems of the machine, not of kubeseed: said in one line with the path, no stack. */
const SYSTEM_ERRORS: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EIO: 'input/output error',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files in the system',
  ENOENT: 'no such file or directory',
  ENOTDIR: 'a part of the path is not a directory',
  EISDIR: 'is a directory',
  EEXIST: 'already exists',
  ENOTEMPTY: 'directory not empty',
  ENAMETOOLONG: 'name too long',
  ELOOP: 'too many levels of symbolic links',
  EBUSY: 'device or resource busy',
  ETXTBSY: 'text file busy',
  EXDEV: 'not on the same file system',
  ENOMEM: 'out of memory',
};

/**
 * `mkdir -p` (Node's recursive mkdir) reports ENOENT when the real failure is a read-only or
 * forbidden parent; asking the nearest existing ancestor whether it is writable gives the true reason.
 */
function diagnoseMkdir(e: SystemError): SystemError {
  if (e.code !== 'ENOENT' || e.syscall !== 'mkdir' || !e.path) return e;
  let dir = e.path;
  while (!existsSync(dir) && dirname(dir) !== dir) dir = dirname(dir);
  try {
    accessSync(dir, constants.W_OK);
  } catch (why) {
    if (isSystemError(why)) return Object.assign(new Error(why.message), { code: why.code, syscall: 'mkdir', path: e.path });
  }
  return e;
}

function describeSystemError(raw: SystemError): string {
  const e = diagnoseMkdir(raw);
  const where = e.path ? `${e.syscall ? `${e.syscall} ` : ''}${e.path}${e.dest ? ` → ${e.dest}` : ''}` : (e.syscall ?? 'a system call');
  return `${where}: ${SYSTEM_ERRORS[e.code]} (${e.code})`;
}
