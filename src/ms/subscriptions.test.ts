import { describe, expect, it } from 'vitest';
import { Subscriptions } from './subscriptions.js';
import { prefixOf } from '../mapping/database.js';
import { formatEidPrefix } from '../mapping/eid.js';

const p = (i: number) => prefixOf(0, 'ipv4', `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, 32);
const names = (subs: Subscriptions, i: number) => subs.of(p(i)).map((s) => formatEidPrefix(s.subscriber));

describe('Subscriptions', () => {
  it('asks for a store write when added and when a renewal finds the stored expiry under half the TTL away; never for one read from the store', () => {
    let t = 0;
    const subs = new Subscriptions(10, () => t);
    expect(subs.add(p(1), p(100), 1000).store).toBe(true);
    t = 400;
    expect(subs.add(p(1), p(100), 1000).store).toBe(false); // stored until 1000: 600 left
    t = 600;
    expect(subs.add(p(1), p(100), 1000).store).toBe(true); // 400 left
    t = 700;
    expect(subs.add(p(1), p(100), 1000).store).toBe(false); // stored until 1600 now
    expect(subs.add(p(2), p(100), 1000, true).store).toBe(false);
    expect(subs.add(p(2), p(100), 1000, true).store).toBe(false);
    expect([...subs.live()].map((x) => [formatEidPrefix(x.publisher), x.leftMs])).toEqual([['10.0.0.1/32', 1000], ['10.0.0.2/32', 1000]]);
  });

  it('when full, evicts the least recently renewed; a renewal moves a subscription to the back', () => {
    let t = 0;
    const subs = new Subscriptions(3, () => t);
    expect(subs.add(p(1), p(100), 1000)).toMatchObject({ result: 'added', evicted: false });
    subs.add(p(2), p(100), 1000);
    subs.add(p(3), p(100), 1000);
    expect(subs.add(p(1), p(100), 1000)).toMatchObject({ result: 'renewed', evicted: false }); // 1 is now the newest
    expect(subs.add(p(4), p(100), 1000)).toMatchObject({ result: 'added', evicted: true }); // 2 goes
    expect(subs.size).toBe(3);
    expect(names(subs, 2)).toEqual([]);
    expect(names(subs, 1)).toEqual(['10.0.0.100/32']);
    // an expired head is dropped without counting as an eviction
    t = 5000;
    expect(subs.add(p(5), p(100), 1000)).toMatchObject({ result: 'added', evicted: false });
  });

  it('expires from the head a bounded number at a time, and of() never returns the expired', () => {
    let t = 0;
    const subs = new Subscriptions(100, () => t);
    for (let i = 0; i < 10; i++) subs.add(p(i), p(1000), 1000);
    subs.add(p(50), p(1000), 60_000); // long-lived, behind the rest
    subs.add(p(51), p(1000), 1000); // short-lived, behind the long-lived one
    t = 2000;
    expect(subs.expire(4)).toBe(4);
    expect(subs.size).toBe(8);
    expect(subs.expire()).toBe(6); // stops at the long-lived one
    expect(subs.size).toBe(2);
    expect(names(subs, 51)).toEqual([]); // expired behind the head: forgotten when asked for
    expect(subs.size).toBe(1);
    expect(names(subs, 50)).toEqual(['10.0.3.232/32']);
  });

  it('adds at the limit in constant time (prints the figure)', () => {
    const max = 100_000;
    const subs = new Subscriptions(max);
    for (let i = 0; i < max; i++) subs.add(p(i), p(i + 1), 3_600_000);
    const n = 20_000;
    const t0 = performance.now();
    let evicted = 0;
    for (let i = 0; i < n; i++) if (subs.add(p(max + 10 + i), p(i), 3_600_000).evicted) evicted++;
    const us = ((performance.now() - t0) / n) * 1000;
    expect(evicted).toBe(n);
    expect(subs.size).toBe(max);
    console.log(`subscriptions: add at the limit (${max} live) ${us.toFixed(2)} us each, evicting the oldest`);
  });
});
