import { describe, expect, it } from 'vitest';
import { RateLimiter, type RateLimitConfig, type RateVerdict } from './rate-limit.js';

const conf = (o: Partial<RateLimitConfig> = {}): RateLimitConfig => ({ rate: 10, burst: 5, tableSize: 1000, strangers: { rate: 100, burst: 50 }, ...o });

function count(rl: RateLimiter, sources: Iterable<string>, isSite = false): Record<RateVerdict, number> {
  const out: Record<RateVerdict, number> = { pass: 0, site: 0, source: 0, strangers: 0 };
  for (const s of sources) out[rl.check(s, isSite)]++;
  return out;
}

const many = (n: number, from = 0) => Array.from({ length: n }, (_, i) => `127.${(i + from) >> 16 & 255}.${(i + from) >> 8 & 255}.${(i + from) & 255}`);

describe('RateLimiter', () => {
  it('allows a burst, then the rate, per source', () => {
    let t = 0;
    const rl = new RateLimiter(conf(), () => t);
    expect(count(rl, Array(20).fill('a'))).toMatchObject({ pass: 5, source: 15 });
    expect(rl.check('b', false)).toBe('pass'); // another source has its own bucket
    t = 1000; // one second: 10 more tokens, capped at the burst
    expect(count(rl, Array(20).fill('a')).pass).toBe(5);
    expect(new RateLimiter(conf({ rate: 0 })).check('x', false)).toBe('pass');
  });

  it('caps what random sources pass together by the strangers bucket, whatever the table size', () => {
    let t = 0;
    // the old limiter: a full burst for every new source, so 100 000 sources passed 100 000 packets
    const rl = new RateLimiter(conf({ tableSize: 64 }), () => t);
    expect(count(rl, many(100_000))).toEqual({ pass: 50, site: 0, source: 0, strangers: 99_950 });
    t = 1000; // a second later: the strangers' rate, 100, and no more
    expect(count(rl, many(100_000, 100_000)).pass).toBe(50); // capped at the shared burst
    t = 1500;
    expect(count(rl, many(100_000, 200_000)).pass).toBe(50);
    expect(rl.size.strangers).toBeLessThanOrEqual(64);
    // a forgotten source comes back with a full bucket of its own, but the shared one is empty
    expect(rl.check('127.0.0.0', false)).toBe('strangers');
  });

  it('gives each site address its own bucket that strangers neither drain nor evict', () => {
    let t = 0;
    const rl = new RateLimiter(conf({ tableSize: 3 }), () => t);
    count(rl, many(10_000)); // the strangers' bucket is empty
    expect(count(rl, Array(8).fill('100.100.0.2'), true)).toMatchObject({ pass: 5, site: 3 });
    expect(rl.check('100.100.0.3', true)).toBe('pass'); // another site address: its own bucket
    count(rl, many(10_000, 10_000));
    // its bucket was kept (not re-created full): still empty until it refills at the rate
    expect(rl.check('100.100.0.2', true)).toBe('site');
    t = 100;
    expect(rl.check('100.100.0.2', true)).toBe('pass');
    expect(rl.size).toEqual({ sites: 2, strangers: 3 });
  });

  it('with the strangers bucket off, limits per source only', () => {
    const rl = new RateLimiter(conf({ strangers: { rate: 0, burst: 1 } }), () => 0);
    expect(count(rl, many(1000)).pass).toBe(1000);
  });

  it('charges by size (a token per started KiB) and for work found later, into debt', () => {
    let t = 0;
    const rl = new RateLimiter(conf({ rate: 10, burst: 20 }), () => t);
    expect(RateLimiter.cost(100)).toBe(1);
    expect(RateLimiter.cost(7176)).toBe(8); // a Map-Register of 255 records
    expect(rl.check('a', true, 8)).toBe('pass');
    expect(rl.check('a', true, 8)).toBe('pass');
    expect(rl.check('a', true, 8)).toBe('site'); // 4 left
    rl.charge('a', 24); // it stored 24 records: 20 in debt
    t = 2000; // 20 tokens later: back to 0, still not 1
    expect(rl.check('a', true)).toBe('site');
    t = 2100;
    expect(rl.check('a', true)).toBe('pass');
    // strangers pay the shared bucket by size too
    const s = new RateLimiter(conf({ rate: 1000, burst: 1000, strangers: { rate: 1, burst: 10 } }), () => 0);
    expect(s.check('x', false, 8)).toBe('pass');
    expect(s.check('y', false, 8)).toBe('strangers');
    expect(s.check('y', false, 2)).toBe('pass');
  });

  it('forgets the buckets of addresses that are no longer sites, a bounded number per call', () => {
    const rl = new RateLimiter(conf(), () => 0);
    for (const a of many(10)) rl.check(a, true);
    const sites = new Set(many(2));
    rl.prune((a) => sites.has(a), 4);
    expect(rl.size.sites).toBe(8);
    rl.prune((a) => sites.has(a), 4);
    rl.prune((a) => sites.has(a), 4);
    expect(rl.size.sites).toBe(2);
  });
});
