/** A problem found in user input. Errors fail the command (exit 2); warnings are printed only. */
export type Severity = 'error' | 'warning';

export interface Issue {
  /** Rule that produced the issue, e.g. `gateway-in-subnet` or `schema`. */
  rule: string;
  severity: Severity;
  /** Field path in the document, e.g. `spec.nodes[1].address`; empty for whole-document problems. */
  path: string;
  message: string;
  hint?: string;
  /** Filled in by the site stage from the YAML positions. */
  file?: string;
  line?: number;
  col?: number;
}

export function hasErrors(issues: readonly Issue[]): boolean {
  return issues.some((i) => i.severity === 'error');
}

/**
 * An error the user can act on, typed by what went wrong: the CLI prints its message and hint
 * without a stack trace and exits with its code. Anything else that escapes a command is a bug.
 */
export abstract class UserError extends Error {
  abstract readonly exitCode: 1 | 2;
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

/** Bad input the user must fix (the blueprint, the catalog, the command line, a state): exit code 2. */
export class InputError extends UserError {
  readonly exitCode = 2;
  constructor(
    message: string,
    readonly issues: readonly Issue[] = [],
    hint?: string,
  ) {
    super(message, hint);
    this.name = 'InputError';
  }
}

/** An operation failed for a reason outside the input (network, upstream, disk): exit code 1. */
export class FailureError extends UserError {
  readonly exitCode = 1;
  constructor(message: string, hint?: string) {
    super(message, hint);
    this.name = 'FailureError';
  }
}

/** An error from the operating system (node:fs and friends), with its errno code. */
export type SystemError = Error & { code: string; syscall?: string; path?: string; dest?: string };

export function isSystemError(e: unknown): e is SystemError {
  return e instanceof Error && typeof (e as { code?: unknown }).code === 'string' && /^E[A-Z0-9]+$/.test((e as unknown as { code: string }).code);
}

/** Codes that a write to a file can end with (socket errors are not about a path). */
const FILE_ERRORS = new Set(['ENOSPC', 'EDQUOT', 'EIO', 'EFBIG', 'EROFS', 'EACCES', 'EPERM', 'EBADF']);

/**
 * Names the file in a system error that lacks one: write errors of file handles and streams
 * (ENOSPC, EIO, EDQUOT) carry no path, and "no space left" alone does not say which disk.
 */
export async function namingPath<T>(path: string, work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (e) {
    if (isSystemError(e) && e.path === undefined && FILE_ERRORS.has(e.code)) e.path = path;
    throw e;
  }
}
