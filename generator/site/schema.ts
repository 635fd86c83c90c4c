import { z } from 'zod';
import { keysOfSchemaAt } from '../input/structured.js';
import {
  ADDONS,
  ARCHES,
  ETCD_TOPOLOGIES,
  FIREWALL_MODES,
  KEY_ALGORITHMS,
  LOAD_BALANCERS,
  MODES,
  NETWORK_PLUGINS,
  OS_FAMILIES,
  OUTPUT_FORMATS,
  PROXY_MODES,
  ROLES,
  TIMING_PROFILES,
} from '../model/index.js';

/**
 * The site blueprint, field by field. This is the one source of truth: validation, defaults,
 * the TypeScript type of a written site and `blueprints/schema/site.schema.json` all come from it.
 * Formats that need a good message (addresses, CIDRs, durations) are checked by the named rules
 * in `rules/`, not here, so the schema only says "a string".
 */

const text = (description: string) => z.string().min(1).describe(description);

const nodeSchema = z
  .strictObject({
    name: text('Host name of the node; a DNS-1123 label (lower case letters, digits, "-").'),
    address: text('IPv4 address with prefix length, e.g. 192.168.93.45/24.'),
    gateway: text('Default gateway; must lie inside the node subnet.'),
    dns: z.array(z.string()).default([]).describe('DNS resolvers for the node.'),
    mac: z
      .string()
      .regex(/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/, { error: 'is not a MAC address (six hex pairs separated by ":")' })
      .optional()
      .describe('MAC address of the NIC the static address is bound to (matched in network-config).'),
    arch: z.enum(ARCHES).optional().describe('CPU architecture; defaults to the first of spec.artifacts.arch.'),
    roles: z.array(z.enum(ROLES)).min(1).describe('What the node runs.'),
  })
  .describe('One machine of the site.');

