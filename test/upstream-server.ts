import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createConnection, createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import { closeServer, listenLoopback } from './loopback.js';

/** What the server does to one request. */
export type Fault =
  | { kind: 'ok' }
  | { kind: 'status'; status: number; retryAfter?: number }
  /** Sends `bytes` of the body, then drops the connection (a reset). */
  | { kind: 'reset'; bytes: number }
  /** Announces the full length, sends `bytes`, then closes cleanly: a truncated body. */
  | { kind: 'truncate'; bytes: number }
  /** Sends `bytes`, then goes silent for `ms` before dropping the connection. */
  | { kind: 'stall'; bytes: number; ms: number }
  /** Answers with a chain of `hops` redirects before the real file. */
  | { kind: 'redirect'; hops: number };

export interface Served {
  path: string;
  /** GET, or HEAD for a size asked by gen plan --sizes. */
  method?: string;
  range: string | null;
  status: number;
  /** Body bytes written to the socket. */
  sent: number;
}

/**
 * An upstream on loopback (dl.k8s.io, GitHub releases) that serves files with Range support and
 * misbehaves on purpose: `decide` picks the fault for each request.
 */
export class UpstreamServer {
  readonly files = new Map<string, Buffer>();
  readonly log: Served[] = [];
  decide: (path: string, req: IncomingMessage) => Fault = () => ({ kind: 'ok' });
  private server: Server | null = null;
  private readonly timers = new Set<NodeJS.Timeout>();
  port = 0;

  get base(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => this.handle(req, res));
    this.server.keepAliveTimeout = 1000;
    this.port = await listenLoopback(this.server);
    return this;
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    await closeServer(this.server);
  }

  /** Body bytes sent for `path`, over every request. */
  sentFor(path: string): number {
    return this.log.filter((l) => l.path === path).reduce((s, l) => s + l.sent, 0);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const path = url.pathname;
    const hop = /^\/hop\/(\d+)(\/.*)$/.exec(path);
    if (hop) {
      const left = Number(hop[1]);
      res.writeHead(302, { location: left > 1 ? `/hop/${left - 1}${hop[2]}` : hop[2]! }).end();
      this.log.push({ path: hop[2]!, range: null, status: 302, sent: 0 });
      return;
    }
    const body = this.files.get(path);
    const range = req.headers.range ?? null;
    const entry: Served = { path, method: req.method ?? 'GET', range, status: 0, sent: 0 };
    this.log.push(entry);
    if (!body) {
      entry.status = 404;
      res.writeHead(404).end('not found');
      return;
    }
    const fault = this.decide(path, req);
    if (fault.kind === 'status') {
      entry.status = fault.status;
      res.writeHead(fault.status, fault.retryAfter !== undefined ? { 'retry-after': String(fault.retryAfter) } : {}).end('busy');
      return;
    }
    if (fault.kind === 'redirect') {
      entry.status = 302;
      res.writeHead(302, { location: `/hop/${fault.hops}${path}` }).end();
      return;
    }
    let start = 0;
    if (range) {
      const m = /^bytes=(\d+)-$/.exec(range);
      start = m ? Number(m[1]) : 0;
      if (start >= body.length) {
        entry.status = 416;
        res.writeHead(416, { 'content-range': `bytes */${body.length}` }).end();
        return;
      }
    }
    const slice = body.subarray(start);
    entry.status = range ? 206 : 200;
    res.writeHead(entry.status, {
      'content-length': String(slice.length),
      'accept-ranges': 'bytes',
      ...(range ? { 'content-range': `bytes ${start}-${body.length - 1}/${body.length}` } : {}),
    });
    const limit = fault.kind === 'ok' ? slice.length : Math.min(fault.bytes, slice.length);
    const part = slice.subarray(0, limit);
    if (req.method !== 'HEAD') entry.sent = part.length;
    if (fault.kind === 'ok') {
      res.end(part);
      return;
    }
    res.write(part, () => {
      if (fault.kind === 'reset') res.socket?.resetAndDestroy();
      else if (fault.kind === 'truncate') res.socket?.end();
      else {
        const t = setTimeout(() => {
          this.timers.delete(t);
          res.socket?.destroy();
        }, fault.ms);
        this.timers.add(t);
      }
    });
  }
}

/**
 * A forward proxy for the proxy tests: answers CONNECT by opening a tunnel to the loopback server
 * for whatever host was asked for, and records each host. Nothing leaves the machine.
 */
export class TunnelProxy {
  readonly hosts: string[] = [];
  private server: TcpServer | null = null;
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(private readonly targetPort: number) {}

  async start(): Promise<this> {
    this.server = createTcpServer((client) => {
      this.sockets.add(client);
      client.on('close', () => this.sockets.delete(client));
      client.once('data', (head) => {
        const m = /^CONNECT ([^\s:]+):(\d+) HTTP\/1\.[01]\r\n/.exec(head.toString('latin1'));
        if (!m) {
          client.end('HTTP/1.1 405 only CONNECT\r\n\r\n');
          return;
        }
        this.hosts.push(m[1]!);
        const upstream = createConnection({ host: '127.0.0.1', port: this.targetPort }, () => {
          client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
          upstream.pipe(client);
          client.pipe(upstream);
        });
        this.sockets.add(upstream);
        upstream.on('close', () => this.sockets.delete(upstream));
        upstream.on('error', () => client.destroy());
        client.on('error', () => upstream.destroy());
      });
    });
    this.port = await listenLoopback(this.server);
    return this;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await closeServer(this.server);
  }
}

/** A small deterministic PRNG (mulberry32), so a failing randomised run can be replayed from its seed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
