import { z } from 'zod';
import type { BundledRelease } from '../model/index.js';
import { unitPath } from '../model/layout.js';
import type { RunningSite } from '../model/running.js';

export type { BundledRelease };

/**
 * What every node got last, kept in the site state directory (`delivered.json`, beside the PKI
 * revisions; see docs/decisions.md): per node, each file's sha256 and mode, and the site revision
 * at which the node's files last changed. The site revision counts bundles that changed some
 * node's files; it is what manifest.json, the update and the node (`kubeseed-status`) name.
 */

export interface DeliveredFile {
  sha256: string;
  mode: string;
  /** The site revision at which this content (and mode) first went to the node. */
  since: number;
  /** The site revision at which the node first got this path. */
  added: number;
}

export interface NodeRecord {
  /** The site revision at which this node's files last changed. */
  revision: number;
  /** The revision the node's last update was made against; null while the node has had none (it installed from its seed). */
  base: number | null;
  files: Record<string, DeliveredFile>;
  /** Paths the node no longer gets, with the revision that took each away. */
  removed: Record<string, number>;
  /**
   * The payload's downloads the node installed (by component, and `images` for the image archive):
   * the payload file's name and sha256 and the revision it first went to the node. Absent in records
   * written before upgrades existed, and for nodes bundled without a payload.
   */
  artifacts?: Record<string, DeliveredArtifact>;
}

export interface DeliveredArtifact {
  file: string;
  sha256: string;
  since: number;
}

/** What the rules for a running site compare a changed blueprint against (generator/site/rules/running.ts). */
export interface SiteRecord {
  serviceCIDR: string;
  podCIDR: string;
  clusterDomain: string;
  /** Every recorded node's address (without prefix) and roles. */
  nodes: Record<string, { ip: string; roles: string[]; joined?: true }>;
}

/** A node the site no longer has, taken out of the cluster by another node's update. */
export interface DepartedNode {
  /** Its address and roles when it left (null: an older record did not keep them). */
  ip: string | null;
  roles: string[] | null;
  etcd: boolean;
  /** The site revision whose update takes it out, and the node whose update that is. */
  revision: number;
  by: string;
}

export interface DeliveryRecord {
  revision: number;
  /** Absent in records written before releases were recorded (the next bundle adds it). */
  release?: BundledRelease;
  nodes: Record<string, NodeRecord>;
  /** Nodes taken out (kept so that a bundle made again carries the same update). */
  departed?: Record<string, DepartedNode>;
  /** Absent in a record written before kubeseed kept it (the next bundle adds it). */
  site?: SiteRecord;
}

export const DELIVERY_RECORD = 'delivered.json';

const revision = z.number().int().min(1);
const nodePath = z.string().regex(/^\/[^\0\n\s]+$/);
const nodeName = z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
const siteSchema = z.strictObject({
  serviceCIDR: z.string().min(1),
  podCIDR: z.string().min(1),
  clusterDomain: z.string().min(1),
  nodes: z.record(nodeName, z.strictObject({ ip: z.string().min(1), roles: z.array(z.string().min(1)), joined: z.literal(true).optional() })),
});
const schema = z.strictObject({
  apiVersion: z.literal('kubeseed/v1alpha1'),
  kind: z.literal('DeliveryRecord'),
  revision,
  release: z.strictObject({ kubernetes: z.string().min(1), versions: z.record(z.string(), z.string()) }).optional(),
  nodes: z.record(
    nodeName,
    z.strictObject({
      revision,
      base: revision.nullable(),
      files: z.record(
        nodePath,
        z.strictObject({ sha256: z.string().regex(/^[0-9a-f]{64}$/), mode: z.string().regex(/^0[0-7]{3}$/), since: revision, added: revision }),
      ),
      removed: z.record(nodePath, revision),
      artifacts: z
        .record(
          z.string().regex(/^[a-z0-9][-a-z0-9]*$/),
          z.strictObject({ file: z.string().regex(/^[A-Za-z0-9][-A-Za-z0-9._+]*$/), sha256: z.string().regex(/^[0-9a-f]{64}$/), since: revision }),
        )
        .optional(),
    }),
  ),
  site: siteSchema.optional(),
  departed: z
    .record(
      nodeName,
      z.strictObject({
        ip: z.string().min(1).nullable(),
        roles: z.array(z.string().min(1)).nullable(),
        etcd: z.boolean(),
        revision,
        by: nodeName,
      }),
    )
    .optional(),
});

/** Parses the record; returns why not for text that is not one. */
export function parseRecord(text: string): DeliveryRecord | { invalid: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    return { invalid: `is not JSON (${(e as Error).message})` };
  }
  const r = schema.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0]!;
    return { invalid: `is not a delivery record: ${i.path.join('.') || '(top)'}: ${i.message}` };
  }
  return {
    revision: r.data.revision,
    ...(r.data.release ? { release: r.data.release } : {}),
    nodes: r.data.nodes,
    ...(r.data.site ? { site: r.data.site } : {}),
    ...(r.data.departed ? { departed: r.data.departed } : {}),
  };
}

export function serializeRecord(r: DeliveryRecord): string {
  const release = r.release ? { release: { kubernetes: r.release.kubernetes, versions: sortedKeys(r.release.versions) } } : {};
  const extra = { ...(r.site ? { site: r.site } : {}), ...(r.departed && Object.keys(r.departed).length ? { departed: r.departed } : {}) };
  return `${JSON.stringify({ apiVersion: 'kubeseed/v1alpha1', kind: 'DeliveryRecord', revision: r.revision, ...release, nodes: r.nodes, ...extra }, null, 2)}\n`;
}

const sortedKeys = (o: Record<string, string>) => Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

/** The release a site is bundled with now, as the record keeps it. */
export function bundledRelease(kubernetes: string, versions: Record<string, string>): BundledRelease {
  return { kubernetes, versions: sortedKeys(versions) };
}

/**
 * The running site a record describes. A record written before it kept the site block still says
 * which nodes run etcd: those it gave an etcd unit.
 */
export function runningSite(r: DeliveryRecord): RunningSite {
  const etcdUnit = unitPath('etcd');
  const nodes = Object.keys(r.nodes)
    .sort()
    .map((name) => {
      const s = r.site?.nodes[name];
      return {
        name,
        ip: s?.ip ?? null,
        roles: s ? [...s.roles] : null,
        etcd: s ? s.roles.includes('etcd') : etcdUnit in r.nodes[name]!.files,
        joined: s?.joined === true,
      };
    });
  const network = r.site ? { serviceCIDR: r.site.serviceCIDR, podCIDR: r.site.podCIDR, clusterDomain: r.site.clusterDomain } : null;
  return { revision: r.revision, network, nodes, ...(r.release ? { release: r.release } : {}) };
}
