/**
 * The Map-Server's rate limit: token buckets that random source addresses cannot escape.
 *
 * - A site's address (a control address heard through the tunnel, or a plain site's address: the
 *   caller says which) has its own bucket, in a table only site addresses enter, so strangers
 *   never evict or starve it. Its size is bounded by the configuration and the registrations.
 * - Every other source (a stranger) needs a token from its own bucket, kept in a table of
 *   `tableSize` (least recently seen forgotten first), AND one from a bucket shared by all
 *   strangers. The shared bucket bounds what strangers together cost per second whatever the
 *   number of addresses they come from: a new or forgotten source starts with a full bucket of
 *   its own, but that buys nothing once the shared one is empty. A packet refused by the shared
 *   bucket touches no table (no allocation during a random-source flood).
 *
 * A packet costs one token per started KiB (what a datagram can make the server do grows with
 * its size: a 7-KiB Map-Register of 255 records costs 6x a 1-record one to decode and verify), and
 * `charge` adds work found after decoding (records stored by a Map-Register): tokens may go
 * below zero, and the source then waits until its bucket has refilled.
 */
export interface RateLimitConfig {
  /** Tokens (packets of up to 1 KiB) per second per source (site or stranger); 0 turns the whole limit off. */
  rate: number;
  burst: number;
  /** Stranger sources remembered at most. */
  tableSize: number;
  /** The bucket all strangers share; rate 0 turns it off (then only the per-source limit holds). */
  strangers: { rate: number; burst: number };
}

/** Why a packet is refused, or 'pass'. */
export type RateVerdict = 'pass' | 'site' | 'source' | 'strangers';

class Bucket {
  at: number;
  constructor(
    public tokens: number,
    now: number,
  ) {
    this.at = now;
  }

  /** Refills for the time since the last call, then reports whether `cost` tokens are there. */
  refill(now: number, rate: number, burst: number, cost: number): boolean {
    this.tokens = Math.min(burst, this.tokens + ((now - this.at) * rate) / 1000);
    this.at = now;
    return this.tokens >= cost;
  }
}

export class RateLimiter {
  private readonly sites = new Map<string, Bucket>();
  private readonly strangers = new Map<string, Bucket>();
  private readonly shared: Bucket;
  /** Where the incremental prune of site buckets left off. */
  private pruneAt: IterableIterator<string> | undefined;

  constructor(
    readonly config: RateLimitConfig,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.shared = new Bucket(config.strangers.burst, now());
  }

  get enabled(): boolean {
    return this.config.rate > 0;
  }

  /** Buckets held: site addresses, stranger sources. */
  get size(): { sites: number; strangers: number } {
    return { sites: this.sites.size, strangers: this.strangers.size };
  }

  /** The tokens a datagram of `bytes` costs: one per started KiB. */
  static cost(bytes: number): number {
    return 1 + (bytes >>> 10);
  }

  /**
   * Takes `cost` tokens for a packet from `source` (`isSite`: it is a site's address); 'pass' or
   * why not.
   */
  check(source: string, isSite: boolean, cost = 1): RateVerdict {
    const { rate, burst, tableSize, strangers } = this.config;
    if (rate <= 0) return 'pass';
    const now = this.now();
    if (isSite) {
      let b = this.sites.get(source);
      if (!b) this.sites.set(source, (b = new Bucket(burst, now)));
      else if (!b.refill(now, rate, burst, cost)) return 'site';
      b.tokens -= cost;
      return 'pass';
    }
    const sharing = strangers.rate > 0;
    if (sharing && !this.shared.refill(now, strangers.rate, strangers.burst, cost)) return 'strangers';
    let b = this.strangers.get(source);
    if (b) {
      const ok = b.refill(now, rate, burst, cost);
      // keep the table in least-recently-seen order: re-insert at the end
      this.strangers.delete(source);
      this.strangers.set(source, b);
      if (!ok) return 'source';
    } else {
      if (this.strangers.size >= tableSize) {
        const oldest = this.strangers.keys().next().value;
        if (oldest !== undefined) this.strangers.delete(oldest);
      }
      this.strangers.set(source, (b = new Bucket(burst, now)));
    }
    b.tokens -= cost;
    if (sharing) this.shared.tokens -= cost;
    return 'pass';
  }

  /** Takes `tokens` more from the bucket of a source that just passed (into debt if need be). */
  charge(source: string, tokens: number): void {
    const b = this.sites.get(source) ?? this.strangers.get(source);
    if (b) b.tokens -= tokens;
  }

  /**
   * Forgets the buckets of addresses that are no longer a site's, looking at `maxWork` of them
   * per call (the sweep calls it: the work per call is bounded however many sites there are).
   */
  prune(isSite: (address: string) => boolean, maxWork = 4096): void {
    this.pruneAt ??= this.sites.keys();
    for (let i = 0; i < maxWork; i++) {
      const next = this.pruneAt.next();
      if (next.done) {
        this.pruneAt = undefined;
        return;
      }
      if (!isSite(next.value)) this.sites.delete(next.value);
    }
  }
}
