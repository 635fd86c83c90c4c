// Hashes downloads off the main thread, so receiving, writing and hashing overlap on two cores.
// Messages are handled in order: a digest reply covers every update sent before it.
import { createHash, type Hash } from 'node:crypto';
import { parentPort } from 'node:worker_threads';

type Message =
  | { op: 'new'; id: number; algorithms: string[] }
  | { op: 'update'; id: number; data: ArrayBuffer }
  | { op: 'digest'; id: number };

const hashes = new Map<number, Map<string, Hash>>();
parentPort!.on('message', (m: Message) => {
  if (m.op === 'new') hashes.set(m.id, new Map(m.algorithms.map((a) => [a, createHash(a)])));
  else if (m.op === 'update') for (const h of hashes.get(m.id)!.values()) h.update(new Uint8Array(m.data));
  else {
    const hs = hashes.get(m.id)!;
    hashes.delete(m.id);
    parentPort!.postMessage({ id: m.id, digests: Object.fromEntries([...hs].map(([a, h]) => [a, h.digest('hex')])) });
  }
});
