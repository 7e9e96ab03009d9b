/**
 * Every error lispwg raises on purpose is a LispwgError: a stable machine-readable `code`
 * (tests and callers switch on it) and a message a user can act on.
 */
export class LispwgError extends Error {
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}
