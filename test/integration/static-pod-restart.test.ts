import test from 'ava';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FILES, installTarget } from '../../generator/model/layout.js';
import { renderLab1 } from '../goldens.js';
import { fixtureCache } from '../helpers.js';
import { renderedNodes } from '../update-scenarios.js';

/**
 * How an update restarts kubeadm's static pods, against a real containerd: the shell functions the
 * update carries (rendered into every node's scripts) find the running container of a static pod
 * by the kubelet's label in the k8s.io namespace, end its task, and then see no running container
 * of that name until a new one (the kubelet's, here started by the test) runs. Debian's containerd
 * and ctr; the image is the e2e pause image.
 */

const IMAGES = join(fixtureCache, 'e2e-artifacts', 'images-amd64.oci.tar');
const dir = mkdtempSync(join(tmpdir(), 'kubeseed-static-pod-'));
let containerd: ChildProcess | undefined;
const sock = join(dir, 'c.sock');
const ctr = (...args: string[]) => execFileSync('ctr', ['-a', sock, '-n', 'k8s.io', ...args], { encoding: 'utf8' });

test.after.always(() => {
  // Tasks first (their shims and rootfs mounts outlive containerd), then containerd, then the files.
  if (containerd && existsSync(sock)) {
    for (const id of ctr('containers', 'ls', '-q').split('\n').filter(Boolean)) {
      spawnSync('ctr', ['-a', sock, '-n', 'k8s.io', 'tasks', 'kill', '-s', 'SIGKILL', id]);
      spawnSync('ctr', ['-a', sock, '-n', 'k8s.io', 'tasks', 'delete', '-f', id]);
      spawnSync('ctr', ['-a', sock, '-n', 'k8s.io', 'containers', 'delete', id]);
    }
  }
  containerd?.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/** The functions between the restart partial's static-pod markers, with the node's ctr pointed at this containerd. */
async function staticPodFunctions(): Promise<string> {
  const lab1 = await renderLab1();
  const nodes = await renderedNodes(lab1.site, lab1.catalog, lab1.state);
  const firstboot = nodes[0]!.files.find((f) => f.path === FILES.firstboot)!.content;
  const from = firstboot.indexOf('declare -A stopped=()');
  const to = firstboot.indexOf('# kubeadm renews the client certificates');
  if (from < 0 || to < from) throw new Error('the static-pod functions are not in first boot');
  const wrapper = join(dir, 'ctr');
  writeFileSync(wrapper, `#!/bin/sh\nexec ctr -a ${sock} "$@"\n`);
  chmodSync(wrapper, 0o755);
  return firstboot.slice(from, to).replaceAll(`'${installTarget('containerd')}/ctr'`, wrapper);
}

const run = (name: string, image: string) =>
  ctr('run', '-d', '--label', `io.kubernetes.container.name=${name}`, '--label', 'io.kubernetes.pod.namespace=kube-system', image, `${name}-${Date.now()}`);

test('a static pod restart ends the running container named by the kubelet label, and waits for another one', async (t) => {
  t.timeout(120_000);
  t.true(existsSync(IMAGES), `no e2e images at ${IMAGES}: run scripts/e2e/setup.sh`);
  writeFileSync(join(dir, 'config.toml'), `version = 2\nroot = "${dir}/root"\nstate = "${dir}/state"\n[grpc]\n  address = "${sock}"\n`);
  containerd = spawn('containerd', ['--config', join(dir, 'config.toml')], { stdio: 'ignore' });
  for (let i = 0; i < 100 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 100));
  ctr('images', 'import', IMAGES);
  const image = ctr('images', 'ls', '-q')
    .split('\n')
    .find((i) => i.includes('pause'))!;
  run('kube-apiserver', image);
  run('kube-scheduler', image);
  const fns = await staticPodFunctions();
  const bash = (script: string) => execFileSync('bash', ['-c', `set -eu\n${fns}\n${script}`], { encoding: 'utf8' }).trim();

  const [apiserver] = bash('static_ids kube-apiserver').split('\n');
  t.regex(apiserver!, /^kube-apiserver-\d+$/);
  const [scheduler] = bash('static_ids kube-scheduler').split('\n');
  t.regex(scheduler!, /^kube-scheduler-\d+$/);
  t.is(bash('static_ids kube-controller-manager'), '', 'no container of that name: nothing');

  // Restart: the apiserver's task ends; until another container of that name runs, it is not back.
  t.is(bash('restart_static_pod kube-apiserver; sleep 1; if static_running kube-apiserver; then echo back; else echo down; fi'), 'down');
  t.regex(ctr('tasks', 'ls'), new RegExp(`^${apiserver}\\s+\\d+\\s+STOPPED`, 'm'));
  t.regex(ctr('tasks', 'ls'), new RegExp(`^${scheduler}\\s+\\d+\\s+RUNNING`, 'm'), 'the other static pods keep running');
  // The kubelet's new container: a running one with another id.
  run('kube-apiserver', image);
  t.is(bash(`stopped[kube-apiserver]=${apiserver}; if static_running kube-apiserver; then echo back; else echo down; fi`), 'back');
});
