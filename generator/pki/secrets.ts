import { createHash, X509Certificate } from 'node:crypto';
import { stringify } from 'yaml';
import type { CryptoPort } from '../model/index.js';

/** `sha256:<hex>` of the CA's DER SubjectPublicKeyInfo: what `kubeadm join --discovery-token-ca-cert-hash` expects. */
export function discoveryHash(caCertPem: string): string {
  const spki = new X509Certificate(caCertPem).publicKey.export({ type: 'spki', format: 'der' });
  return `sha256:${createHash('sha256').update(spki).digest('hex')}`;
}

export interface KubeconfigInput {
  cluster: string;
  server: string;
  caPem: string;
  user: string;
  certPem: string;
  keyPem: string;
}

const b64 = (s: string) => Buffer.from(s).toString('base64');

/** A kubeconfig with embedded data, built as an object and serialised. */
export function kubeconfig(k: KubeconfigInput): string {
  const context = `${k.user}@${k.cluster}`;
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: k.cluster, cluster: { server: k.server, 'certificate-authority-data': b64(k.caPem) } }],
    users: [{ name: k.user, user: { 'client-certificate-data': b64(k.certPem), 'client-key-data': b64(k.keyPem) } }],
    contexts: [{ name: context, context: { cluster: k.cluster, user: k.user } }],
    'current-context': context,
    preferences: {},
  });
}

/** Secrets encrypted at rest with secretbox (XSalsa20-Poly1305); reads of data written before stay possible via identity. */
export function encryptionConfig(keyBase64: string): string {
  return stringify({
    apiVersion: 'apiserver.config.k8s.io/v1',
    kind: 'EncryptionConfiguration',
    resources: [{ resources: ['secrets'], providers: [{ secretbox: { keys: [{ name: 'key1', secret: keyBase64 }] } }, { identity: {} }] }],
  });
}

/**
 * Audit policy: secret and token contents are never logged (Metadata only), read-only noise is
 * dropped, every other change is logged with its request.
 */
export function auditPolicy(): string {
  return stringify({
    apiVersion: 'audit.k8s.io/v1',
    kind: 'Policy',
    omitStages: ['RequestReceived'],
    rules: [
      { level: 'None', users: ['system:kube-proxy'], verbs: ['watch'], resources: [{ group: '', resources: ['endpoints', 'services', 'services/status'] }] },
      { level: 'None', nonResourceURLs: ['/healthz*', '/livez*', '/readyz*', '/version', '/metrics'] },
      { level: 'None', resources: [{ group: 'coordination.k8s.io', resources: ['leases'] }], verbs: ['get', 'update'] },
      { level: 'None', resources: [{ group: '', resources: ['events'] }] },
      {
        level: 'Metadata',
        resources: [
          { group: '', resources: ['secrets', 'configmaps', 'serviceaccounts/token'] },
          { group: 'authentication.k8s.io', resources: ['tokenreviews'] },
        ],
      },
      { level: 'Request', verbs: ['get', 'list', 'watch'] },
      { level: 'RequestResponse' },
    ],
  });
}

/** 128 random bits, top bit cleared so the DER integer stays positive, never zero. */
export function serial(crypto: CryptoPort): string {
  const b = crypto.randomBytes(16);
  b[0] = (b[0]! & 0x7f) | 0x01;
  return Buffer.from(b).toString('hex');
}

const TOKEN_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

/** `[a-z0-9]{6}.[a-z0-9]{16}` from a CSPRNG, by rejection sampling so every character is uniform. */
export function bootstrapToken(crypto: CryptoPort): string {
  const out: string[] = [];
  while (out.length < 22) {
    for (const byte of crypto.randomBytes(32)) {
      if (byte < 252 && out.length < 22) out.push(TOKEN_ALPHABET[byte % 36]!);
    }
  }
  return `${out.slice(0, 6).join('')}.${out.slice(6).join('')}`;
}
