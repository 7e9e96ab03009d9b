import { describe, expect, it } from 'vitest';
import { MonotonicNonces, ReplayWindow, nonceTimeMs } from './nonce.js';

describe('monotonic nonces and the replay window', () => {
  it('nonces grow within a millisecond and across a restart, and carry the clock', () => {
    let now = 1_800_000_000_000;
    const a = new MonotonicNonces(() => now);
    const n1 = a.next();
    const n2 = a.next();
    expect(n2).toBe(n1 + 1n);
    expect(nonceTimeMs(n1)).toBe(now);
    now += 1;
    const restarted = new MonotonicNonces(() => now);
    expect(restarted.next()).toBeGreaterThan(n2);
  });

  it('accepts each nonce once, tolerates reordering and late retransmissions, refuses what is stale', () => {
    let now = 1_800_000_000_000;
    const gen = new MonotonicNonces(() => now);
    const w = new ReplayWindow(64, 60_000, () => now);
    const ns = Array.from({ length: 100 }, () => {
      now += 7; // a few ms apart: nonces jump by 2^20 per ms
      return gen.next();
    });
    // 5 arrives before 4, and 1 (lost, sent again) after both: all accepted once
    for (const i of [0, 2, 3, 5, 4, 1]) {
      expect(w.check(ns[i]!)).toBe('fresh');
      w.accept(ns[i]!);
    }
    expect(w.check(ns[3]!)).toBe('replayed');
    for (let i = 6; i < 100; i++) w.accept(ns[i]!);
    expect(w.check(ns[99]!)).toBe('replayed');
    expect(w.check(ns[20]!)).toBe('stale'); // more than 64 since: below the floor
    now += 61_000;
    const late = new ReplayWindow(64, 60_000, () => now); // a receiver that has just started
    expect(late.check(ns[99]!)).toBe('stale');
    expect(late.check(gen.next())).toBe('fresh');
    expect(late.check((BigInt(now + 120_000) << 20n) | 1n)).toBe('future');
  });
});
