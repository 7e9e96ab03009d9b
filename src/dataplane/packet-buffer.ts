/**
 * The miss buffer: packets caught on the TUN while their destination is being resolved, held per
 * destination and released once the WireGuard peer and route are installed, so that the first
 * packet of a flow is not lost (OOR drops it; the `drop` miss policy keeps that behaviour).
 *
 * Bounded three ways: packets and bytes per destination, the number of destinations, and the
 * age of a packet. Every packet that does not make it out is counted under its reason.
 */

/**
 * Why a packet was dropped: the per-destination limits (overflow), its age, too many
 * destinations at once, a resolution that failed (unresolved) or answered negatively
 * (negative), or the `drop` miss policy.
 */
export type DropReason = 'overflow' | 'age' | 'destinations' | 'unresolved' | 'negative' | 'policy';

export interface PacketBufferLimits {
  /** Packets held per destination (the newest beyond it are dropped, as a tail-drop queue). */
  maxPackets: number;
  /** Bytes held per destination. */
  maxBytes: number;
  /** Destinations with packets waiting at once. */
  maxDestinations: number;
  /** A packet older than this is dropped instead of released (ms). */
  maxAgeMs: number;
}

export interface PacketBufferStats {
  /** Packets held now. */
  buffered: number;
  bufferedBytes: number;
  destinations: number;
  /** Packets accepted into the buffer since start. */
  accepted: number;
  /** Packets released (handed back for delivery) since start. */
  released: number;
  dropped: Record<DropReason, number>;
}

interface Queue {
  packets: Uint8Array[];
  arrived: number[];
  bytes: number;
}

export class PacketBuffer {
  private readonly queues = new Map<string, Queue>();
  private buffered = 0;
  private bufferedBytes = 0;
  private accepted = 0;
  private released = 0;
  private readonly dropped: Record<DropReason, number> = { overflow: 0, age: 0, destinations: 0, unresolved: 0, negative: 0, policy: 0 };

  constructor(
    readonly limits: PacketBufferLimits,
    private readonly now: () => number = () => performance.now(),
  ) {
    for (const [k, v] of Object.entries(limits)) {
      if (!(Number.isFinite(v) && v >= 0)) throw new RangeError(`packet buffer limit ${k} must be a number >= 0, got ${String(v)}`);
    }
  }

  /** Holds a packet for `key`; false when it was dropped (and counted). */
  push(key: string, packet: Uint8Array): boolean {
    let q = this.queues.get(key);
    if (!q) {
      if (this.queues.size >= this.limits.maxDestinations) return this.drop('destinations', 1);
      q = { packets: [], arrived: [], bytes: 0 };
      this.queues.set(key, q);
    }
    if (q.packets.length >= this.limits.maxPackets || q.bytes + packet.length > this.limits.maxBytes) {
      // an empty queue created just now must not linger
      if (q.packets.length === 0) this.queues.delete(key);
      return this.drop('overflow', 1);
    }
    q.packets.push(packet);
    q.arrived.push(this.now());
    q.bytes += packet.length;
    this.buffered++;
    this.bufferedBytes += packet.length;
    this.accepted++;
    return true;
  }

  /** Counts a packet dropped without being buffered (the `drop` miss policy). */
  dropUnbuffered(reason: DropReason = 'policy'): void {
    this.drop(reason, 1);
  }

  /** Removes and returns the packets held for `key`, oldest first, minus those too old. */
  take(key: string): Uint8Array[] {
    const q = this.queues.get(key);
    if (!q) return [];
    this.forget(key, q);
    const cutoff = this.now() - this.limits.maxAgeMs;
    let first = 0;
    while (first < q.arrived.length && q.arrived[first]! < cutoff) first++;
    if (first > 0) this.drop('age', first);
    const out = first > 0 ? q.packets.slice(first) : q.packets;
    this.released += out.length;
    return out;
  }

  /** Drops every packet held for `key` (resolution failed or the reply was negative). */
  discard(key: string, reason: DropReason = 'unresolved'): number {
    const q = this.queues.get(key);
    if (!q) return 0;
    this.forget(key, q);
    this.drop(reason, q.packets.length);
    return q.packets.length;
  }

  /** Drops packets older than the age limit everywhere; returns how many. Call it periodically. */
  expire(): number {
    const cutoff = this.now() - this.limits.maxAgeMs;
    let n = 0;
    for (const [key, q] of this.queues) {
      let first = 0;
      while (first < q.arrived.length && q.arrived[first]! < cutoff) first++;
      if (first === 0) continue;
      n += first;
      for (let i = 0; i < first; i++) {
        q.bytes -= q.packets[i]!.length;
        this.bufferedBytes -= q.packets[i]!.length;
      }
      this.buffered -= first;
      q.packets.splice(0, first);
      q.arrived.splice(0, first);
      if (q.packets.length === 0) this.queues.delete(key);
    }
    if (n > 0) this.drop('age', n);
    return n;
  }

  /** The destinations with packets held. */
  keys(): string[] {
    return [...this.queues.keys()];
  }

  /** True while packets are held for `key`. */
  has(key: string): boolean {
    return this.queues.has(key);
  }

  stats(): PacketBufferStats {
    return {
      buffered: this.buffered,
      bufferedBytes: this.bufferedBytes,
      destinations: this.queues.size,
      accepted: this.accepted,
      released: this.released,
      dropped: { ...this.dropped },
    };
  }

  private forget(key: string, q: Queue): void {
    this.queues.delete(key);
    this.buffered -= q.packets.length;
    this.bufferedBytes -= q.bytes;
  }

  private drop(reason: DropReason, n: number): false {
    this.dropped[reason] += n;
    return false;
  }
}
