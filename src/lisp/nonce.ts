/**
 * Nonces that only grow, so a receiver can refuse a replayed message (RFC 9301 leaves the
 * Map-Register nonce to "a future anti-replay solution"; this is lispwg's, for peers without a
 * control tunnel). A nonce is the sender's wall clock in milliseconds in the upper 44 bits and a
 * counter in the lower 20: a restarted sender continues above everything it sent before (as long
 * as its clock does not step back), up to 2^20 messages per millisecond.
 *
 * A receiver checks two things (`ReplayWindow`): the time part lies within its freshness window
 * of its own clock (a capture older than that is refused even by a receiver that has just
 * started), and the nonce was not accepted before (a sliding bitmap of the last `size` nonces
 * below the highest, as IPsec's anti-replay window, RFC 6479): reordered messages are still
 * accepted, repeated or older ones are not.
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

/** One sender's anti-replay state: the highest nonce accepted and a bitmap below it. */
export class ReplayWindow {
  private highest = 0n;
  private bits = 0n;

  /**
   * @param size nonces remembered below the highest (reordering tolerated up to this many)
   * @param freshMs a nonce whose time is further than this from the receiver's clock is refused
   */
  constructor(
    private readonly size = 1024,
    private readonly freshMs = 60_000,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Whether `nonce` may be accepted; `accept` records it (call it only once the message is authentic). */
  check(nonce: bigint): ReplayVerdict {
    const t = nonceTimeMs(nonce);
    const now = this.clock();
    if (t < now - this.freshMs) return 'stale';
    if (t > now + this.freshMs) return 'future';
    if (nonce > this.highest) return 'fresh';
    const back = this.highest - nonce;
    if (back >= BigInt(this.size)) return 'stale';
    return (this.bits >> back) & 1n ? 'replayed' : 'fresh';
  }

  accept(nonce: bigint): void {
    if (nonce > this.highest) {
      const shift = nonce - this.highest;
      this.bits = shift >= BigInt(this.size) ? 1n : ((this.bits << shift) | 1n) & ((1n << BigInt(this.size)) - 1n);
      this.highest = nonce;
    } else {
      this.bits |= 1n << (this.highest - nonce);
    }
  }
}

