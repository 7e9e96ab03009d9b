import { describe, expect, it } from 'vitest';
import { PacketBuffer } from './packet-buffer.js';

function clock() {
  let t = 0;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

const limits = { maxPackets: 3, maxBytes: 1000, maxDestinations: 2, maxAgeMs: 100 };
const pkt = (n: number, size = 10) => Buffer.alloc(size, n);

describe('PacketBuffer', () => {
  it('releases the held packets in arrival order, once', () => {
    const c = clock();
    const b = new PacketBuffer(limits, c.now);
    expect(b.push('a', pkt(1))).toBe(true);
    expect(b.push('a', pkt(2))).toBe(true);
    expect(b.push('b', pkt(3))).toBe(true);
    expect(b.stats()).toMatchObject({ buffered: 3, bufferedBytes: 30, destinations: 2, accepted: 3 });
    expect(b.take('a').map((p) => p[0])).toEqual([1, 2]);
    expect(b.take('a')).toEqual([]);
    expect(b.stats()).toMatchObject({ buffered: 1, bufferedBytes: 10, destinations: 1, released: 2 });
  });

  it('bounds packets and bytes per destination and counts the overflow', () => {
    const b = new PacketBuffer(limits, clock().now);
    for (let i = 0; i < 5; i++) b.push('a', pkt(i));
    expect(b.stats().buffered).toBe(3);
    expect(b.push('b', pkt(9, 999))).toBe(true);
    expect(b.push('b', pkt(9, 2))).toBe(false);
    expect(b.stats().dropped.overflow).toBe(3);
    // a single packet larger than the byte limit leaves no empty queue behind
    b.take('b');
    expect(b.push('c', pkt(1, 1001))).toBe(false);
    expect(b.has('c')).toBe(false);
    expect(b.keys()).toEqual(['a']);
  });

  it('bounds the number of destinations', () => {
    const b = new PacketBuffer(limits, clock().now);
    b.push('a', pkt(1));
    b.push('b', pkt(1));
    expect(b.push('c', pkt(1))).toBe(false);
    expect(b.stats().dropped.destinations).toBe(1);
    b.take('a');
    expect(b.push('c', pkt(1))).toBe(true);
  });

  it('drops packets older than the age limit, on take and on expire', () => {
    const c = clock();
    const b = new PacketBuffer(limits, c.now);
    b.push('a', pkt(1));
    c.advance(60);
    b.push('a', pkt(2));
    b.push('b', pkt(3));
    c.advance(50);
    expect(b.take('a').map((p) => p[0])).toEqual([2]);
    expect(b.stats().dropped.age).toBe(1);
    c.advance(100);
    expect(b.expire()).toBe(1);
    expect(b.stats()).toMatchObject({ buffered: 0, bufferedBytes: 0, destinations: 0 });
    expect(b.stats().dropped.age).toBe(2);
  });

  it('discards a destination whose resolution failed and counts policy drops', () => {
    const b = new PacketBuffer(limits, clock().now);
    b.push('a', pkt(1));
    b.push('a', pkt(2));
    expect(b.discard('a')).toBe(2);
    b.dropUnbuffered();
    expect(b.stats()).toMatchObject({ buffered: 0, dropped: { unresolved: 2, policy: 1 } });
  });

  it('refuses a nonsensical limit', () => {
    expect(() => new PacketBuffer({ ...limits, maxPackets: -1 })).toThrow(/maxPackets/);
  });
});
