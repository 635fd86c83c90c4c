import { parseRelease, type ReleaseFile } from './control.js';

/** A signature that does not hold, or no signature from the archive's keys. */
export class SignatureError extends Error {
  constructor(
    message: string,
    readonly file: string,
  ) {
    super(message);
    this.name = 'SignatureError';
  }
}

/**
 * Verifies a clearsigned `InRelease` against the archive's armored keys and returns its content
 * (the signed text only: anything outside the signature is never read). Like apt, it needs at
 * least one good signature from a trusted key, and a bad signature from a trusted key is fatal
 * even when another one is good; signatures by keys we do not hold are ignored.
 */
export async function verifyInRelease(text: string, armoredKeys: string, file: string): Promise<{ release: ReleaseFile; signedBy: string[] }> {
  // openpgp.js is loaded on the first verification: a site without OS packages never pays for it.
  const openpgp = await import('openpgp');
  const keys = await openpgp.readKeys({ armoredKeys });
  let message;
  try {
    message = await openpgp.readCleartextMessage({ cleartextMessage: text });
  } catch (e) {
    throw new SignatureError(`${file}: not a clearsigned message: ${(e as Error).message}`, file);
  }
  const result = await openpgp.verify({ message, verificationKeys: keys });
  const good: string[] = [];
  const bad: string[] = [];
  const trusted = new Set(keys.flatMap((k) => k.getKeyIDs().map((id) => id.toHex())));
  for (const sig of result.signatures) {
    const id = sig.keyID.toHex();
    try {
      await sig.verified;
      good.push(id.toUpperCase());
    } catch (e) {
      if (trusted.has(id)) bad.push(`${id.toUpperCase()}: ${(e as Error).message}`);
    }
  }
  if (bad.length) throw new SignatureError(`${file}: bad signature (${bad.join('; ')})`, file);
  if (!good.length)
    throw new SignatureError(
      `${file}: no signature by the archive keys (signed by ${result.signatures.map((s) => s.keyID.toHex().toUpperCase()).join(', ') || 'nobody'})`,
      file,
    );
  return { release: parseRelease(result.data), signedBy: good.sort() };
}
