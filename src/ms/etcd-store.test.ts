/**
 * The etcd store's lease buckets (pure): a value goes under a lease that outlives it by at most
 * 1/8 of its life (8 s at least), and values of one TTL written over time share a few leases.
 * The store against a real etcd: etcd-store.integration.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { EtcdStore } from './etcd-store.js';

describe('EtcdStore lease buckets', () => {
  it('never ends a lease before its value expires, nor much after', () => {
    const now = 1_700_000_000_000;
    for (const life of [0, 1000, 8000, 60_000, 180_000, 600_000, 3_600_000, 86_400_000]) {
      const end = EtcdStore.bucketEnd(now + life, now);
      expect(end).toBeGreaterThanOrEqual(now + life);
      expect(end - (now + life)).toBeLessThanOrEqual(Math.max(8000, life / 8));
    }
  });

  it('puts 100 000 registrations of a 180-s TTL, written over a minute, under a handful of leases', () => {
    const now = 1_700_000_000_000;
    const ends = new Set<number>();
    for (let i = 0; i < 100_000; i++) {
      const t = now + (i * 60_000) / 100_000;
      ends.add(EtcdStore.bucketEnd(t + 180_000, t));
    }
    expect(ends.size).toBeLessThanOrEqual(6);
  });
});
