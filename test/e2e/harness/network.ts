import { spawnSync } from 'node:child_process';
import { run, type E2eRun } from './context.js';

/**
 * The run's network: a namespace holding one bridge with the site's gateway address. No route
 * leads anywhere else, so a missing artifact shows up as a failure, never as a silent download.
 */
export function createNetwork(r: E2eRun): void {
  const first = r.site.spec.nodes[0]!;
  const prefix = first.address.split('/')[1];
  run('ip', ['netns', 'add', r.ns]);
  run('ip', ['-n', r.ns, 'link', 'set', 'lo', 'up']);
  run('ip', ['-n', r.ns, 'link', 'add', 'br0', 'type', 'bridge']);
  run('ip', ['-n', r.ns, 'addr', 'add', `${first.gateway}/${prefix}`, 'dev', 'br0']);
  run('ip', ['-n', r.ns, 'link', 'set', 'br0', 'up']);
}

/** A tap on the bridge for one VM. */
export function addTap(r: E2eRun, tap: string): void {
  r.inNs('ip', ['tuntap', 'add', tap, 'mode', 'tap']);
  run('ip', ['-n', r.ns, 'link', 'set', tap, 'master', 'br0']);
  run('ip', ['-n', r.ns, 'link', 'set', tap, 'up']);
}

/** Removes the namespace with its bridge and taps; never throws (it runs on every exit path). */
export function deleteNetwork(r: E2eRun): void {
  spawnSync('ip', ['netns', 'del', r.ns]);
}
