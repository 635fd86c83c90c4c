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
  /** Options whose value is a whole number, with the range allowed; checked before the command runs. */
  numbers?: Readonly<Record<string, NumberOption>>;
  /** Options that make no sense together: the first with any of the others is refused. */
  conflicts?: readonly Conflict[];
  run(values: Record<string, string | boolean | undefined>, positionals: string[], ctx: CommandContext): Promise<number>;
}

export interface NumberOption {
  min: number;
  max: number;
}

export interface Conflict {
  option: string;
  with: readonly string[];
  /** Why they cannot go together, said to the user. */
  because: string;
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