export const siteSchema = z
  .strictObject({
    apiVersion: z.literal('kubeseed/v1alpha1').describe('Blueprint format version.'),
    kind: z.literal('Site'),
    metadata: z.strictObject({
      name: z
        .string()
        .regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, { error: 'must be a DNS-1123 label (lower case letters, digits and "-")' })
        .describe('Site name; names the output directory.'),
    }),
    spec: z.strictObject({
      kubernetes: z.strictObject({
        version: z
          .string()
          .regex(/^v\d+\.\d+\.\d+(-[0-9A-Za-z]+(\.[0-9A-Za-z]+)*)?$/, { error: 'must look like v1.34.2 (a local build may add a suffix: v1.20.3-kubeseed.1)' })
          .describe('Kubernetes release; must exist in the catalog.'),
        mode: z.enum(MODES).default('binary').describe('binary: systemd units as in the "hard way"; kubeadm: kubeadm init/join with pre-made certificates.'),
        clusterDomain: z.string().default('cluster.local').describe('DNS domain of the cluster.'),
        serviceCIDR: z.string().default('10.254.0.0/16').describe('Service network; the apiserver service IP is its first address.'),
        podCIDR: z.string().default('172.30.0.0/16').describe('Pod network.'),
        clusterDNS: z.string().optional().describe('Cluster DNS service IP; defaults to the second address of serviceCIDR.'),
        nodePortRange: z.string().default('30000-32767').describe('NodePort range, "from-to".'),
        proxyMode: z
          .enum(PROXY_MODES)
          .optional()
          .describe(
            "kube-proxy mode. Default: nftables from Kubernetes 1.33 (GA there, upstream's replacement for ipvs), ipvs before. nftables needs 1.31+; ipvs is deprecated from 1.35.",
          ),
        etcdTopology: z
          .enum(ETCD_TOPOLOGIES)
          .optional()
          .describe(
            'kubeadm mode: stacked (kubeadm runs etcd on each control plane) or external (etcd units on the etcd nodes, as in binary mode). Default: stacked for kubeadm, external for binary.',
          ),
      }),
      controlPlane: z
        .strictObject({
          loadBalancer: z
            .enum(LOAD_BALANCERS)
            .default('local')
            .describe('local: a proxy on every node at 127.0.0.1:8443; vip: keepalived + haproxy; none: the first control plane.'),
          vip: z.string().optional().describe('Virtual IP when loadBalancer is vip.'),
          timing: z
            .enum(TIMING_PROFILES)
            .default('standard')
            .describe(
              'standard: the upstream defaults; relaxed: five times longer etcd elections and leader leases, and node heartbeats every 20 s with a 2-minute grace, for slow, shared or emulated machines whose etcd otherwise keeps losing its leader and whose nodes flap NotReady.',
            ),
        })
        .prefault({}),
      network: z
        .strictObject({
          plugin: z.enum(NETWORK_PLUGINS).default('flannel').describe('bridge uses static routes between nodes and needs no image.'),
          interface: z.string().optional().describe('Host interface the CNI binds to; defaults to the one holding the node address.'),
        })
        .prefault({}),
      addons: z
        .array(z.enum(ADDONS))
        .default(['coredns', 'metrics-server'])
        .describe(
          'Cluster add-ons applied at first boot. dashboard (archived upstream) becomes headlamp on releases that no longer carry it; ingress-nginx is retired upstream.',
        ),
      os: z
        .strictObject({
          family: z.enum(OS_FAMILIES).default('debian'),
          version: z.string().optional().describe('OS release, e.g. "12" or "22.04"; used for version-specific warnings.'),
          resolvConf: z
            .string()
            .regex(/^\//, { error: 'must be an absolute path' })
            .optional()
            .describe(
              "resolv.conf the kubelet gives pods (absolute path); default by family: systemd-resolved's real file on Ubuntu, the system's own resolv.conf on Debian and RHEL.",
            ),
          timezone: z.string().default('UTC'),
          ntpServers: z.array(z.string()).default([]).describe('Time sources inside the site; none means the nodes keep their own clocks.'),
          sshAuthorizedKeys: z.array(z.string()).default([]),
          cgroupVersion: z
            .union([z.literal(1), z.literal(2)])
            .optional()
            .describe('cgroup hierarchy the nodes boot with; defaults to 2 (the default of current distributions).'),
          packages: z
            .array(z.string())
            .default([])
            .describe(
              "More OS packages every node installs from the payload (Debian and Ubuntu), e.g. [nfs-common]; resolved with their dependencies against the release's signed index.",
            ),
          firewall: z
            .enum(FIREWALL_MODES)
            .default('open-ports')
            .describe('open-ports opens the cluster ports in firewalld/nftables; disable switches the firewall off.'),
        })
        .prefault({}),
      pki: z
        .strictObject({
          keyAlgorithm: z.enum(KEY_ALGORITHMS).default('rsa-2048'),
          caValidity: z.string().default('87600h').describe('Lifetime of the CAs, e.g. 87600h.'),
          certValidity: z.string().default('8760h').describe('Lifetime of leaf certificates, e.g. 8760h.'),
        })
        .prefault({}),
      artifacts: z
        .strictObject({
          arch: z.array(z.enum(ARCHES)).min(1).default(['amd64']).describe('Architectures to fetch for.'),
          sources: z.record(z.string(), z.string()).default({}).describe('Base-URL overrides per catalog source, e.g. kubernetes: http://mirror.local/k8s.'),
          registryMirrors: z.record(z.string(), z.string()).default({}).describe('Registry host → mirror URL, e.g. registry.k8s.io: http://127.0.0.1:5000.'),
          catalog: z.string().optional().describe('Directory of another catalog, relative to this file.'),
        })
        .prefault({}),
      containerRuntime: z
        .strictObject({
          registryMirrors: z
            .record(z.string(), z.array(z.string()).min(1))
            .default({})
            .describe(
              'On the nodes: registry host → registries inside the site that containerd asks first, in order (hosts.toml), e.g. docker.io: [https://registry.site.internal:5000].',
            ),
        })
        .prefault({}),
      output: z
        .strictObject({
          formats: z.array(z.enum(OUTPUT_FORMATS)).min(1).default(['nocloud-iso', 'tarball']),
          embedPayload: z.boolean().default(false).describe('Put the payload inside every seed ISO.'),
        })
        .prefault({}),
      nodes: z.array(nodeSchema).min(1).describe('The machines of the site.'),
    }),
  })
  .describe('A Kubernetes site that kubeseed turns into boot seeds.');

export type WrittenSite = z.output<typeof siteSchema>;
export type WrittenNode = WrittenSite['spec']['nodes'][number];

/** The JSON Schema published for editors (`blueprints/schema/site.schema.json`). */
export function siteJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(siteSchema, { io: 'input', target: 'draft-2020-12' }) as Record<string, unknown>;
  return { $id: 'https://kubeseed.dev/schema/site.schema.json', title: 'kubeseed Site', ...schema };
}

/** Field names allowed at a path of the written document (for "did you mean" hints). */
export function knownKeysAt(segments: readonly PropertyKey[]): string[] {
  return keysOfSchemaAt(siteSchema, segments);
}
