import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PeerTimers, type PeerSample } from './wg-timers.js';

describe('WireGuard peer timers', () => {
  let t: PeerTimers;
  let clock: number;
  beforeEach(() => {
    vi.useFakeTimers();
    clock = 0;
    t = new PeerTimers({ idleTimeoutMs: 10_000, peerSilenceMs: 3000, handshakeRetryMs: 500 }, () => clock, () => clock);
  });
  afterEach(() => {
    t.clear();
    vi.useRealTimers();
  });
  const at = (ms: number, s: PeerSample) => {
    clock = ms;
    return t.sample('p', s);
  };

  it('calls a peer idle when its counters stop moving for the idle timeout', () => {
    expect(at(0, { rxBytes: 0, txBytes: 0 })).toEqual({});
    expect(at(5000, { rxBytes: 100, txBytes: 100 })).toEqual({}); // traffic: the clock restarts
    expect(at(14_000, { rxBytes: 100, txBytes: 100 })).toEqual({});
    expect(at(15_000, { rxBytes: 100, txBytes: 100 })).toEqual({ idleMs: 10_000 });
    expect(t.lastActive('p')).toBe(5000);
  });

  it('restarts the idle clock on a push of the peer', () => {
    at(0, { rxBytes: 0, txBytes: 0 });
    clock = 8000;
    t.pushed('p');
    expect(at(12_000, { rxBytes: 0, txBytes: 0 })).toEqual({});
    expect(at(18_000, { rxBytes: 0, txBytes: 0 })).toEqual({ idleMs: 18_000 });
  });

  it('calls a peer silent when we send and nothing comes back, with a doubling backoff reset by rx', () => {
    at(0, { rxBytes: 0, txBytes: 0 });
    expect(at(1000, { rxBytes: 0, txBytes: 100 })).toEqual({});
    expect(at(3000, { rxBytes: 0, txBytes: 200 })).toEqual({ silentMs: 3000 });
    expect(at(4000, { rxBytes: 0, txBytes: 300 })).toEqual({}); // backoff: 3 s
    expect(at(6000, { rxBytes: 0, txBytes: 400 })).toEqual({ silentMs: 6000 });
    expect(at(11_000, { rxBytes: 0, txBytes: 500 })).toEqual({}); // backoff: 6 s
    expect(at(12_000, { rxBytes: 0, txBytes: 600 })).toEqual({ silentMs: 12_000 });
    // rx moved: no longer silent, and the backoff starts over
    expect(at(13_000, { rxBytes: 10, txBytes: 700 })).toEqual({});
    expect(at(16_000, { rxBytes: 10, txBytes: 800 })).toEqual({}); // the probe already scheduled stands
    expect(at(24_000, { rxBytes: 10, txBytes: 900 })).toEqual({ silentMs: 11_000 });
    expect(at(27_000, { rxBytes: 10, txBytes: 1000 })).toEqual({ silentMs: 14_000 }); // after 3 s again, not 24
    // a recent handshake means the peer answers
    expect(at(40_000, { rxBytes: 10, txBytes: 1100, lastHandshake: new Date(39_000) })).toEqual({});
  });

  it('does not take WireGuard\'s passive keepalive (32 bytes, 10 s after the last data received) for sending into silence', () => {
    at(0, { rxBytes: 0, txBytes: 0 });
    expect(at(500, { rxBytes: 200, txBytes: 200 })).toEqual({}); // a ping and its reply
    expect(at(10_500, { rxBytes: 200, txBytes: 232 })).toEqual({}); // the keepalive alone: the conversation ended
    expect(at(11_000, { rxBytes: 200, txBytes: 232 })).toEqual({});
    expect(at(14_000, { rxBytes: 200, txBytes: 332 })).toEqual({ silentMs: 13_500 }); // data again, and no answer
  });

  it('watches a handshake once per peer, doubling the wait per attempt; forget cancels it', () => {
    const fired: number[] = [];
    t.watchHandshake('p', 1, (w) => fired.push(w));
    t.watchHandshake('p', 1, (w) => fired.push(w)); // one watch per peer
    vi.advanceTimersByTime(500);
    expect(fired).toEqual([500]);
    t.watchHandshake('p', 3, (w) => fired.push(w));
    vi.advanceTimersByTime(1999);
    expect(fired).toEqual([500]);
    vi.advanceTimersByTime(1);
    expect(fired).toEqual([500, 2000]);
    t.watchHandshake('p', 1, (w) => fired.push(w));
    t.forget('p');
    vi.advanceTimersByTime(5000);
    expect(fired).toEqual([500, 2000]);
  });
});
