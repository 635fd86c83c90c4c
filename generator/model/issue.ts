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

/** Thrown for bad input the user must fix; the CLI maps it to exit code 2. */
export class InputError extends Error {
  constructor(
    message: string,
    readonly issues: readonly Issue[] = [],
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'InputError';
  }
}

/**
 * Thrown when an operation fails for a reason outside the input (network, upstream, disk); the CLI
 * prints the message and hint without a stack trace and exits 1.
 */
export class FailureError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'FailureError';
  }
}
