import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import type { InstalledPackage, PackageIndex } from '../generator/ospkg/resolve.js';

/**
 * `apt-get -s install` in `dir`, which holds `sources.list`, `lists/`, `status` and `cache/`:
 * nothing of the host's apt configuration or state is read. Returns the `Inst` lines as
 * `name version`, sorted.
 */
export function aptSimulate(dir: string, packages: string[]): string[] {
  const opts = [
    ['Dir::Etc::sourcelist', join(dir, 'sources.list')],
    ['Dir::Etc::sourceparts', '/nonexistent'],
    ['Dir::Etc::preferences', '/nonexistent'],
    ['Dir::Etc::preferencesparts', '/nonexistent'],
    ['Dir::State::Lists', join(dir, 'lists')],
    ['Dir::State::status', join(dir, 'status')],
    ['Dir::Cache', join(dir, 'cache')],
    ['APT::Architecture', 'amd64'],
    ['APT::Install-Recommends', 'false'],
    ['Debug::NoLocking', '1'],
  ].flatMap(([k, v]) => ['-o', `${k}=${v}`]);
  const out = execFileSync('apt-get', [...opts, '-s', 'install', ...packages], {
    encoding: 'utf8',
    env: { ...process.env, APT_CONFIG: '/dev/null', LC_ALL: 'C' },
  });
  return [...out.matchAll(/^Inst (\S+) (?:\[[^\]]*\] )?\((\S+) /gm)].map((x) => `${x[1]} ${x[2]}`).sort();
}

/**
 * A dpkg status file holding these packages as installed, each with its full stanza from the
 * index (apt takes an installed version for the index's only when their fields agree).
 */
export function statusFile(index: PackageIndex, installed: readonly InstalledPackage[]): string {
  return installed.map((p) => `${index.candidate(p.name)!.stanza.replace(/^(Package: .*)$/m, '$1\nStatus: install ok installed')}\n`).join('\n');
}
