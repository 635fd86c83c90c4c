import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { closeServer, freePort, listenLoopback } from './loopback.js';

function run(cmd: string, args: string[], opts: { cwd?: string } = {}): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts });
}

async function waitFor(check: () => Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check().catch(() => false)) return;
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

function httpStatus(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

export interface TestImage {
  /** Tag in the layout of the multi-arch index (linux/amd64 + linux/arm64/v8). */
  tag: string;
}

/**
 * Builds test images with umoci: one busybox-static layer shared by all, plus a small layer of
 * each image's own, for linux/amd64 and linux/arm64, joined by an OCI index per image.
 */
export function buildTestImages(
  dir: string,
  names: string[],
  sizes: { baseBytes?: number; ownBytes?: number } = {},
): { layout: string; tags: Map<string, string> } {
  const layout = join(dir, 'layout');
  run('umoci', ['init', '--layout', layout]);
  run('umoci', ['new', '--image', `${layout}:base`]);
  const base = join(dir, 'unpacked-base');
  run('umoci', ['unpack', '--rootless', '--image', `${layout}:base`, base]);
  mkdirSync(join(base, 'rootfs', 'bin'), { recursive: true });
  copyFileSync('/bin/busybox', join(base, 'rootfs', 'bin', 'busybox'));
  if (sizes.baseBytes) writeFileSync(join(base, 'rootfs', 'filler'), randomBytes(sizes.baseBytes));
  run('umoci', ['repack', '--image', `${layout}:base`, base]);
  const tags = new Map<string, string>();
  names.forEach((name, i) => {
    const b = join(dir, `unpacked-${i}`);
    run('umoci', ['unpack', '--rootless', '--image', `${layout}:base`, b]);
    mkdirSync(join(b, 'rootfs', 'etc'), { recursive: true });
    writeFileSync(join(b, 'rootfs', 'etc', 'kubeseed-test-image'), `${name}\n${randomBytes(8).toString('hex')}\n`);
    if (sizes.ownBytes) writeFileSync(join(b, 'rootfs', 'etc', 'filler'), randomBytes(sizes.ownBytes));
    run('umoci', ['repack', '--image', `${layout}:img${i}`, b]);
    for (const arch of ['amd64', 'arm64']) {
      run('umoci', [
        'config',
        '--image',
        `${layout}:img${i}`,
        '--tag',
        `img${i}-${arch}`,
        '--os',
        'linux',
        '--architecture',
        arch,
        '--config.entrypoint',
        '/bin/busybox',
      ]);
    }
    const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as {
      manifests: { mediaType: string; digest: string; size: number; annotations?: Record<string, string> }[];
    };
    const entry = (tag: string) => index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag)!;
    const multi = {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        {
          mediaType: entry(`img${i}-amd64`).mediaType,
          digest: entry(`img${i}-amd64`).digest,
          size: entry(`img${i}-amd64`).size,
          platform: { architecture: 'amd64', os: 'linux' },
        },
        {
          mediaType: entry(`img${i}-arm64`).mediaType,
          digest: entry(`img${i}-arm64`).digest,
          size: entry(`img${i}-arm64`).size,
          platform: { architecture: 'arm64', os: 'linux', variant: 'v8' },
        },
      ],
    };
    const bytes = Buffer.from(JSON.stringify(multi));
    const hex = createHash('sha256').update(bytes).digest('hex');
    writeFileSync(join(layout, 'blobs', 'sha256', hex), bytes);
    index.manifests.push({
      mediaType: multi.mediaType,
      digest: `sha256:${hex}`,
      size: bytes.length,
      annotations: { 'org.opencontainers.image.ref.name': `img${i}-multi` },
    });
    writeFileSync(join(layout, 'index.json'), JSON.stringify(index));
    tags.set(name, `img${i}-multi`);
  });
  return { layout, tags };
}

/** Debian's docker-registry (distribution 2.8) on a loopback port, anonymous or with htpasswd basic auth. */
export class TestRegistry {
  private proc: ChildProcess | null = null;
  port = 0;
  log = '';

  constructor(
    private readonly dir: string,
    private readonly auth?: { user: string; password: string },
  ) {}

  get host(): string {
    return `127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    this.port = await freePort();
    mkdirSync(join(this.dir, 'data'), { recursive: true });
    const lines = [
      'version: 0.1',
      'log:',
      '  level: warn',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${join(this.dir, 'data')}`,
      'http:',
      `  addr: 127.0.0.1:${this.port}`,
    ];
    if (this.auth) {
      writeFileSync(join(this.dir, 'htpasswd'), run('htpasswd', ['-nbB', this.auth.user, this.auth.password]).trim() + '\n');
      lines.push('auth:', '  htpasswd:', '    realm: kubeseed-test', `    path: ${join(this.dir, 'htpasswd')}`);
    }
    writeFileSync(join(this.dir, 'config.yml'), `${lines.join('\n')}\n`);
    this.proc = spawn('docker-registry', ['serve', join(this.dir, 'config.yml')], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc.stderr!.on('data', (d: Buffer) => (this.log += d.toString()));
    this.proc.stdout!.on('data', (d: Buffer) => (this.log += d.toString()));
    await waitFor(async () => [200, 401].includes(await httpStatus(`http://${this.host}/v2/`)), `docker-registry on ${this.host}: ${this.log}`);
    return this;
  }

