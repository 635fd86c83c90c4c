import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { WrittenNode } from '../../../generator/site/index.js';
import { debianKubectl } from '../../helpers.js';
import type { Options } from './options.js';

export interface CheckResult {
  name: string;
  ok: boolean;
  detail?: string;
}

export interface RunOpts {
  input?: string;
  allowFail?: boolean;
  timeoutMs?: number;
}

/** A program run to its end; throws on a non-zero exit unless `allowFail`. */
export function run(cmd: string, args: string[], opts: RunOpts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input: opts.input, maxBuffer: 1 << 26, ...(opts.timeoutMs ? { timeout: opts.timeoutMs } : {}) });
  if (r.status !== 0 && !opts.allowFail) throw new Error(`${cmd} ${args.join(' ')} failed:\n${r.stdout}${r.stderr}`);
  return r;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Asks `done` every 5 s until it holds or `ms` of wall-clock time have passed; true if it held.
 * A clock, not a count of polls: on a slow host each kubectl call inside `done` takes seconds too.
 */
export async function pollUntil(ms: number, done: () => boolean): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (done()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(5000);
  }
}

/** The host address of a node, without its prefix length. */
export const hostOf = (n: Pick<WrittenNode, 'address'>) => n.address.split('/')[0]!;

/** One run of the harness: its options, its directory and namespace, and the checks so far. */
export class E2eRun {
  readonly work = mkdtempSync(join(tmpdir(), 'kubeseed-e2e-'));
  readonly ns = `kse2e-${process.pid}`;
  readonly results: CheckResult[] = [];
  readonly sshKey = join(this.work, 'id_ed25519');
  /** The bundle's operator output (`gen bundle` writes it below the run's directory). */
  readonly dist: string;
  /** The site's PKI as `gen bundle` keeps it (the harness asks etcd with the apiserver's client certificate). */
  readonly pkiState: string;
  private readonly t0 = Date.now();

  constructor(readonly opts: Options) {
    const out = join(this.work, 'output', opts.site.metadata.name);
    this.dist = join(out, 'dist');
    this.pkiState = join(out, 'state', 'current', 'pki');
  }

  get site() {
    return this.opts.site;
  }

  get failed(): boolean {
    return this.results.some((r) => !r.ok);
  }

  log(m: string): void {
    console.log(`[e2e ${((Date.now() - this.t0) / 1000).toFixed(0).padStart(4)} s] ${m}`);
  }

  check(name: string, ok: boolean, detail?: string): void {
    this.results.push({ name, ok, ...(detail ? { detail } : {}) });
    this.log(`${ok ? 'PASS' : 'FAIL'} ${name}${detail ? ` — ${detail}` : ''}`);
  }

  inNs(cmd: string, args: string[], opts: RunOpts = {}) {
    return run('ip', ['netns', 'exec', this.ns, cmd, ...args], opts);
  }

  // Bounded: an overloaded apiserver makes kubectl retry discovery for minutes, which would stall the
  // deadline loop and keep Ctrl-C (handled between calls) from cleaning up.
  kubectl(args: string[], opts: { input?: string; allowFail?: boolean } = {}) {
    return this.inNs(debianKubectl, ['--kubeconfig', join(this.dist, 'admin', 'admin.kubeconfig'), '--request-timeout=30s', ...args], {
      timeoutMs: 90_000,
      ...opts,
    });
  }

  /**
   * A shell script run on a node as root, over ssh inside the namespace (the key reaches the guest through the site's sshAuthorizedKeys); on stdin, so no shell on the way rewrites it.
   * A loaded guest's sshd can take tens of seconds to answer, and an empty answer must not pass for a result: 60 s to connect unless a poll asks for less.
   * The whole command may run `timeoutS` (120 s: a check; an update's apply restarts a control plane and waits for it).
   */
  ssh(node: Pick<WrittenNode, 'address'>, command: string, allowFail = true, connectTimeoutS = 60, timeoutS = 120) {
    return this.inNs(
      'ssh',
      [
        '-i',
        this.sshKey,
        '-o',
        'StrictHostKeyChecking=no',
        '-o',
        'UserKnownHostsFile=/dev/null',
        '-o',
        'LogLevel=ERROR',
        '-o',
        `ConnectTimeout=${connectTimeoutS}`,
        '-o',
        'BatchMode=yes',
        `debian@${hostOf(node)}`,
        'sudo sh -s',
      ],
      { input: command, allowFail, timeoutMs: timeoutS * 1000 },
    );
  }

  serialLog(node: string): string {
    return join(this.work, `serial-${node}.log`);
  }

  /** What the node has written to its serial console so far. */
  serial(node: string): string {
    const f = this.serialLog(node);
    return existsSync(f) ? readFileSync(f, 'utf8') : '';
  }
}
