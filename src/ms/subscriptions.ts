/**
 * Subscriptions (RFC 9437 style, implicit): every registered site that asked for a mapping (or
 * was pushed one) is remembered for the record's TTL, and told with a Map-Notify when that
 * mapping changes (new RLOC, new key, withdrawal). This is what repairs a double jump and spreads
 * a revocation to the peers that hold a key.
 *
 * A subscriber is named by its own registered prefix: notifications go to wherever that prefix
 * is registered from at the time of the change, signed with its site's current key.
 */
import { eidPrefixKey, type EidPrefix } from '../mapping/eid.js';

export interface Subscription {
  /** The subscriber's own registered prefix. */
  readonly subscriber: EidPrefix;
  expiresAt: number;
}

export class Subscriptions {
  private readonly byPublisher = new Map<string, Map<string, Subscription>>();
  private total = 0;

  constructor(
    private readonly max: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  get size(): number {
    return this.total;
  }

  /**
   * Subscribes `subscriber` to changes of `publisher` for `ttlMs`. Returns 'added', 'renewed', or
   * 'full' when the table holds `max` subscriptions already.
   */
  add(publisher: EidPrefix, subscriber: EidPrefix, ttlMs: number): 'added' | 'renewed' | 'full' {
    const pk = eidPrefixKey(publisher);
    const sk = eidPrefixKey(subscriber);
    let subs = this.byPublisher.get(pk);
    const existing = subs?.get(sk);
    const expiresAt = this.now() + ttlMs;
    if (existing) {
      existing.expiresAt = Math.max(existing.expiresAt, expiresAt);
      return 'renewed';
    }
    if (this.total >= this.max) {
      this.expire();
      if (this.total >= this.max) return 'full';
    }
    if (!subs) {
      subs = new Map();
      this.byPublisher.set(pk, subs);
    }
    subs.set(sk, { subscriber, expiresAt });
    this.total++;
    return 'added';
  }

  /** The live subscribers of `publisher`. */
  of(publisher: EidPrefix): Subscription[] {
    const subs = this.byPublisher.get(eidPrefixKey(publisher));
    if (!subs) return [];
    const now = this.now();
    return [...subs.values()].filter((s) => s.expiresAt > now);
  }

  /** Forgets expired subscriptions. */
  expire(): void {
    const now = this.now();
    for (const [pk, subs] of this.byPublisher) {
      for (const [sk, s] of subs) {
        if (s.expiresAt <= now) {
          subs.delete(sk);
          this.total--;
        }
      }
      if (subs.size === 0) this.byPublisher.delete(pk);
    }
  }

  /** Publisher prefix text -> subscriber prefix texts, for `ms show`. */
  toJSON(): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    for (const [pk, subs] of this.byPublisher) out[pk] = [...subs.keys()];
    return out;
  }
}