  /** skopeo copy of a layout tag (an index: every platform) to `repo:tag` on this registry. */
  push(layout: string, layoutTag: string, target: string, format: 'oci' | 'v2s2' = 'oci'): void {
    const creds = this.auth ? ['--dest-creds', `${this.auth.user}:${this.auth.password}`] : [];
    run('skopeo', [
      'copy',
      '--all',
      '--quiet',
      '--format',
      format,
      '--dest-tls-verify=false',
      ...creds,
      `oci:${layout}:${layoutTag}`,
      `docker://${this.host}/${target}`,
    ]);
  }

  /** The digest the registry reports for a tag (Docker-Content-Digest of the manifest or index). */
  digest(target: string): string {
    const creds = this.auth ? ['--creds', `${this.auth.user}:${this.auth.password}`] : [];
    const raw = execFileSync('skopeo', ['inspect', '--raw', '--tls-verify=false', ...creds, `docker://${this.host}/${target}`]);
    return `sha256:${createHash('sha256').update(raw).digest('hex')}`;
  }

  async stop(): Promise<void> {
    if (!this.proc || this.proc.exitCode !== null) return;
    const done = new Promise((r) => this.proc!.once('exit', r));
    this.proc.kill('SIGTERM');
    await done;
  }
}

/**
 * A bearer-token gateway in front of a registry, shaped like registry.k8s.io's and Docker Hub's:
 * /v2/ answers 401 with `WWW-Authenticate: Bearer realm=…,service=…,scope=…` until a token from
 * its /token endpoint is presented; the token endpoint wants basic credentials.
 */
export class BearerGateway {
  private server: Server | null = null;
  readonly tokensIssued: string[] = [];
  port = 0;

  constructor(
    private readonly upstreamPort: number,
    private readonly creds: { user: string; password: string },
  ) {}

  async start(): Promise<this> {
    const token = randomBytes(16).toString('hex');
    this.server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname === '/token') {
        const basic = `Basic ${Buffer.from(`${this.creds.user}:${this.creds.password}`).toString('base64')}`;
        if (
          req.headers.authorization !== basic ||
          url.searchParams.get('service') !== 'kubeseed-test' ||
          !/^repository:[a-z0-9/._-]+:pull$/.test(url.searchParams.get('scope') ?? '')
        ) {
          res.writeHead(401).end();
          return;
        }
        this.tokensIssued.push(url.searchParams.get('scope')!);
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token, expires_in: 300 }));
        return;
      }
      if (req.headers.authorization !== `Bearer ${token}`) {
        const repo = /^\/v2\/(.+)\/(manifests|blobs)\//.exec(url.pathname)?.[1];
        res
          .writeHead(401, {
            'www-authenticate': `Bearer realm="http://127.0.0.1:${this.port}/token",service="kubeseed-test"${repo ? `,scope="repository:${repo}:pull"` : ''}`,
          })
          .end();
        return;
      }
      const headers = { ...req.headers };
      delete headers.authorization;
      const up = httpRequest({ host: '127.0.0.1', port: this.upstreamPort, path: req.url, method: req.method, headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      up.on('error', () => res.destroy());
      req.pipe(up);
    });
    this.port = await listenLoopback(this.server);
    return this;
  }

  async stop(): Promise<void> {
    await closeServer(this.server);
  }
}

/** Debian's containerd with its own root, state and socket under `dir`; the CRI plugin is off. */
export class TestContainerd {
  private proc: ChildProcess | null = null;
  log = '';
  constructor(private readonly dir: string) {}

  get socket(): string {
    return join(this.dir, 'containerd.sock');
  }

  async start(): Promise<this> {
    const cfg = [
      'version = 2',
      `root = "${join(this.dir, 'root')}"`,
      `state = "${join(this.dir, 'state')}"`,
      'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
      '[grpc]',
      `  address = "${this.socket}"`,
      '[ttrpc]',
      `  address = "${this.socket}.ttrpc"`,
    ].join('\n');
    writeFileSync(join(this.dir, 'config.toml'), `${cfg}\n`);
    this.proc = spawn('containerd', ['--config', join(this.dir, 'config.toml')], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc.stderr!.on('data', (d: Buffer) => (this.log += d.toString()));
    await waitFor(() => Promise.resolve(existsSync(this.socket) && this.ctr(['version']).includes('Server')), `containerd: ${this.log}`);
    return this;
  }

  ctr(args: string[]): string {
    return run('ctr', ['--address', this.socket, ...args]);
  }

  async stop(): Promise<void> {
    if (!this.proc || this.proc.exitCode !== null) return;
    const done = new Promise((r) => this.proc!.once('exit', r));
    this.proc.kill('SIGTERM');
    await done;
  }
}
