import type { KeyAlgorithm } from './site.js';

/** Side effects reach the pure stages only through these ports; `cli` builds the real adapters. */
export interface FsPort {
  readText(path: string): Promise<string>;
  /** Files below `dir`, as paths relative to it, sorted. */
  listFiles(dir: string): Promise<string[]>;
  exists(path: string): Promise<boolean>;
}

export interface ClockPort {
  now(): Date;
}

export interface KeyPairPem {
  /** PKCS#8 PEM. */
  privateKeyPem: string;
  /** SubjectPublicKeyInfo PEM. */
  publicKeyPem: string;
}

export type CertUsage = 'server' | 'client' | 'ca' | 'signing';

export interface CertRequest {
  cn: string;
  o: string[];
  sans: { dns: string[]; ips: string[] };
  usages: CertUsage[];
  /** Hex, 128 random bits with the top bit clear. */
  serialHex: string;
  notBefore: Date;
  notAfter: Date;
  subjectPublicKeyPem: string;
  /** The issuing CA; absent for a self-signed CA, which then signs with `selfPrivateKeyPem`. */
  issuer?: { certPem: string; privateKeyPem: string };
  selfPrivateKeyPem?: string;
}

/** Key generation and certificate signing; randomness lives behind this port. */
export interface CryptoPort {
  generateKeyPair(alg: KeyAlgorithm): Promise<KeyPairPem>;
  issueCertificate(req: CertRequest): Promise<string>;
  randomBytes(n: number): Uint8Array;
}
