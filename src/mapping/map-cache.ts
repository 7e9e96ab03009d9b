/**
 * MapCache: the xTR's cache of resolved mappings (positive and negative), longest-prefix match
 * per instance ID, each entry living for its record TTL. Expiry is lazy on lookup and explicit
 * through expire(), which the owner calls from one timer (no timer per entry).
 */
import { MappingDatabase } from './database.js';
import type { EidPrefix } from './eid.js';
import type { IpFamily } from '../ip/ip.js';

export interface MapCacheEntry<V> {
  prefix: EidPrefix;
  value: V;
  /** Monotonic ms (performance.now()) when inserted or last refreshed. */
  insertedAt: number;
  /** Monotonic ms after which the entry is gone; Infinity for "forever". */
  expiresAt: number;
}

/**
 * True when an entry is due for re-resolution at `now`: it is inside its refresh window (the
 * last `beforeMs` of its life) and was used (`usedAt`: its last traffic) inside that window.
 * Traffic from before the window does not count: an entry whose traffic has stopped is left to
 * expire, as its peer is left to go idle (a refresh is a Map-Request, which makes the Map-Server
 * push our record to the destination: it would announce traffic that is not coming).
 */
export function refreshDue(entry: Pick<MapCacheEntry<unknown>, 'insertedAt' | 'expiresAt'>, usedAt: number | undefined, now: number, beforeMs: number): boolean {
  const windowStart = Math.max(entry.insertedAt, entry.expiresAt - beforeMs);
  return now >= windowStart && usedAt !== undefined && usedAt > windowStart;
}

export class MapCache<V> {
  private readonly db = new MappingDatabase<MapCacheEntry<V>>();
  private readonly now: () => number;

  constructor(opts: { now?: () => number } = {}) {
    this.now = opts.now ?? (() => performance.now());
  }

  get size(): number {
    return this.db.size;
  }

  /**
   * Adds or replaces the entry for `prefix`, living `ttlMs` (Infinity: forever; <= 0 removes).
   * Returns the entry.
   */
  set(prefix: EidPrefix, value: V, ttlMs: number): MapCacheEntry<V> | undefined {
    if (ttlMs <= 0) {
      this.db.delete(prefix);
      return undefined;
    }
    const now = this.now();
    const entry: MapCacheEntry<V> = { prefix, value, insertedAt: now, expiresAt: now + ttlMs };
    this.db.set(prefix, entry);
    return entry;
  }

  /** Longest-prefix match of an address among live entries (an expired match is removed). */
  lookup(iid: number, afi: IpFamily, address: string): MapCacheEntry<V> | undefined {
    for (let guard = 0; guard < 130; guard++) {
      const e = this.db.lookupValue(iid, afi, address);
      if (!e) return undefined;
      if (e.expiresAt > this.now()) return e;
      this.db.delete(e.prefix); // expired: drop it and look for a shorter live one
    }
    return undefined;
  }

  /** The entry stored at exactly `prefix`, if live. */
  get(prefix: EidPrefix): MapCacheEntry<V> | undefined {
    const e = this.db.get(prefix);
    return e && e.expiresAt > this.now() ? e : undefined;
  }

  delete(prefix: EidPrefix): MapCacheEntry<V> | undefined {
    return this.db.delete(prefix);
  }

  /** Removes and returns every entry whose time is up. */
  expire(): MapCacheEntry<V>[] {
    const now = this.now();
    const gone: MapCacheEntry<V>[] = [];
    for (const { value } of this.db.entries()) if (value.expiresAt <= now) gone.push(value);
    for (const e of gone) this.db.delete(e.prefix);
    return gone;
  }

  /** The earliest expiry among the entries (Infinity when empty), to arm one timer. */
  nextExpiry(): number {
    let t = Infinity;
    for (const { value } of this.db.entries()) if (value.expiresAt < t) t = value.expiresAt;
    return t;
  }

  *entries(): IterableIterator<MapCacheEntry<V>> {
    for (const { value } of this.db.entries()) yield value;
  }

  clear(): void {
    this.db.clear();
  }
}
