import { InputError, type KeyAlgorithm, type ResolvedSite } from '../model/index.js';

/** The site state as files: relative path → content. */
export type StateFiles = Map<string, string>;

export const STATE_META = 'state.json';
export interface StateMeta {
  apiVersion: 'kubeseed/v1alpha1';
  kind: 'SiteState';
  site: string;
  keyAlgorithm: KeyAlgorithm;
  /** When the state was created, in seconds since the epoch; also the bundle's fixed mtime. */
  created: number;
  /** A bundle was made from this state: its CAs may be on running nodes (rotation.ts). */
  bundled?: true;
}

export function readMeta(files: StateFiles, site: ResolvedSite): StateMeta {
  const text = files.get(STATE_META);
  if (text === undefined)
    throw new InputError(
      `the state holds files but no ${STATE_META}`,
      [],
      'it was not made by kubeseed, or it is damaged; point --state at the right directory',
    );
  let meta: StateMeta;
  try {
    meta = JSON.parse(text) as StateMeta;
  } catch {
    throw corrupt(STATE_META, 'is not JSON');
  }
  if (meta.kind !== 'SiteState' || typeof meta.site !== 'string' || typeof meta.created !== 'number') throw corrupt(STATE_META, 'is not a kubeseed site state');
  if (meta.site !== site.name)
    throw new InputError(`the state belongs to site '${meta.site}', not '${site.name}'`, [], "point --state at this site's state directory");
  if (meta.keyAlgorithm !== site.pki.keyAlgorithm) {
    throw new InputError(
      `the state's keys are ${meta.keyAlgorithm}, the site asks for ${site.pki.keyAlgorithm}`,
      [],
      'change spec.pki.keyAlgorithm back, or re-key everything with --rotate-ca',
    );
  }
  return meta;
}

export function missingCore(path: string): InputError {
  return new InputError(
    `state file ${path} is missing`,
    [],
    'it is made once, with the state, and never again (a new one would invalidate what the old one signed or encrypted): restore the state from a backup, or start a new PKI with --rotate-ca',
  );
}

export function corrupt(path: string, what: string): InputError {
  return new InputError(
    `state file ${path} ${what}`,
    [],
    'restore the state from a backup; kubeseed never replaces a damaged state silently (--rotate-ca starts a new PKI)',
  );
}
