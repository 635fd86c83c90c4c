import { link, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { stringify } from 'yaml';
import { realFs } from '../io/fs.js';
import { hasErrors, InputError, type Issue } from '../model/index.js';
import { loadSite, readCatalog } from '../pipeline/load.js';
import { parseNodeFlag, scaffoldSite, type ScaffoldAnswers } from '../site/scaffold.js';
import { EXIT, type Command, type CommandContext } from './commands.js';
import { paint, reportIssues } from './output.js';

const MODES = ['binary', 'kubeadm'] as const;
const NETWORKS = ['flannel', 'calico', 'bridge'] as const;

export const initCommand: Command = {
  name: 'init',
  usage: 'gen init --name NAME --node NAME,ADDRESS/PREFIX[,ROLES][,MAC] [--node …] [--mode binary|kubeadm] [--out FILE] [--json]',
  help: [
    '--name NAME           the site name (a DNS label); the blueprint is written to ./NAME.yaml unless --out says otherwise',
    '--node SPEC           one per node: NAME,ADDRESS/PREFIX[,ROLE+ROLE…][,MAC], e.g. k8s-01,192.168.93.45/24,control-plane+etcd+worker',
    '                      roles default to control-plane+etcd+worker for the first node and worker for the others',
    '--mode MODE           binary (default: systemd units, as the hard way) or kubeadm',
    '--version V           Kubernetes release from the catalog (default: the newest it carries)',
    '--network PLUGIN      flannel (default), calico or bridge',
    '--os FAMILY[-VER]     debian-12 (default), ubuntu-24.04, rhel-9, …',
    "--gateway IP          every node's gateway (default: the first address of the first node's subnet)",
    '--dns IP              a resolver for every node, may be repeated (default: the gateway)',
    '--out FILE            where to write the blueprint; an existing file is never overwritten',
    '--interactive         ask for each value (the default on a terminal when neither --name nor --node is given)',
    '--json                print {file, site, nodes} (or the error) as JSON',
    'The blueprint is validated (schema, rules, catalog) before it is written; with any error nothing is written.',
  ],
  options: {
    name: { type: 'string' },
    node: { type: 'string', multiple: true },
    mode: { type: 'string' },
    version: { type: 'string' },
    network: { type: 'string' },
    os: { type: 'string' },
    gateway: { type: 'string' },
    dns: { type: 'string', multiple: true },
    out: { type: 'string' },
    interactive: { type: 'boolean' },
    json: { type: 'boolean' },
  },
  async run(values, _pos, ctx) {
    const s = ctx.streams;
    const catalog = (await readCatalog(realFs, join(ctx.root, 'blueprints', 'catalog'))).catalog;
    const newest =
      catalog?.releases
        .map((r) => r.version)
        .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))
        .at(-1) ?? '';
    const flags = values as Record<string, string | string[] | boolean | undefined>;
    const ask = Boolean(values.interactive) || (!values.name && !flags.node && Boolean(process.stdin.isTTY) && !values.json);
    const answers = ask ? await interview(ctx, flags, newest) : fromFlags(flags, newest);
    const target = resolve(s.cwd, (values.out as string | undefined) ?? `${answers.name}.yaml`);
    if (await stat(target).catch(() => null))
      throw new InputError(`${target} exists; gen init never overwrites a blueprint`, [], 'give another --out, or remove the file first');
    const text = `# Site ${answers.name}, written by gen init. Every field not given here takes its default: gen validate and gen plan show the result.\n${stringify(scaffoldSite(answers), { version: '1.1', aliasDuplicateObjects: false })}`;
    // Checked as gen validate checks a file, from a temporary file beside the target; renamed only when valid.
    const tmp = join(dirname(target), `.${basename(target)}.init-${process.pid}`);
    await writeFile(tmp, text, { mode: 0o644, flag: 'wx' });
    try {
      const loaded = await loadSite(realFs, { site: tmp, cwd: s.cwd, root: ctx.root, clock: { now: () => new Date() } });
      const issues: Issue[] = loaded.issues.map((i) => ({ ...i, file: target }));
      if (hasErrors(issues) || !loaded.resolved)
        throw new InputError(
          `the blueprint for ${answers.name} is not valid; nothing was written`,
          issues,
          'fix the values given (the lines are those of the blueprint gen init would write)',
        );
      if (issues.length) reportIssues(s, issues);
      // link() fails if the target appeared meanwhile: never an overwrite.
      await link(tmp, target);
      if (values.json)
        s.out(
          JSON.stringify(
            { file: target, site: answers.name, nodes: loaded.resolved.nodes.map((n) => ({ name: n.name, address: n.cidr, roles: n.roles })) },
            null,
            2,
          ),
        );
      else {
        s.out(
          `${paint(s, 'green', 'written')}: ${target} (${loaded.resolved.nodes.length} node(s), Kubernetes ${loaded.resolved.kubernetes.version}, ${loaded.resolved.kubernetes.mode} mode)`,
        );
        s.out(`next: gen plan --site ${target}, then gen bundle --site ${target}`);
      }
      return EXIT.ok;
    } finally {
      await rm(tmp, { force: true });
    }
  },
};

