/**
 * A bounded hold-down: a key passes at most once per `holdMs`, in a table of at most `max` keys.
 * Keys held longer than `holdMs` leave the table (it is kept in the order keys passed, so they
 * leave from its front); when it is full of keys still held, a new key does not pass (the caller
 * counts it). Clearing a full table instead would let every held key through again at once: the
 * very flood the hold-down is there to stop.
 */
export type HoldVerdict = 'pass' | 'held' | 'full';

export class HoldDown {
  /** key -> when it last passed; in that order. */
  private readonly passed = new Map<string, number>();

  constructor(
    private readonly holdMs: number,
    private readonly max: number,
  ) {
    if (!(max >= 1)) throw new RangeError('a hold-down table holds at least one key');
  }

  get size(): number {
    return this.passed.size;
  }

  /** Whether `key` passes at `now` (monotonic ms); a key that passes is held from now. */
  take(key: string, now: number): HoldVerdict {
    const last = this.passed.get(key);
    if (last !== undefined && now - last < this.holdMs) return 'held';
    this.passed.delete(key);
    for (const [k, t] of this.passed) {
      if (now - t < this.holdMs) break;
      this.passed.delete(k);
    }
    if (this.passed.size >= this.max) return 'full';
    this.passed.set(key, now);
    return 'pass';
  }

  /** `key` may pass again at once. */
  release(key: string): void {
    this.passed.delete(key);
  }

  clear(): void {
    this.passed.clear();
  }
}
