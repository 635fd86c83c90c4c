/**
 * A real kube-apiserver 1.20.2 (the fixture build) with Debian's etcd behind it, on free loopback
 * ports, for the tests that apply manifests or check authorization against the real server, and
 * the node files of a rendered node laid into a temp root for it to read its certificates from.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { debianKubectl, fixtureCache } from './helpers.js';
import { freePort } from './loopback.js';

export const K8S_BIN = join(fixtureCache, 'kubernetes-v1.20.2', 'bin');

/** Writes a rendered node's files under `root`, with their modes, as first boot would lay them down. */
export function layNodeFiles(root: string, files: readonly { path: string; content: string; mode: string }[]): void {
  for (const f of files) {
    mkdirSync(dirname(join(root, f.path)), { recursive: true });
    writeFileSync(join(root, f.path), f.content, { mode: Number.parseInt(f.mode, 8) });
  }
}

/** The last 20,000 characters a process wrote on stdout and stderr. */
export interface ProcessLog {
  text: string;
}

export interface LoopbackApiserver {
  server: string;
  logs: { etcd: ProcessLog; apiserver: ProcessLog };
  /** Starts another program beside the server (e.g. the controller-manager); stopped with the rest. */
  start(bin: string, args: string[], log: ProcessLog): ChildProcess;
  /** Debian's kubectl with `kubeconfig`, pointed at this server. */
  kubectl(kubeconfig: string, args: string[], input?: string): SpawnSyncReturns<string>;
  /** Waits up to `seconds` for /readyz; returns '' when ready, else what the server and etcd said last. */
  ready: (kubeconfig: string, seconds?: number) => Promise<string>;
  stop: () => void;
}

/**
 * Starts etcd and the apiserver: certificates from `pki` (a node's /etc/kubernetes/pki laid into
 * a temp root), the service CIDR of the site, and the admission and privilege flags the test needs.
 */
export async function startApiserver(opts: { work: string; pki: string; serviceCIDR: string; flags?: string[] }): Promise<LoopbackApiserver> {
  const procs: ChildProcess[] = [];
  const start = (bin: string, args: string[], log: ProcessLog) => {
    const p = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (d: Buffer) => (log.text = (log.text + d.toString()).slice(-20000));
    p.stdout.on('data', keep);
    p.stderr.on('data', keep);
    procs.push(p);
    return p;
  };
  const [etcdClient, etcdPeer, apiPort] = [await freePort(), await freePort(), await freePort()];
  const server = `https://127.0.0.1:${apiPort}`;
  const logs = { etcd: { text: '' }, apiserver: { text: '' } };
  const etcdUrl = `http://127.0.0.1:${etcdClient}`;
  start(
    'etcd',
    [
      '--data-dir',
      join(opts.work, 'etcd'),
      '--listen-client-urls',
      etcdUrl,
      '--advertise-client-urls',
      etcdUrl,
      '--listen-peer-urls',
      `http://127.0.0.1:${etcdPeer}`,
    ],
    logs.etcd,
  );
  const { pki } = opts;
  start(
    join(K8S_BIN, 'kube-apiserver'),
    [
      `--etcd-servers=${etcdUrl}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${apiPort}`,
      '--insecure-port=0',
      `--tls-cert-file=${pki}/apiserver.crt`,
      `--tls-private-key-file=${pki}/apiserver.key`,
      `--client-ca-file=${pki}/ca.crt`,
      `--service-account-key-file=${pki}/sa.pub`,
      `--service-account-signing-key-file=${pki}/sa.key`,
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      '--authorization-mode=Node,RBAC',
      `--service-cluster-ip-range=${opts.serviceCIDR}`,
      `--cert-dir=${join(opts.work, 'apiserver-certs')}`,
      ...(opts.flags ?? []),
    ],
    logs.apiserver,
  );
  const kubectl = (kubeconfig: string, args: string[], input?: string) =>
    spawnSync(debianKubectl, ['--kubeconfig', kubeconfig, '--server', server, ...args], { encoding: 'utf8', input, timeout: 60_000 });
  return {
    server,
    logs,
    start,
    kubectl,
    async ready(kubeconfig, seconds = 120) {
      let r = kubectl(kubeconfig, ['get', '--raw', '/readyz']);
      for (let i = 0; i < seconds * 2 && r.stdout.trim() !== 'ok'; i++) {
        await new Promise((res) => setTimeout(res, 500));
        r = kubectl(kubeconfig, ['get', '--raw', '/readyz']);
      }
      return r.stdout.trim() === 'ok' ? '' : `apiserver not ready:\n${r.stderr}\n${logs.apiserver.text.slice(-3000)}\n${logs.etcd.text.slice(-1000)}`;
    },
    stop: () => {
      for (const p of procs) p.kill('SIGKILL');
    },
  };
}
