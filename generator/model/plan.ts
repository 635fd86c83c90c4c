import type { ArtifactFormat, ChecksumSource } from './catalog.js';
import type { PlannedOsPackages } from './ospkg.js';

export interface PlannedArtifact {
  /** Unique id, `<component>@<version>/<arch>`. */
  id: string;
  component: string;
  version: string;
  arch: string;
  url: string;
  format: ArtifactFormat;
  checksum: ChecksumSource & { url?: string; sha256?: string };
  /** Known only when the catalog or lock records it. */
  size: number | null;
  nodes: string[];
}

export interface PlannedImage {
  name: string;
  ref: string;
  /** Where the bytes are pulled from after mirror rewriting. */
  pullFrom: string;
  aliases: string[];
  platform: string;
  nodes: string[];
}

export interface PlannedCert {
  name: string;
  ca: string | null;
  cn: string;
  o: string[];
  usages: string[];
  sans: { dns: string[]; ips: string[] };
  /** Node names receiving the certificate; `operator` for dist/admin. */
  nodes: string[];
  keyOnNodes: string[];
}

export interface PlannedFile {
  path: string;
  mode: string;
  /** What makes the file: `render:<template>`, `pki:<certificate id>`, `artifact:<artifact id>` or `payload:image-archive`. */
  origin: string;
  secret: boolean;
}

export interface BundlePlan {
  site: string;
  kubernetesVersion: string;
  mode: string;
  artifacts: PlannedArtifact[];
  images: PlannedImage[];
  certificates: PlannedCert[];
  /** The nodes' OS packages (Debian and Ubuntu), per repository and per node. */
  osPackages: PlannedOsPackages;
  nodes: { name: string; roles: string[]; arch: string; files: PlannedFile[] }[];
}