function oneOf<T extends string>(flag: string, raw: string | undefined, allowed: readonly T[], fallback: T): T {
  if (raw === undefined || raw === '') return fallback;
  if ((allowed as readonly unknown[]).includes(raw)) return raw as T;
  throw new InputError(`--${flag} ${raw}: expected ${allowed.join(', ')}`);
}

function osOf(raw: string | undefined): ScaffoldAnswers['os'] {
  const m = /^([a-z]+)(?:-(.+))?$/.exec(raw ?? 'debian-12');
  if (!m) throw new InputError(`--os ${raw}: expected FAMILY or FAMILY-VERSION, e.g. debian-12`);
  return { family: m[1]!, ...(m[2] ? { version: m[2] } : {}) };
}

function fromFlags(v: Record<string, string | string[] | boolean | undefined>, newest: string): ScaffoldAnswers {
  const nodes = (v.node as string[] | undefined) ?? [];
  if (!v.name || !nodes.length)
    throw new InputError(
      '--name and at least one --node are needed (or a terminal, where init asks for them)',
      [],
      'e.g. gen init --name lab2 --node k8s-01,192.168.93.45/24 --node k8s-02,192.168.93.46/24',
    );
  return {
    name: String(v.name),
    version: (v.version as string | undefined) ?? newest,
    mode: oneOf('mode', v.mode as string | undefined, MODES, 'binary'),
    ...(v.network ? { network: oneOf('network', v.network as string | undefined, NETWORKS, 'flannel') } : {}),
    os: osOf(v.os as string | undefined),
    nodes: nodes.map(parseNodeFlag),
    ...(v.gateway ? { gateway: String(v.gateway) } : {}),
    ...(v.dns ? { dns: v.dns as string[] } : {}),
  };
}

/** The same answers by questions (stdin, prompts on stderr); a flag given already is not asked again. */
async function interview(ctx: CommandContext, v: Record<string, string | string[] | boolean | undefined>, newest: string): Promise<ScaffoldAnswers> {
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: Boolean(process.stdin.isTTY) });
  const lines = rl[Symbol.asyncIterator]();
  const q = async (question: string, fallback = ''): Promise<string> => {
    ctx.streams.errRaw?.(`${question}${fallback ? ` [${fallback}]` : ''}: `);
    const next = await lines.next();
    if (next.done) throw new InputError(`gen init: no answer to "${question}" (input ended)`);
    return next.value.trim() || fallback;
  };
  try {
    const answered: Record<string, string | string[] | boolean | undefined> = { ...v };
    answered.name ??= await q('site name (a DNS label)');
    answered.mode ??= await q('mode (binary or kubeadm)', 'binary');
    answered.version ??= await q('Kubernetes version', newest);
    answered.network ??= await q('network plugin (flannel, calico or bridge)', 'flannel');
    answered.os ??= await q('OS of the nodes (family-version)', 'debian-12');
    if (!answered.node) {
      const count = Number(await q('how many nodes', '3'));
      if (!Number.isInteger(count) || count < 1 || count > 500) throw new InputError('the number of nodes must be a whole number from 1 to 500');
      const nodes: string[] = [];
      for (let i = 0; i < count; i++) {
        const name = await q(`node ${i + 1} name`, `${String(answered.name)}-${String(i + 1).padStart(2, '0')}`);
        const address = await q(`node ${i + 1} address with prefix (e.g. 192.168.93.45/24)`);
        const roles = await q(`node ${i + 1} roles, +-separated`, i === 0 ? 'control-plane+etcd+worker' : 'worker');
        const mac = await q(`node ${i + 1} MAC (empty: any NIC)`);
        nodes.push([name, address, roles, mac].filter(Boolean).join(','));
      }
      answered.node = nodes;
    }
    answered.gateway ??= (await q("gateway (empty: the first address of the first node's subnet)")) || undefined;
    return fromFlags(answered, newest);
  } finally {
    rl.close();
  }
}
