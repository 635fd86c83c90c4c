import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat, writeFile } from 'node:fs/promises';

/** SHA-256 of a file, streamed. */
export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/**
 * SHA-256 of a large file that rarely changes (a payload, an image archive), remembered in
 * `<file>.sha256` with the size and mtime it was computed for; recomputed when either differs.
 */
export async function sha256FileRemembered(path: string): Promise<string> {
  const st = await stat(path);
  const [hex, size, mtime] = (await readFile(`${path}.sha256`, 'utf8').catch(() => '')).split(' ');
  if (hex && Number(size) === st.size && Number(mtime) === st.mtimeMs) return hex;
  const digest = await sha256File(path);
  await writeFile(`${path}.sha256`, `${digest} ${st.size} ${st.mtimeMs}`);
  return digest;
}
