import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Resolver, type ResolveTimers } from './resolver.js';

const timers: ResolveTimers = { firstTimeoutMs: 100, backoff: 2, maxTimeoutMs: 300, attempts: 4 };

describe('Resolver', () => {
  let sent: Array<[string, number, number]>;
  let gaveUp: string[];
  let resolver: Resolver;

  beforeEach(() => {
    vi.useFakeTimers();
    sent = [];
    gaveUp = [];
    resolver = new Resolver(timers, { send: (d, a) => sent.push([d, a, Date.now()]), giveUp: (d) => gaveUp.push(d) }, () => Date.now());
  });
  afterEach(() => {
    resolver.close();
    vi.useRealTimers();
  });

  it('keeps one request in flight per destination', () => {
    expect(resolver.resolve('0/198.18.1.1')).toBe('sent');
    expect(resolver.resolve('0/198.18.1.1')).toBe('in-flight');
    expect(resolver.resolve('0/198.18.1.2')).toBe('sent');
    expect(sent.map(([d, a]) => [d, a])).toEqual([['0/198.18.1.1', 1], ['0/198.18.1.2', 1]]);
  });

  it('retransmits with exponential backoff capped at the maximum, then gives up', () => {
    const t0 = Date.now();
    resolver.resolve('d');
    vi.advanceTimersByTime(2000);
    // waits 100, 200, 300 (capped): sends at 0, 100, 300, 600; gives up at 900
    expect(sent.map(([, a, t]) => [a, t - t0])).toEqual([[1, 0], [2, 100], [3, 300], [4, 600]]);
    expect(gaveUp).toEqual(['d']);
    expect(resolver.pending('d')).toBe(false);
    expect(resolver.stats()).toMatchObject({ requestsSent: 4, retransmissions: 3, giveUps: 1 });
    // after giving up, a new miss starts a new resolution
    expect(resolver.resolve('d')).toBe('sent');
  });

  it('stops retransmitting on an answer and measures its latency', () => {
    resolver.resolve('d');
    vi.advanceTimersByTime(150);
    expect(resolver.answered('d')).toBe(150);
    vi.advanceTimersByTime(5000);
    expect(sent).toHaveLength(2);
    expect(gaveUp).toEqual([]);
    expect(resolver.stats()).toMatchObject({ answered: 1, latenciesMs: [150] });
    // an answer nobody waits for (a duplicate) changes nothing
    expect(resolver.answered('d')).toBeUndefined();
    expect(resolver.stats().answered).toBe(1);
  });

  it('lists what is in flight and when it started', () => {
    const t0 = Date.now();
    resolver.resolve('a');
    vi.advanceTimersByTime(10);
    resolver.resolve('b');
    expect([...resolver.inFlightKeys()]).toEqual(['a', 'b']);
    expect(resolver.startedAt('b')! - t0).toBe(10);
    resolver.answered('a');
    expect([...resolver.inFlightKeys()]).toEqual(['b']);
    resolver.close();
    expect(resolver.pending('b')).toBe(false);
    vi.advanceTimersByTime(10_000);
    expect(sent).toHaveLength(2);
  });
});
