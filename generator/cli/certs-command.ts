import { realClock } from '../io/clock.js';
import { realCrypto } from '../io/crypto.js';
import { certsStage, placedStateDir } from '../pipeline/certs.js';
import { discoveryHash } from '../pki/secrets.js';
import { EXIT, SITE_HELP, SITE_OPTIONS, type Command } from './commands.js';
import { paint, table } from './output.js';
import { loadValidSite } from './site-input.js';

export const certsCommand: Command = {
  name: 'certs',
  usage: 'gen certs [--site NAME|PATH] [--state DIR] [--out DIR] [--renew] [--rotate-ca] [--json]',
  help: [
    ...SITE_HELP,
    '--state DIR           site state directory (default: <out>/<site>/state, mode 0700); never inside <out>/<site>/dist',
    '--out DIR             output root (default: ./output)',
    '--renew               reissue every leaf certificate; CAs are kept',
    '--rotate-ca           start a new PKI (new CAs, all certificates); the old state is kept as <state>.prev-<time>',
    'A second command on the same state waits up to KUBESEED_LOCK_WAIT seconds (default 10), then exits 1 naming the holder.',
  ],
  options: { ...SITE_OPTIONS, state: { type: 'string' }, out: { type: 'string' }, renew: { type: 'boolean' }, 'rotate-ca': { type: 'boolean' } },
  async run(values, _pos, ctx) {
    const s = ctx.streams;
    const { site } = await loadValidSite(values, ctx);
    const dir = await placedStateDir(site, {
      ...(values.state ? { state: values.state as string } : {}),
      ...(values.out ? { out: values.out as string } : {}),
      cwd: s.cwd,
    });
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
    for (const n of result.notes) s.err(`note: ${n}`);
    if (values.json) {
      s.out(
        JSON.stringify(
          {
            state: dir,
            revision: result.revision,
            discoveryHash: hash,
            certificates: result.report,
            warnings: result.warnings,
            previousState: result.previous,
          },
          null,
          2,
        ),
      );
      return EXIT.ok;
    }
    for (const w of result.warnings) s.err(paint(s, 'yellow', `warning: ${w}`));
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
