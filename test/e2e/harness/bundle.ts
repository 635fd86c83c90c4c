import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { cliPath, fixtureCache, repoRoot } from '../../helpers.js';
import type { PlannedOsPackages } from '../../../generator/model/index.js';
import { run, type E2eRun } from './context.js';
import { catalogWithoutOsPackages, payloadInputs } from './os-packages.js';

/** Builds what is missing of the cached fixtures: QEMU and tools, Kubernetes 1.20.2, the guest disk, the artifacts. */
export function prepareFixtures(): void {
  run('bash', [join(repoRoot, 'scripts/e2e/setup.sh')]);
  run('bash', [join(repoRoot, 'scripts/e2e/build-kubernetes.sh')]);
  run('bash', [join(repoRoot, 'scripts/e2e/build-guest.sh')]);
  run(process.execPath, [join(repoRoot, 'scripts/e2e/build-artifacts.mjs')]);
}

/**
 * The release the upgrade e2e moves a site to (issue #23): 1.20.2's source built again under this
 * version (test/e2e/catalog/releases), since no other Kubernetes builds on these machines.
 */
export const UPGRADE_RELEASE = 'v1.20.3-kubeseed.1';

/** Builds the upgrade release's Kubernetes and payload inputs when missing (cached beside 1.20.2's; about 10 minutes once). */
export function prepareUpgradeFixtures(): void {
  run('bash', [join(repoRoot, 'scripts/e2e/build-kubernetes.sh'), UPGRADE_RELEASE]);
  run(process.execPath, [join(repoRoot, 'scripts/e2e/build-artifacts.mjs'), UPGRADE_RELEASE]);
}

/**
 * The prebuilt payload inputs of a release (scripts/e2e/build-artifacts.mjs): kubeadm sites take
 * the variant whose image archive also holds the control-plane images.
 */
export function artifactsFor(version: string, mode: string): string {
  const base = version === 'v1.20.2' ? 'e2e-artifacts' : `e2e-artifacts-${version}`;
  return join(fixtureCache, mode === 'kubeadm' ? `${base}-kubeadm` : base);
}

/**
 * Runs the real `gen bundle` on the site as written plus an ssh key of this run (the harness looks
 * inside nodes through it), with the nodes' OS packages resolved beside the other payload inputs
 * (or, with --no-os-packages, a catalog that plans none). Returns the payload ISO's file name
 * under dist/payload, the plan's OS packages, and the run's site file and payload inputs (a day-two
 * bundle reuses them).
 */
export async function bundleSite(r: E2eRun): Promise<{ payload: string; osPackages: PlannedOsPackages; runSite: string; artifacts: string }> {
  run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'kubeseed-e2e', '-f', r.sshKey]);
  const derived = structuredClone(r.site);
  derived.spec.os.sshAuthorizedKeys = [readFileSync(`${r.sshKey}.pub`, 'utf8').trim()];
  if (derived.spec.artifacts.catalog) derived.spec.artifacts.catalog = resolve(r.opts.sitePath, '..', derived.spec.artifacts.catalog);
  if (r.opts.noOsPackages)
    derived.spec.artifacts.catalog = catalogWithoutOsPackages(r.work, derived.spec.artifacts.catalog ?? join(repoRoot, 'blueprints', 'catalog'));
  const runSite = join(r.work, 'site.yaml');
  writeFileSync(runSite, stringify(derived));

  const artifacts = artifactsFor(r.site.spec.kubernetes.version, r.site.spec.kubernetes.mode);
  const inputs = await payloadInputs(r.work, runSite, artifacts, (m) => r.log(m));
  r.log(`gen bundle ${r.opts.siteArg}`);
  const b = spawnSync(process.execPath, [cliPath, 'bundle', '--site', runSite, '--artifacts', inputs.dir], { cwd: r.work, encoding: 'utf8' });
  if (b.status !== 0) throw new Error(`gen bundle failed:\n${b.stderr}`);
  const payload = (JSON.parse(readFileSync(join(r.dist, 'manifest.json'), 'utf8')) as { payload: string }).payload.replace(/\.tar$/, '.iso');
  return { payload, osPackages: inputs.osPackages, runSite, artifacts: inputs.dir };
}
