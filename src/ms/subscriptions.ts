/**
 * Subscriptions (RFC 9437 style, implicit): every registered site that asked for a mapping (or
 * was pushed one) is remembered for the record's TTL, and told with a Map-Notify when that
 * mapping changes (new RLOC, new key, withdrawal). This is what repairs a double jump and spreads
 * a revocation to the peers that hold a key.
 *
 * A subscriber is named by its own registered prefix: notifications go to wherever that prefix
 * is registered from at the time of the change, signed with its site's current key.
 *
 * Bounded at `max` with constant-time add and eviction: every subscription is also kept in one
 * Set in add/renewal order, so the least recently renewed is its first element. Adding to a full
 * table evicts that one; the sweep expires from the head, a bounded number per call. With equal
 * TTLs the order is the expiry order; an expired subscription behind a longer-lived head waits
 * for the head, for eviction or for `of()` of its publisher, and is never told anything meanwhile.
 */
import { eidPrefixKey, type EidPrefix } from '../mapping/eid.js';

export interface Subscription {
  /** The subscriber's own registered prefix. */
  readonly subscriber: EidPrefix;
  expiresAt: number;
}

interface Entry extends Subscription {
  readonly publisher: EidPrefix;
  readonly publisherKey: string;
  readonly subscriberKey: string;
  /** The expiry the store holds (this clock): renewals are written only once past half their TTL. */
  storedUntil: number;
}

export class Subscriptions {
  private readonly byPublisher = new Map<string, Map<string, Entry>>();
  /** Every entry, least recently added or renewed first. */
  private readonly byRenewal = new Set<Entry>();

  constructor(
    /** At least 1 (`subscriptions.enabled: false` turns them off). */
    private readonly max: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  get size(): number {
    return this.byRenewal.size;
  }

  /**
   * Subscribes `subscriber` to changes of `publisher` for `ttlMs`. Returns 'added' or 'renewed',
   * whether a live subscription was evicted to make room (the table held `max`), and whether the
   * store should be written: when added, or when the expiry it holds is less than half the TTL
   * away (a subscriber asking many times a second costs a write per half TTL, not per request).
   * `stored`: the subscription comes from the store (it holds it already).
   */
  add(publisher: EidPrefix, subscriber: EidPrefix, ttlMs: number, stored = false): { result: 'added' | 'renewed'; evicted: boolean; store: boolean } {
    const pk = eidPrefixKey(publisher);
    const sk = eidPrefixKey(subscriber);
    let subs = this.byPublisher.get(pk);
    const existing = subs?.get(sk);
    const now = this.now();
    if (existing) {
      existing.expiresAt = Math.max(existing.expiresAt, now + ttlMs);
      this.byRenewal.delete(existing);
      this.byRenewal.add(existing);
      const store = !stored && existing.storedUntil - now < ttlMs / 2;
      if (store || stored) existing.storedUntil = Math.max(existing.storedUntil, now + ttlMs);
      return { result: 'renewed', evicted: false, store };
    }
    let evicted = false;
    if (this.byRenewal.size >= this.max) {
      const oldest = this.byRenewal.values().next().value;
      if (oldest) {
        evicted = oldest.expiresAt > now;
        this.remove(oldest);
        subs = this.byPublisher.get(pk); // the oldest may have been the last of this publisher's
      }
    }
    if (!subs) {
      subs = new Map();
      this.byPublisher.set(pk, subs);
    }
    const entry: Entry = { publisher, subscriber, expiresAt: now + ttlMs, publisherKey: pk, subscriberKey: sk, storedUntil: now + ttlMs };
    subs.set(sk, entry);
    this.byRenewal.add(entry);
    return { result: 'added', evicted, store: !stored };
  }

  /** The live subscriptions, with the time left (ms), least recently renewed first (what a store compaction writes). */
  *live(): Generator<{ publisher: EidPrefix; subscriber: EidPrefix; leftMs: number }> {
    const now = this.now();
    for (const s of this.byRenewal) if (s.expiresAt > now) yield { publisher: s.publisher, subscriber: s.subscriber, leftMs: s.expiresAt - now };
  }

  /** The live subscribers of `publisher` (its expired ones are forgotten on the way). */
  of(publisher: EidPrefix): Subscription[] {
    const subs = this.byPublisher.get(eidPrefixKey(publisher));
    if (!subs) return [];
    const now = this.now();
    const out: Subscription[] = [];
    for (const s of subs.values()) {
      if (s.expiresAt > now) out.push(s);
      else this.remove(s);
    }
    return out;
  }

  /** Forgets expired subscriptions from the head of the renewal order, at most `maxWork`. Returns how many. */
  expire(maxWork = 4096): number {
    const now = this.now();
    let n = 0;
    for (const s of this.byRenewal) {
      if (n >= maxWork || s.expiresAt > now) break;
      this.remove(s);
      n++;
    }
    return n;
  }

  private remove(s: Entry): void {
    this.byRenewal.delete(s);
    const subs = this.byPublisher.get(s.publisherKey);
    if (!subs) return;
    subs.delete(s.subscriberKey);
    if (subs.size === 0) this.byPublisher.delete(s.publisherKey);
  }

  /** Publisher prefix text -> subscriber prefix texts, for `ms show`. */
  toJSON(): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    for (const [pk, subs] of this.byPublisher) out[pk] = [...subs.keys()];
    return out;
  }
}
