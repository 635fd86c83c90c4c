import { realClock } from '../io/clock.js';
import { realCrypto } from '../io/crypto.js';
import { InputError } from '../model/index.js';
import { parseSourceDateEpoch } from '../pack/epoch.js';
import { bundle } from '../pipeline/bundle.js';
import { EXIT, SITE_HELP, SITE_OPTIONS, type Command } from './commands.js';
import { FETCH_CONFLICT, FETCH_HELP, FETCH_NUMBERS, FETCH_OPTIONS, fetchWithProgress } from './fetch-command.js';
import { paint } from './output.js';
import { join } from 'node:path';
import { DIST } from '../pack/dist-layout.js';
import { PAYLOAD_FORMATS, type PayloadFormat } from '../pack/payload.js';
import { loadValidSite } from './site-input.js';

export const bundleCommand: Command = {
  name: 'bundle',
  usage:
    'gen bundle [--site NAME|PATH] [--out DIR] [--state DIR] [--node NAME] [--payload-format iso|tar|both] [--skip-payload | --artifacts DIR | fetch options] [--embed-payload] [--update-from REV] [--json]',
  help: [
    ...SITE_HELP.filter((h) => !h.startsWith('--json')),
    '--json                print the result (or the error) as JSON on stdout; progress stays on stderr',
    '--out DIR             output root (default: ./output); the bundle lands in <out>/<site>/dist',
    '--state DIR           site state directory (default: <out>/<site>/state); never inside <out>/<site>/dist',
    '--node NAME           write only this node, inside the existing bundle: the other nodes are kept byte for byte,',
    '                      manifest.json, SHA256SUMS, README.md and vm/ are written anew for the whole bundle',
    '--payload-format F    iso (default: a KSPAYLOAD volume for seeds, kickstart and virtual media), tar (a tarball',
    '                      for install.sh on a running host) or both; with --node, the forms the bundle has',
    '--skip-payload        everything but the payload (no downloads): re-issue seeds after a renewal or a change',
    '--artifacts DIR       take the payload files from DIR (named as gen plan names them, listed in DIR/SHA256SUMS)',
    '--embed-payload       put the payload inside every seed ISO (also spec.output.embedPayload)',
    '--update-from REV     make every node update written now start at site revision REV (for a node that missed',
    "                      an update; by default each starts where the node's last one ended)",
    'Without --skip-payload or --artifacts, bundle first fetches like gen fetch, with its options:',
    ...FETCH_HELP,
    'The output directory and the state are locked for the run: a second command waits up to KUBESEED_LOCK_WAIT',
    'seconds (default 10), then exits 1 naming the holder. A run that stopped is cleaned up by the next one.',
  ],
  options: {
    site: SITE_OPTIONS.site,
    catalog: SITE_OPTIONS.catalog,
    out: { type: 'string' },
    state: { type: 'string' },
    node: { type: 'string' },
    'payload-format': { type: 'string' },
    json: { type: 'boolean' },
    'skip-payload': { type: 'boolean' },
    artifacts: { type: 'string' },
    'embed-payload': { type: 'boolean' },
    'update-from': { type: 'string' },
    ...FETCH_OPTIONS,
  },
  numbers: { ...FETCH_NUMBERS, 'update-from': { min: 0, max: 999_999_999 } },
  conflicts: [
    { option: 'skip-payload', with: ['payload-format'], because: '--skip-payload writes no payload, so it has no format' },
    { option: 'skip-payload', with: ['artifacts'], because: '--skip-payload writes no payload, --artifacts names where to take it from: choose one' },
    // Fetch options only apply when bundle fetches, which it does without either of these.
    { option: 'skip-payload', with: Object.keys(FETCH_OPTIONS), because: '--skip-payload fetches nothing, so fetch options do not apply' },
    {
      option: 'artifacts',
      with: Object.keys(FETCH_OPTIONS),
      because: '--artifacts takes the payload from a directory instead of fetching, so fetch options do not apply',
    },
    FETCH_CONFLICT,
  ],
  async run(values, _pos, ctx) {
    const s = ctx.streams;
    // The environment is input too: refused before the blueprint is read.
    parseSourceDateEpoch(ctx.env.SOURCE_DATE_EPOCH);
    const payloadFormats = payloadFormatsOf(values['payload-format']);
    // Against the site as last delivered too: an unsafe change to a running site makes no updates.
    const loaded = await loadValidSite(values, ctx, { running: true });
    const started = Date.now();
    const r = await bundle(loaded.site, loaded.catalog, {
      ...(values.out ? { out: values.out as string } : {}),
      ...(values.state ? { state: values.state as string } : {}),
      ...(values.node ? { node: values.node as string } : {}),
      ...(values.artifacts ? { artifacts: values.artifacts as string } : {}),
      ...(values['update-from'] !== undefined ? { updateFrom: Number(values['update-from']) } : {}),
      skipPayload: Boolean(values['skip-payload']),
      payloadFormats,
      fetch: async (plan) => (await fetchWithProgress(loaded.site, plan, values, ctx, loaded.file)).outcome,
      embedPayload: Boolean(values['embed-payload']),
      ports: { crypto: realCrypto, clock: realClock },
      cwd: s.cwd,
      root: ctx.root,
      env: ctx.env,
      say: (line) => s.err(line),
    });
    const seconds = Number(((Date.now() - started) / 1000).toFixed(1));
    if (values.json) {
      s.out(
        JSON.stringify(
          {
            site: loaded.site.name,
            dist: r.dist,
            files: r.files,
            nodes: r.nodes,
            updated: values.node ? [values.node] : r.nodes,
            payload: r.payload,
            payloads: r.payloads.map((p) => ({ format: p.format, file: p.name, size: p.size, sha256: p.sha256 })),
            revision: r.revision,
            nodeUpdates: r.updates,
            seconds,
          },
          null,
          2,
        ),
      );
      return EXIT.ok;
    }
    s.out(
      `${paint(s, 'green', values.node ? `node ${String(values.node)} updated` : 'bundle written')}: ${r.dist} (${r.files} files${r.payload ? `, payload ${r.payload}` : ', no payload'}) in ${seconds.toFixed(1)} s`,
    );
    s.out(`  ${join(r.dist, 'README.md')} says what to carry, how to check it and how to boot each node`);
    s.out(
      `  site revision ${r.revision}${r.updates.length ? `; node updates for ${r.updates.join(', ')} (${join(r.dist, DIST.applyUpdates)} applies them over ssh)` : ''}`,
    );
    return EXIT.ok;
  },
};

/** `--payload-format iso|tar|both`: the forms to write, the one to carry first. */
function payloadFormatsOf(raw: string | boolean | undefined): PayloadFormat[] | undefined {
  if (raw === undefined) return undefined;
  if (raw === 'both') return [...PAYLOAD_FORMATS];
  if ((PAYLOAD_FORMATS as readonly unknown[]).includes(raw)) return [raw as PayloadFormat];
  throw new InputError(
    `--payload-format ${String(raw)}: expected iso, tar or both`,
    [],
    'iso is a volume to attach (seeds, kickstart, virtual media); tar is for install.sh on a running host',
  );
}
