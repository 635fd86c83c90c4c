import { join } from 'node:path';
import { FailureError, InputError } from '../model/index.js';
import { DELIVERY_RECORD, parseRecord, serializeRecord, type DeliveryRecord } from '../update/record.js';
import { writeFileAtomic } from './atomic.js';
import { withLock } from './lock.js';
import { readRegular } from './regular.js';

/**
 * The delivery record on disk: `<state>/delivered.json`, beside the PKI revisions (not in them: it
 * changes with every bundle that changes a node, the PKI rarely). Written after the bundle that it
 * describes is published, under the state's lock, so a bundle that fails leaves the record as it
 * was and the next one computes its updates again.
 */

export async function readDelivery(stateDir: string): Promise<{ record: DeliveryRecord | null; text: string | null }> {
  const path = join(stateDir, DELIVERY_RECORD);
  const raw = await readRegular(path);
  if (raw === 'missing') return { record: null, text: null };
  if (typeof raw === 'string') throw new InputError(`the delivery record ${path} is ${raw}`, [], 'restore the state directory from a backup');
  const text = raw.toString('utf8');
  const r = parseRecord(text);
  if ('invalid' in r)
    throw new InputError(
      `the delivery record ${path} ${r.invalid}`,
      [],
      'restore it from a backup of the state; removing it makes the next gen bundle record the site afresh (no update bundles until the one after)',
    );
  return { record: r, text };
}

/**
 * Replaces the record, provided it is still the one the bundle started from (`basis`, its text or
 * null); another gen bundle on the same state in between makes this one fail rather than lose that
 * one's record.
 */
export async function writeDelivery(stateDir: string, record: DeliveryRecord, basis: string | null, say?: (line: string) => void): Promise<void> {
  const text = serializeRecord(record);
  await withLock(stateDir, { what: 'the site state', ...(say ? { say } : {}) }, async () => {
    const now = await readDelivery(stateDir);
    if (now.text === text) return;
    if (now.text !== basis)
      throw new FailureError(
        `the delivery record ${join(stateDir, DELIVERY_RECORD)} changed while this bundle was made (another gen bundle on the same state)`,
        'run gen bundle again: its update bundles are computed from the record as it is now',
      );
    await writeFileAtomic(join(stateDir, DELIVERY_RECORD), text, 0o600, 0o700);
  });
}
