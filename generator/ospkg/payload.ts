import type { ResolvedOsRepo } from '../model/index.js';
import { flatStanza } from './control.js';

/** The payload directory of a repository: `ospkg/<repo id>/`. */
export const osRepoDir = (id: string) => `ospkg/${id}`;

/**
 * The `Packages` index of a repository as the payload carries it: each `.deb`'s stanza from the
 * signed index with `Filename: ./<file>`, so the directory is a flat repository
 * (`deb [trusted=yes] file:/… ./`) whose sums are those the archive signed.
 */
export function flatPackagesIndex(repo: ResolvedOsRepo): string {
  return repo.debs.map((d) => `${flatStanza(d.stanza, d.filename)}\n`).join('\n');
}
