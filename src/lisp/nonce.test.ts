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

  it('accepts each nonce once, tolerates reordering, refuses what fell out of the window or is stale', () => {
    let now = 1_800_000_000_000;
    const gen = new MonotonicNonces(() => now);
    const w = new ReplayWindow(64, 60_000, () => now);
    const ns = Array.from({ length: 100 }, () => gen.next());
    // 5 arrives before 4: both accepted
    for (const i of [0, 1, 2, 3, 5, 4]) {
      expect(w.check(ns[i]!)).toBe('fresh');
      w.accept(ns[i]!);
    }
    expect(w.check(ns[3]!)).toBe('replayed');
    for (let i = 6; i < 100; i++) w.accept(ns[i]!);
    expect(w.check(ns[20]!)).toBe('stale'); // 79 below the highest, window 64
    expect(w.check(ns[99]!)).toBe('replayed');
    now += 61_000;
    const late = new ReplayWindow(64, 60_000, () => now); // a receiver that has just started
    expect(late.check(ns[99]!)).toBe('stale');
    expect(late.check(gen.next())).toBe('fresh');
    expect(late.check((BigInt(now + 120_000) << 20n) | 1n)).toBe('future');
  });
});
