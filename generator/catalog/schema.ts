import { z } from 'zod';
import { keysOfSchemaAt } from '../input/structured.js';
import {
  ADDONS,
  ARCHES,
  ARTIFACT_FORMATS,
  ETCD_TOPOLOGIES,
  HASH_ALGORITHMS,
  LOAD_BALANCERS,
  MODES,
  NETWORK_PLUGINS,
  OS_FAMILIES,
  PROXY_MODES,
  ROLES,
} from '../model/index.js';

const roles = z.array(z.enum(ROLES));
const condition = z
  .strictObject({
    mode: z.enum(MODES).optional(),
    network: z.enum(NETWORK_PLUGINS).optional(),
    addon: z.enum(ADDONS).optional(),
    roles: roles.optional(),
    /** Who runs etcd: kubeseed's units (external; binary mode always) or kubeadm's static pods (stacked). */
    etcdTopology: z.enum(ETCD_TOPOLOGIES).optional(),
    osFamilies: z.array(z.enum(OS_FAMILIES)).min(1).optional(),
  })
  .default({});

const checksum = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('pinned') }),
  z.strictObject({ kind: z.literal('hash-file'), algorithm: z.enum(HASH_ALGORITHMS), path: z.string().min(1) }),
  z.strictObject({ kind: z.literal('sums-file'), algorithm: z.enum(HASH_ALGORITHMS), path: z.string().min(1), entry: z.string().min(1) }),
]);

export const catalogFileSchema = z.strictObject({
  apiVersion: z.literal('kubeseed/v1alpha1'),
  kind: z.literal('Catalog'),
  sources: z.record(z.string(), z.url()),
  lifecycle: z
    .record(
      z.string().regex(/^1\.\d+$/, { error: 'must be a minor such as 1.34' }),
      z.strictObject({ endOfLife: z.iso.date({ error: 'must be a date YYYY-MM-DD' }), source: z.string().min(1) }),
    )
    .default({}),
  components: z.record(
    z.string(),
    z.strictObject({
      description: z.string(),
      versionOf: z.string(),
      source: z.string(),
      path: z.string().min(1),
      format: z.enum(ARTIFACT_FORMATS),
      /** A release may leave an optional component out (e.g. crictl, a debugging aid). */
      optional: z.boolean().default(false),
      checksum,
      when: condition,
      replaces: z.string().optional(),
    }),
  ),
});

const sha256 = z.string().regex(/^[0-9a-f]{64}$/, { error: 'is not a lower-case hex sha256' });

export const releaseFileSchema = z.strictObject({
  version: z
    .string()
    .regex(/^v\d+\.\d+\.\d+(-[0-9A-Za-z]+(\.[0-9A-Za-z]+)*)?$/, { error: 'must look like v1.34.2 (a local build may add a suffix: v1.20.3-kubeseed.1)' }),
  provenance: z.array(z.string()).min(1),
  arch: z.array(z.enum(ARCHES)).min(1),
  versions: z.record(z.string(), z.string()),
  pinned: z.record(z.string(), z.record(z.string(), sha256)).default({}),
  images: z.array(
    z.strictObject({
      name: z.string(),
      ref: z.string().regex(/^[a-z0-9.-]+(:\d+)?\/[^:@\s]+(:[\w.-]+)$/, { error: 'must be a full reference: registry/repository:tag' }),
      aliases: z.array(z.string()).default([]),
      when: condition,
    }),
  ),
  knownBad: z.strictObject({ reason: z.string().min(1), hint: z.string().min(1) }).optional(),
});

/** Debian policy 5.6.1: lower case letters, digits, "+", "-", "."; at least two, starting alphanumeric. */
export const DEB_PACKAGE_NAME = /^[a-z0-9][a-z0-9+.-]+$/;
const debName = z.string().regex(DEB_PACKAGE_NAME, { error: 'is not a Debian package name' });
const osArchive = z.strictObject({
  keys: z.string().min(1),
  sources: z.record(z.enum(ARCHES), z.string()),
  defaultRelease: z.string(),
  releases: z.record(
    z.string(),
    z.strictObject({ suite: z.string().regex(/^[a-z0-9][a-z0-9.-]*$/), components: z.array(z.string().regex(/^[a-z0-9-]+$/)).min(1) }),
  ),
  baseline: z.array(debName).default([]),
});

export const ospkgFileSchema = z.strictObject({
  apiVersion: z.literal('kubeseed/v1alpha1'),
  kind: z.literal('OsPackages'),
  families: z.strictObject({ debian: osArchive.optional(), ubuntu: osArchive.optional() }),
  needs: z.array(
    z.strictObject({
      why: z.string().min(1),
      when: z
        .strictObject({
          proxyMode: z.enum(PROXY_MODES).optional(),
          loadBalancer: z.enum(LOAD_BALANCERS).optional(),
          ntp: z.boolean().optional(),
          mode: z.enum(MODES).optional(),
          roles: roles.optional(),
        })
        .default({}),
      packages: z.strictObject({ debian: z.array(debName).optional(), ubuntu: z.array(debName).optional() }),
    }),
  ),
});

export const catalogKeys = (segments: readonly PropertyKey[]) => keysOfSchemaAt(catalogFileSchema, segments);
export const releaseKeys = (segments: readonly PropertyKey[]) => keysOfSchemaAt(releaseFileSchema, segments);
export const ospkgKeys = (segments: readonly PropertyKey[]) => keysOfSchemaAt(ospkgFileSchema, segments);
