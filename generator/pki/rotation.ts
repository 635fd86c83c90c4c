import { X509Certificate } from 'node:crypto';
import { InputError, type ResolvedSite } from '../model/index.js';
import { certPaths } from './issue.js';
import { STATE_META, type StateFiles, type StateMeta } from './state-meta.js';
import { certInstances } from './table.js';

/**
 * `--rotate-ca` on a state that has been bundled would leave every node it reached trusting CAs
 * that no longer sign anything, and holding certificates the new CAs never issued: the cluster
 * breaks with no way back but a reinstall. kubeseed has no staged rotation (trust both CAs,
 * reissue, drop the old; docs/decisions.md), so it refuses and says what to do instead. A CA
 * that has already expired has broken the cluster anyway: then a new PKI is the way out.
 */
export function rotationRefusal(site: ResolvedSite, existing: StateFiles, now: Date, dir: string): InputError | null {
  let bundled: boolean;
  try {
    bundled = (JSON.parse(existing.get(STATE_META) ?? '{}') as Partial<StateMeta>).bundled === true;
  } catch {
    // A damaged state.json is reported by the state checks; it records no bundle.
    bundled = false;
  }
  if (!bundled) return null;
  const caExpired = certInstances(site)
    .filter((i) => i.spec.kind === 'ca')
    .some((i) => {
      try {
        return new Date(new X509Certificate(existing.get(certPaths(i).crt) ?? '').validTo) <= now;
      } catch {
        return false;
      }
    });
  if (caExpired) return null;
  return new InputError(
    `refusing --rotate-ca: a bundle was made from the state at ${dir}, so its CAs may be on running nodes, and new CAs would cut every one of them off the cluster`,
    [],
    `rotating the CAs of a running site is not supported; to renew certificates use --renew. To rebuild the site on new CAs (e.g. after a control plane was compromised): back up the state, run kubeseed-reset --all on every node, mv ${dir} ${dir}.old, then gen certs, gen bundle and install every node again. If no bundle of this state ever left this machine: mv ${dir} ${dir}.old and run gen certs`,
  );
}
