import { PUBLIC_HOST_PATTERN, type BundlePlan, type RenderedFile, type ResolvedSite } from '../model/index.js';

export interface EgressFinding {
  path: string;
  line: number;
  what: string;
}

const URL = /\b[a-z][a-z0-9+.-]*:\/\/([^/\s:'"`]+)/g;
const IMAGE = /^\s*-?\s*image:\s*["']?([^\s"']+)/;
/** kubeadm's `imageRepository`: a prefix of image names, fine when the payload carries images under it. */
const IMAGE_REPOSITORY = /^\s*imageRepository:\s*["']?([^\s"']+)/;
const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/**
 * The egress lint: every URL in a node's files must point at an address of the site, and every
 * image reference must be one the payload carries. Public hosts may appear only inside those image
 * references (containerd imports them under their original names), on systemd
 * `Documentation=` lines and in a CRD's `api-approved.kubernetes.io` annotation, which nothing fetches.
 */
export function egressLint(site: ResolvedSite, plan: BundlePlan, files: Pick<RenderedFile, 'path' | 'content'>[]): EgressFinding[] {
  // The on-site registries count as the site's own: the operator named them as inside it.
  const onSiteRegistries = Object.values(site.containerRuntime.registryMirrors)
    .flat()
    .map((u) => new globalThis.URL(u).hostname.toLowerCase());
  const siteHosts = new Set([
    '127.0.0.1',
    'localhost',
    ...site.nodes.flatMap((n) => [n.ip, n.name]),
    site.kubernetes.serviceIP,
    site.kubernetes.clusterDNS,
    ...(site.controlPlane.vip ? [site.controlPlane.vip] : []),
    ...onSiteRegistries,
  ]);
  const images = new Set(plan.images.flatMap((i) => [i.ref, ...i.aliases]));
  const keyComments = site.os.sshAuthorizedKeys.flatMap(
    (k) => /(?:ssh-|ecdsa-|sk-)[a-z0-9@.-]+\s+[A-Za-z0-9+/]+={0,2}\s+(.+)$/.exec(k.trim())?.[1]!.split(/\s+/) ?? [],
  );
  const findings: EgressFinding[] = [];
  for (const f of files) {
    f.content.split('\n').forEach((text, i) => {
      const line = i + 1;
      // Links nothing fetches: systemd's Documentation= and the API-review reference of a CRD in a protected group.
      if (text.startsWith('Documentation=') || /^\s*api-approved\.kubernetes\.io:/.test(text)) return;
      for (const m of text.matchAll(URL)) {
        const host = m[1]!.toLowerCase();
        const clusterInternal = host.endsWith('.svc') || host.endsWith(`.svc.${site.kubernetes.clusterDomain}`);
        if (!siteHosts.has(host) && !clusterInternal && !(IPV4.test(host) && isSiteAddress(site, host)))
          findings.push({ path: f.path, line, what: `URL to ${host}` });
      }
      const img = IMAGE.exec(text);
      if (img && !images.has(img[1]!)) findings.push({ path: f.path, line, what: `image ${img[1]} is not in the payload` });
      const repo = IMAGE_REPOSITORY.exec(text)?.[1];
      if (repo && [...images].some((ref) => ref.startsWith(`${repo}/`))) return;
      let rest = text;
      for (const ref of images) rest = rest.replaceAll(ref, '');
      // An authorized key's comment (user@host) is a label nothing connects to; its options are checked by gen validate.
      for (const token of keyComments) rest = rest.replaceAll(token, '');
      for (const m of rest.matchAll(PUBLIC_HOST_PATTERN)) findings.push({ path: f.path, line, what: `public host ${m[0]}` });
    });
  }
  return findings;
}

function isSiteAddress(site: ResolvedSite, ip: string): boolean {
  return site.nodes.some((n) => n.ip === ip || n.gateway === ip || n.dns.includes(ip)) || site.os.ntpServers.includes(ip);
}
