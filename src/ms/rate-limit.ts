/**
 * Per-source rate limit: a token bucket per source address, in a table of bounded size (the
 * least recently seen source is forgotten first), so a flood from many spoofed addresses costs
 * memory no larger than the table.
 */
interface Bucket {
  tokens: number;
  at: number; // ms of the last refill
}

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  /**
   * @param rate tokens (packets) per second per source; 0 disables the limit
   * @param burst bucket size
   * @param tableSize sources remembered at most
   */
  constructor(
    readonly rate: number,
    readonly burst: number,
    readonly tableSize: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  get enabled(): boolean {
    return this.rate > 0;
  }

  get size(): number {
    return this.buckets.size;
  }

  /** Takes one token for `source`; false when its bucket is empty (drop the packet). */
  allow(source: string): boolean {
    if (this.rate <= 0) return true;
    const now = this.now();
    let b = this.buckets.get(source);
    if (b) {
      b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) * this.rate) / 1000);
      b.at = now;
      // keep the table in least-recently-seen order: re-insert at the end
      this.buckets.delete(source);
      this.buckets.set(source, b);
    } else {
      if (this.buckets.size >= this.tableSize) {
        const oldest = this.buckets.keys().next().value;
        if (oldest !== undefined) this.buckets.delete(oldest);
      }
      b = { tokens: this.burst, at: now };
      this.buckets.set(source, b);
    }
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }
}
