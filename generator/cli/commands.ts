import type { ParseArgsConfig } from 'node:util';
import type { Streams } from './output.js';

export interface CommandContext {
  args: string[];
  streams: Streams;
  env: NodeJS.ProcessEnv;
  root: string;
}

export interface Command {
  name: string;
  usage: string;
  /** Option help lines, `--flag VALUE  what it does`. */
  help: string[];
  options: NonNullable<ParseArgsConfig['options']>;
  /** Whether the command takes positional arguments (most take none). */
  allowPositionals?: boolean;
  run(values: Record<string, string | boolean | undefined>, positionals: string[], ctx: CommandContext): Promise<number>;
}

export const EXIT = { ok: 0, failure: 1, badInput: 2 } as const;

/** Options every site command shares. */
export const SITE_OPTIONS = {
  site: { type: 'string', short: 's' },
  catalog: { type: 'string' },
  json: { type: 'boolean' },
} as const;

export const SITE_HELP = [
  '--site, -s NAME|PATH  site name (blueprints/sites/NAME.yaml) or path to a blueprint (default: lab1)',
  '--catalog DIR         another release catalog (wins over spec.artifacts.catalog)',
  '--json                print machine-readable JSON on stdout',
];
