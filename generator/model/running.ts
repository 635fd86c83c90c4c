import type { BundledRelease } from './catalog.js';

/**
 * The site as it was last delivered (gen bundle's delivery record in the state): what the rules
 * for a running site compare a changed blueprint against, and what a joining etcd member needs to
 * know about the members already there.
 */

export interface RunningNode {
  name: string;
  /** The node's address when it was delivered; null in a record written before kubeseed kept it. */
  ip: string | null;
  /** Whether the node runs an etcd member (its roles, or in an older record its etcd unit file). */
  etcd: boolean;
  /** Its roles when it was delivered; null in an older record. */
  roles: string[] | null;
  /** Its etcd member joined a running cluster (rather than founding it). */
  joined: boolean;
}

export interface RunningSite {
  /** The site revision of the last bundle. */
  revision: number;
  /** The networks and DNS domain the nodes were configured with; null in an older record. */
  network: { serviceCIDR: string; podCIDR: string; clusterDomain: string } | null;
  nodes: RunningNode[];
  /** The catalog release of the last bundle (the version-skew rules start from it); null in an older record. */
  release?: BundledRelease | null;
}
