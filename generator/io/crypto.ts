import * as x509 from '@peculiar/x509';
import { createPrivateKey, createPublicKey, generateKeyPair, randomBytes, webcrypto, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import type { CertRequest, CryptoPort, KeyAlgorithm, KeyPairPem } from '../model/index.js';

x509.cryptoProvider.set(webcrypto);
const generate = promisify(generateKeyPair);

/**
 * Keys come from node:crypto's native generateKeyPair, which runs on libuv's thread pool: off the
 * main thread and in parallel when several are requested at once. Certificates are assembled and
 * signed by @peculiar/x509 over WebCrypto, one engine for RSA and ECDSA alike.
 */
export const realCrypto: CryptoPort = {
  async generateKeyPair(alg: KeyAlgorithm): Promise<KeyPairPem> {
    const pair =
      alg === 'ecdsa-p256'
        ? await generate('ec', { namedCurve: 'P-256' })
        : await generate('rsa', { modulusLength: alg === 'rsa-4096' ? 4096 : 2048, publicExponent: 0x10001 });
    return {
      privateKeyPem: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
      publicKeyPem: pair.publicKey.export({ type: 'spki', format: 'pem' }) as string,
    };
  },

  async issueCertificate(req: CertRequest): Promise<string> {
    const subjectPub = createPublicKey(req.subjectPublicKeyPem);
    const signerPem = req.issuer?.privateKeyPem ?? req.selfPrivateKeyPem;
    if (!signerPem) throw new Error('a self-signed certificate needs its own private key');
    const signer = createPrivateKey(signerPem);
    const algs = algorithmsFor(signer);
    const publicKey = await webcrypto.subtle.importKey('spki', subjectPub.export({ type: 'spki', format: 'der' }), algorithmsFor(subjectPub).import, true, [
      'verify',
    ]);
    const signingKey = await webcrypto.subtle.importKey('pkcs8', signer.export({ type: 'pkcs8', format: 'der' }), algs.import, false, ['sign']);
    const issuerCert = req.issuer ? new x509.X509Certificate(req.issuer.certPem) : undefined;

    const isCA = req.usages.includes('ca');
    let keyUsage = x509.KeyUsageFlags.digitalSignature;
    if (isCA) keyUsage |= x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign;
    else if (subjectPub.asymmetricKeyType === 'rsa') keyUsage |= x509.KeyUsageFlags.keyEncipherment;
    const eku = [
      ...(req.usages.includes('server') ? [x509.ExtendedKeyUsage.serverAuth] : []),
      ...(req.usages.includes('client') ? [x509.ExtendedKeyUsage.clientAuth] : []),
    ];
    const sans = [...req.sans.dns.map((value) => ({ type: 'dns' as const, value })), ...req.sans.ips.map((value) => ({ type: 'ip' as const, value }))];
    const extensions: x509.Extension[] = [
      new x509.BasicConstraintsExtension(isCA, isCA ? 0 : undefined, true),
      new x509.KeyUsagesExtension(keyUsage, true),
      await x509.SubjectKeyIdentifierExtension.create(publicKey),
    ];
    if (eku.length) extensions.push(new x509.ExtendedKeyUsageExtension(eku, false));
    if (issuerCert) extensions.push(await x509.AuthorityKeyIdentifierExtension.create(issuerCert, false));
    if (sans.length) extensions.push(new x509.SubjectAlternativeNameExtension(sans, false));

    const subject = distinguishedName(req.cn, req.o);
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: req.serialHex,
      subject,
      issuer: issuerCert ? issuerCert.subject : subject,
      notBefore: req.notBefore,
      notAfter: req.notAfter,
      signingAlgorithm: algs.sign,
      publicKey,
      signingKey,
      extensions,
    });
    return cert.toString('pem') + '\n';
  },

  randomBytes: (n) => new Uint8Array(randomBytes(n)),
};

function algorithmsFor(key: KeyObject): {
  import: webcrypto.RsaHashedImportParams | webcrypto.EcKeyImportParams;
  sign: webcrypto.RsaHashedImportParams | webcrypto.EcdsaParams;
} {
  if (key.asymmetricKeyType === 'ec') return { import: { name: 'ECDSA', namedCurve: 'P-256' }, sign: { name: 'ECDSA', hash: 'SHA-256' } };
  return { import: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, sign: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } };
}

/** `CN=…, O=…` with the RFC 4514 escapes a name could need. */
function distinguishedName(cn: string, o: string[]): string {
  const esc = (v: string) => v.replace(/([,+"\\<>;=])/g, '\\$1');
  return [...o.map((x) => `O=${esc(x)}`), `CN=${esc(cn)}`].join(', ');
}
