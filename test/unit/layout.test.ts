import test from 'ava';
import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { realFs } from '../../generator/io/fs.js';
import { repoRoot } from '../helpers.js';

/**
 * The node layout (generator/model/layout.ts) is the one place node paths are written. This test
 * reads every string literal of generator/ and every template and fails on a node path anywhere
 * else, so a path cannot drift between the plan, the renderers, the pack scripts and first boot.
 */

const LAYOUT = 'generator/model/layout.ts';
/** A path under a root the node layout covers, standing at the start of a word (not inside a URL). */
const NODE_PATH = /(?<![A-Za-z0-9_./:-])\/(?:etc|opt|usr|var|run|root|srv|home)(?:\/[^\s"'`;,)\]{}]*)?(?![A-Za-z0-9_-])/g;

/** Paths the distribution owns: kubeseed edits or calls them, they are not part of its layout. */
const OS_OWNED = new Set([
  '/etc/hostname',
  '/etc/fstab',
  '/etc/localtime',
  '/usr/share/zoneinfo/',
  '/etc/selinux/config',
  '/usr/bin/pidof',
  '/usr/sbin/policy-rc.d',
]);
/** Paths on the operator's machine, not on a node: the UEFI firmware Debian's qemu-efi-aarch64 installs, for arm64 VMs. */
const OPERATOR_HOST: Record<string, string[]> = {
  'generator/pack/vm.ts': ['/usr/share/qemu-efi-aarch64/QEMU_EFI.fd'],
};
/** Paths inside add-on containers (upstream manifests), and the host directories each add-on owns. */
const IN_CONTAINERS: Record<string, string[]> = {
  'generator/render/addons/coredns.ts': ['/etc/resolv.conf', '/etc/coredns', '/etc/coredns/Corefile'],
  'generator/render/addons/metrics-server.ts': ['/etc/kubernetes/ca', '/etc/kubernetes/ca/ca.crt'],
  'generator/render/addons/flannel.ts': ['/etc/kube-flannel/', '/etc/kube-flannel/cni-conf.json', '/run/flannel', '/opt/bin/flanneld', '/run/xtables.lock'],
  'generator/render/addons/calico.ts': [
    '/var/run/calico',
    '/var/lib/calico',
    '/var/run/nodeagent',
    '/var/log/calico/cni',
    '/var/log/calico/cni/cni.log',
    '/run/xtables.lock',
    '/usr/bin/check-status',
    '/opt/cni/bin/install',
  ],
  'generator/render/addons/ingress-nginx.ts': [
    '/usr/local/lib/libmimalloc.so',
    '/usr/local/certificates/',
    '/usr/local/certificates/cert',
    '/usr/local/certificates/key',
  ],
};

/** The text of every string literal and template-literal piece of a TypeScript file. */
function literals(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const out: string[] = [];
  const visit = (n: ts.Node) => {
    if (ts.isStringLiteral(n) || ts.isNoSubstitutionTemplateLiteral(n)) out.push(n.text);
    else if (ts.isTemplateHead(n) || ts.isTemplateMiddle(n) || ts.isTemplateTail(n)) out.push(n.text);
    n.forEachChild(visit);
  };
  visit(source);
  return out;
}

async function findings(): Promise<string[]> {
  const out: string[] = [];
  const check = (rel: string, texts: string[]) => {
    for (const text of texts) {
      for (const m of text.matchAll(NODE_PATH)) {
        const path = m[0];
        if (OS_OWNED.has(path) || IN_CONTAINERS[rel]?.includes(path) || OPERATOR_HOST[rel]?.includes(path)) continue;
        out.push(`${rel}: ${path}  (in ${JSON.stringify(text.length > 100 ? `${text.slice(0, 100)}…` : text)})`);
      }
      if (/node-files\.(tar|sha256)/.test(text)) out.push(`${rel}: the node-files archive or list named by hand (in ${JSON.stringify(text.slice(0, 100))})`);
    }
  };
  for (const rel of await realFs.listFiles(join(repoRoot, 'generator'))) {
    const path = `generator/${rel}`;
    if (path.endsWith('.ts') && path !== LAYOUT) check(path, literals(join(repoRoot, path)));
  }
  const templates = join(repoRoot, 'blueprints', 'templates');
  for (const rel of await realFs.listFiles(templates)) {
    if (rel.endsWith('.hbs')) check(relative(repoRoot, join(templates, rel)), [readFileSync(join(templates, rel), 'utf8')]);
  }
  return out;
}

test('no node path is written outside the node layout', async (t) => {
  t.deepEqual(await findings(), []);
});

test('the check finds a node path written by hand', (t) => {
  const found = (text: string) => [...text.matchAll(NODE_PATH)].map((m) => m[0]);
  t.deepEqual(found('ExecStart=/usr/local/bin/kubelet --config=/var/lib/kubelet/config.yaml'), ['/usr/local/bin/kubelet', '/var/lib/kubelet/config.yaml']);
  t.deepEqual(found('mkdir -p "$x" /etc/cni/net.d; cat /root'), ['/etc/cni/net.d', '/root']);
  t.deepEqual(found('https://dl.k8s.io/release/v1/bin/etc/x ${bin}/etcd unix:///run/x'), []);
});
