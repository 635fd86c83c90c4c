import { realClock } from '../io/clock.js';
import { realCrypto } from '../io/crypto.js';
import { readState } from '../io/state.js';
import { InputError, type ResolvedSite } from '../model/index.js';
import { certsStage, placedStateDir } from '../pipeline/certs.js';
import { EXPIRY_WARNING_DAYS, expiryWarning, needingAction, parseWithin, type ExpiryFact } from '../pki/expiry.js';
import { expiryOf } from '../pki/issue.js';
import { discoveryHash } from '../pki/secrets.js';
import { EXIT, SITE_HELP, SITE_OPTIONS, type Command, type CommandContext } from './commands.js';
import { paint, table } from './output.js';
import { loadValidSite } from './site-input.js';

export const certsCommand: Command = {
  name: 'certs',
  usage: 'gen certs [--site NAME|PATH] [--state DIR] [--out DIR] [--renew | --rotate-ca | --check] [--within DURATION] [--json]',
  help: [
    ...SITE_HELP,
    '--state DIR           site state directory (default: <out>/<site>/state, mode 0700); never inside <out>/<site>/dist',
    '--out DIR             output root (default: ./output)',
    '--renew               reissue every leaf certificate; CAs are kept',
    '--rotate-ca           start a new PKI (new CAs, all certificates); the old state is kept as <state>.prev-<time>;',
    '                      refused (exit 2) once a bundle was made from the state, unless its CA has expired',
    '--check               report how long every certificate and CA has left, change and write nothing; exit 1 when',
    '                      any expires within 30 days (or --within) or has expired, 0 otherwise: for cron and CI',
    `--within DURATION     the warning window: 720h, 90m, 45d (default ${EXPIRY_WARNING_DAYS}d)`,
    `Every run warns (exit 0) about each certificate or CA that expires within ${EXPIRY_WARNING_DAYS} days or has expired; --json lists`,
    'their expiry (notAfter, daysLeft, state: ok | expiring | expired).',
    'A second command on the same state waits up to KUBESEED_LOCK_WAIT seconds (default 10), then exits 1 naming the holder.',
  ],
  options: {
    ...SITE_OPTIONS,
    state: { type: 'string' },
    out: { type: 'string' },
    renew: { type: 'boolean' },
    'rotate-ca': { type: 'boolean' },
    check: { type: 'boolean' },
    within: { type: 'string' },
  },
  conflicts: [
    {
      option: 'check',
      with: ['renew', 'rotate-ca'],
      because: '--check changes nothing, --renew and --rotate-ca change the state: run them one after the other',
    },
  ],
  async run(values, _pos, ctx) {
    const s = ctx.streams;
    const within = withinHours(values.within as string | undefined);
    const { site } = await loadValidSite(values, ctx);
    const dir = await placedStateDir(site, {
      ...(values.state ? { state: values.state as string } : {}),
      ...(values.out ? { out: values.out as string } : {}),
      cwd: s.cwd,
    });
    if (values.check) return check(site, dir, within, Boolean(values.json), ctx);
    const rotate = Boolean(values['rotate-ca']);
    if (rotate)
      s.err(paint(s, 'yellow', `warning: --rotate-ca makes new CAs: every node must get new seeds, and clients of the old CA stop trusting the cluster`));
    const result = await certsStage(
      site,
      dir,
      { crypto: realCrypto, clock: realClock },
      { renew: Boolean(values.renew), rotateCa: rotate, say: (l) => s.err(l) },
    );
    const hash = discoveryHash(result.files.get('pki/ca.crt')!);
    // The stage warns with the default window; another window replaces those lines.
    const expiry = within === undefined ? result.expiry : expiryOf(site, result.files, realClock.now(), within);
    const expiryLines = new Set(needingAction(result.expiry).map(expiryWarning));
    const warnings = [...result.warnings.filter((w) => !expiryLines.has(w)), ...needingAction(expiry).map(expiryWarning)];
    for (const n of result.notes) s.err(`note: ${n}`);
    if (values.json) {
      s.out(
        JSON.stringify(
          {
            state: dir,
            revision: result.revision,
            discoveryHash: hash,
            certificates: result.report,
            expiry,
            warnings,
            previousState: result.previous,
          },
          null,
          2,
        ),
      );
      return EXIT.ok;
    }
    for (const w of warnings) s.err(paint(s, 'yellow', `warning: ${w}`));
    s.out(
      table([
        ['certificate', 'CN', 'not after', 'status'],
        ...result.report.map((r) => [r.id, r.cn || '-', r.notAfter?.slice(0, 10) ?? '-', r.reason ? `${r.status} (${r.reason})` : r.status]),
      ]),
    );
    s.out(`\nstate: ${dir}, revision ${result.revision}${result.changed.length ? ` (${result.changed.length} file(s) written)` : ' (unchanged)'}`);
    if (result.previous) s.out(`previous state kept at ${result.previous}`);
    s.out(`discovery CA hash: ${hash}`);
    return EXIT.ok;
  },
};

function withinHours(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const hours = parseWithin(text);
  if (hours === null) throw new InputError(`--within ${text} is not a duration`, [], 'write it as 720h, 90m, 1h30m or 45d (more than zero)');
  return hours;
}

/** `--check`: the expiry of the committed state, read without the lock and without writing anything. */
async function check(site: ResolvedSite, dir: string, within: number | undefined, json: boolean, ctx: CommandContext): Promise<number> {
  const s = ctx.streams;
  const files = await readState(dir);
  if (!files) throw new InputError(`there is no site state at ${dir}`, [], `gen certs --site ${site.name} creates it; --state names another directory`);
  const now = realClock.now();
  const hours = within ?? EXPIRY_WARNING_DAYS * 24;
  const facts = expiryOf(site, files, now, hours);
  const due = needingAction(facts);
  if (json) {
    s.out(JSON.stringify({ state: dir, checkedAt: now.toISOString(), withinHours: hours, ok: due.length === 0, expiry: facts }, null, 2));
  } else {
    for (const f of due) s.err(paint(s, 'yellow', `warning: ${expiryWarning(f)}`));
    s.out(expiryTable(facts));
    s.out(`\n${summary(facts, due, hours)}`);
  }
  return due.length ? EXIT.failure : EXIT.ok;
}

function expiryTable(facts: readonly ExpiryFact[]): string {
  return table([
    ['certificate', 'CN', 'not after', 'days left', 'state'],
    ...facts.map((f) => [f.id, f.cn || '-', f.notAfter.slice(0, 10), String(f.daysLeft), f.state]),
  ]);
}

function summary(facts: readonly ExpiryFact[], due: readonly ExpiryFact[], hours: number): string {
  const window = hours % 24 === 0 ? `${hours / 24} days` : `${hours}h`;
  if (due.length) return `check failed: ${due.length} of ${facts.length} certificates and CAs expire within ${window} or have expired`;
  const first = [...facts].sort((a, b) => a.notAfter.localeCompare(b.notAfter))[0];
  return `check passed: none of ${facts.length} certificates and CAs expires within ${window}${first ? `; the first to expire is ${first.id}, on ${first.notAfter}` : ''}`;
}
