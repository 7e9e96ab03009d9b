import type { Logger } from './log.js';

/** Teardown steps that must all run: a failing step is logged and kept, and the next still runs. */
export class Shutdown {
  readonly errors: unknown[] = [];

  constructor(private readonly log: Logger) {}

  async attempt(what: string, f: () => unknown): Promise<void> {
    try {
      await f();
    } catch (e) {
      this.errors.push(e);
      this.log.warn(`shutdown: ${what} failed`, { error: (e as Error).message });
    }
  }
}
