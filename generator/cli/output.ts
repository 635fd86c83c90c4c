import { relative } from 'node:path';
import type { Issue } from '../model/index.js';

export interface Streams {
  out(text: string): void;
  err(text: string): void;
  /** Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org). */
  color: boolean;
  cwd: string;
  /** Standard error is a terminal: progress is drawn as live bars instead of lines. */
  errTty?: boolean;
  /** Writes to standard error as is (no newline), for redrawing progress bars. */
  errRaw?(text: string): void;
}

const CODES = { red: 31, yellow: 33, dim: 2, bold: 1, green: 32 } as const;

export function paint(s: Streams, style: keyof typeof CODES, text: string): string {
  return s.color ? `\u001b[${CODES[style]}m${text}\u001b[0m` : text;
}

/** `file:line:col  severity  path: message  (hint)`, the file relative to the working directory. */
export function formatIssue(s: Streams, i: Issue): string {
  const file = i.file ? relative(s.cwd, i.file) || i.file : '';
  const where = [file, i.line, i.col].filter((x) => x !== undefined && x !== '').join(':');
  const sev = i.severity === 'error' ? paint(s, 'red', 'error') : paint(s, 'yellow', 'warning');
  const path = i.path ? `${i.path}: ` : '';
  const hint = i.hint ? paint(s, 'dim', `  (${i.hint})`) : '';
  return `${where}  ${sev}  ${path}${i.message}${hint}  [${i.rule}]`;
}

export function reportIssues(s: Streams, issues: readonly Issue[]): void {
  const sorted = [...issues].sort(
    (a, b) => (a.file ?? '').localeCompare(b.file ?? '') || (a.line ?? Infinity) - (b.line ?? Infinity) || (a.col ?? 0) - (b.col ?? 0),
  );
  for (const i of sorted) s.err(formatIssue(s, i));
  const errors = issues.filter((i) => i.severity === 'error').length;
  const warnings = issues.length - errors;
  if (issues.length) s.err(`${errors} error(s), ${warnings} warning(s)`);
}

export function table(rows: string[][]): string {
  const widths = rows.reduce<number[]>((w, r) => r.map((c, i) => Math.max(w[i] ?? 0, c.length)), []);
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n');
}
