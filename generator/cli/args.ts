import { parseArgs } from 'node:util';
import type { Command } from './commands.js';

export type Values = Record<string, string | boolean | undefined>;

/** A command line the command cannot run with; the message is one line, said as is. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** A whole number as people type it: digits only (no sign, exponent, fraction, hex or spaces). */
const WHOLE = /^\d{1,15}$/;
const NEGATIVE_NUMBER = /^-\d/;

/**
 * Parses a command's arguments and checks what node:util's parseArgs does not: numeric options
 * against their ranges, an option given twice, options that contradict each other.
 */
export function parseCommandLine(cmd: Command, args: readonly string[]): { values: Values; positionals: string[] } {
  const numeric = cmd.numbers ?? {};
  const byShort = new Map<string, string>(Object.entries(cmd.options).flatMap(([name, o]): [string, string][] => (o.short ? [[`-${o.short}`, name]] : [])));
  // parseArgs calls `--parallel -5` ambiguous (the value could be an option); for a numeric option
  // it is a number, so it is taken as the value and refused below with the option's range.
  const joined: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const name = a.startsWith('--') ? a.slice(2) : byShort.get(a);
    const next = args[i + 1];
    if (name !== undefined && name in numeric && next !== undefined && NEGATIVE_NUMBER.test(next)) {
      joined.push(`--${name}=${next}`);
      i++;
    } else joined.push(a);
  }
  let parsed;
  try {
    parsed = parseArgs({ args: joined, options: cmd.options, allowPositionals: cmd.allowPositionals ?? false, strict: true, tokens: true });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const given = new Map<string, string[]>();
  for (const t of parsed.tokens) {
    if (t.kind !== 'option') continue;
    given.set(t.name, [...(given.get(t.name) ?? []), t.value ?? t.rawName]);
  }
  for (const [name, seen] of given) {
    if (seen.length > 1 && !cmd.options[name]?.multiple) {
      const shown = cmd.options[name]?.type === 'string' ? ` (${seen.map((v) => JSON.stringify(v)).join(', ')})` : '';
      throw new UsageError(`--${name} is given ${seen.length} times${shown}; give it once`);
    }
  }
  const values = parsed.values as Values;
  for (const [name, range] of Object.entries(numeric)) {
    const raw = values[name];
    if (raw === undefined) continue;
    const text = String(raw);
    const n = Number(text);
    if (!WHOLE.test(text) || n < range.min || n > range.max) {
      throw new UsageError(`--${name} ${JSON.stringify(text)}: expected a whole number from ${range.min} to ${range.max}`);
    }
  }
  for (const c of cmd.conflicts ?? []) {
    if (!given.has(c.option)) continue;
    const other = c.with.find((w) => w !== c.option && given.has(w));
    if (other) throw new UsageError(`--${c.option} and --${other} cannot be used together: ${c.because}`);
  }
  return { values, positionals: parsed.positionals };
}
