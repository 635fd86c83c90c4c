import { z } from 'zod';

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
}

export interface DeliveryRecord {
  revision: number;
  nodes: Record<string, NodeRecord>;
}

export const DELIVERY_RECORD = 'delivered.json';

const revision = z.number().int().min(1);
const nodePath = z.string().regex(/^\/[^\0\n\s]+$/);
const schema = z.strictObject({
  apiVersion: z.literal('kubeseed/v1alpha1'),
  kind: z.literal('DeliveryRecord'),
  revision,
  nodes: z.record(
    z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/),
    z.strictObject({
      revision,
      base: revision.nullable(),
      files: z.record(
        nodePath,
        z.strictObject({ sha256: z.string().regex(/^[0-9a-f]{64}$/), mode: z.string().regex(/^0[0-7]{3}$/), since: revision, added: revision }),
      ),
      removed: z.record(nodePath, revision),
    }),
  ),
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
  return { revision: r.data.revision, nodes: r.data.nodes };
}

export function serializeRecord(r: DeliveryRecord): string {
  return `${JSON.stringify({ apiVersion: 'kubeseed/v1alpha1', kind: 'DeliveryRecord', revision: r.revision, nodes: r.nodes }, null, 2)}\n`;
}
