/**
 * Nonces that only grow, so a receiver can refuse a replayed message (RFC 9301 leaves the
 * Map-Register nonce to "a future anti-replay solution"; this is lispwg's, for peers without a
 * control tunnel). A nonce is the sender's wall clock in milliseconds in the upper 44 bits and a
 * counter in the lower 20: a restarted sender continues above everything it sent before (as long
 * as its clock does not step back), up to 2^20 messages per millisecond.
 *
 * A receiver checks two things (`ReplayWindow`): the time part lies within its freshness window
 * of its own clock (a capture older than that is refused even by a receiver that has just
 * started), and the nonce was not accepted before (the set of nonces accepted within the window):
 * reordered messages and a retransmission after a loss are still accepted, repeated ones not.
 * (A bitmap below the highest nonce, as IPsec's RFC 6479 window, would not do: nonces grow by
 * 2^20 a millisecond, so it would cover less than a millisecond of reordering.)
 */
const COUNTER_BITS = 20n;

export class MonotonicNonces {
  private last = 0n;
  constructor(private readonly clock: () => number = Date.now) {}

  next(): bigint {
    const floor = BigInt(Math.floor(this.clock())) << COUNTER_BITS;
    this.last = this.last < floor ? floor : this.last + 1n;
    return this.last;
  }
}

/** The sender's wall-clock time (ms) a monotonic nonce carries. */
export function nonceTimeMs(nonce: bigint): number {
  return Number(nonce >> COUNTER_BITS);
}

export type ReplayVerdict = 'fresh' | 'replayed' | 'stale' | 'future';

/**
 * One sender's anti-replay state: the nonces accepted within the freshness window (at most
 * `size`), and a floor below which everything is refused. A nonce is accepted once; reordered
 * and retransmitted-after-a-loss messages are fine as long as they are fresh; when more than
 * `size` arrive within the window, the oldest remembered is let go and the floor rises to it.
 */
export class ReplayWindow {
  private readonly seen = new Set<bigint>();
  private floor = 0n;

  /**
   * @param size nonces remembered at most
   * @param freshMs a nonce whose time is further than this from the receiver's clock is refused
   */
  constructor(
    private readonly size = 4096,
    private readonly freshMs = 60_000,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Whether `nonce` may be accepted; `accept` records it (call it only once the message is authentic). */
  check(nonce: bigint): ReplayVerdict {
    const t = nonceTimeMs(nonce);
    const now = this.clock();
    if (t < now - this.freshMs || nonce <= this.floor) return 'stale';
    if (t > now + this.freshMs) return 'future';
    return this.seen.has(nonce) ? 'replayed' : 'fresh';
  }

  accept(nonce: bigint): void {
    this.seen.add(nonce);
    if (this.seen.size <= this.size) return;
    // forget what the clock refuses anyway; else the oldest, raising the floor to it
    const old = BigInt(Math.floor(this.clock() - this.freshMs)) << COUNTER_BITS;
    for (const n of this.seen) {
      if (this.seen.size <= this.size) break;
      this.seen.delete(n);
      if (n >= old && n > this.floor) this.floor = n;
    }
  }
}
