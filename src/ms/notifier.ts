/**
 * Map-Notifies the Map-Server starts itself (pushes to a destination site, notifications to
 * subscribers): signed with the receiving site's key, retransmitted with exponential backoff
 * until a Map-Notify-Ack with the same nonce verifies, and given up after a bounded number of
 * tries. The state is one small entry per outstanding nonce, in a table of bounded size.
 *
 * Nonces are monotonic (src/lisp/nonce.ts): an agent keeps a replay window per Map-Server and
 * refuses a push it already applied (a retransmission, same nonce, is only acked again) or one
 * older than its window, so a captured push replayed later changes nothing.
 */
import { MonotonicNonces } from '../lisp/nonce.js';
import { LispAuthError, signMessage, verifyMessage, type MapNotifyAck, type MappingRecord } from '../lisp/index.js';
import type { Endpoint } from './registry.js';
import type { Counters } from './stats.js';

export type NotifyKind = 'push' | 'subscription';

export interface NotifyTarget {
  endpoint: Endpoint;
  siteName: string;
  key: string;
  keyId: 1 | 2;
}

interface Pending {
  nonce: bigint;
  target: NotifyTarget;
  bytes: Buffer;
  kind: NotifyKind;
  tries: number;
  timer: NodeJS.Timeout | undefined;
  onAck: Array<() => void>;
  onGiveUp: Array<() => void>;
}

/** Outstanding Map-Notifies at most: beyond this the oldest is given up (a bounded table). */
const MAX_PENDING = 65_536;

export class Notifier {
  private readonly pending = new Map<bigint, Pending>();
  private readonly nonces = new MonotonicNonces();

  constructor(
    private readonly send: (bytes: Buffer, to: Endpoint) => void,
    private readonly opts: { retries: (kind: NotifyKind) => number; retryMs: (kind: NotifyKind) => number },
    private readonly counters: Counters,
  ) {}

  get size(): number {
    return this.pending.size;
  }

  /**
   * Sends a Map-Notify carrying `records` to `target`; `onAck` runs when its Map-Notify-Ack
   * verifies, `onGiveUp` after the last retransmission went unanswered. Returns the nonce.
   */
  notify(target: NotifyTarget, records: MappingRecord[], kind: NotifyKind, handlers: { onAck?: () => void; onGiveUp?: () => void } = {}): bigint {
    if (this.pending.size >= MAX_PENDING) {
      const oldest = this.pending.values().next().value;
      if (oldest) this.giveUp(oldest);
    }
    const nonce = this.nonces.next();
    const bytes = signMessage({ type: 'map-notify', nonce, keyId: target.keyId, authData: new Uint8Array(0), records }, target.keyId, target.key);
    const p: Pending = { nonce, target, bytes, kind, tries: 0, timer: undefined, onAck: [], onGiveUp: [] };
    if (handlers.onAck) p.onAck.push(handlers.onAck);
    if (handlers.onGiveUp) p.onGiveUp.push(handlers.onGiveUp);
    this.pending.set(nonce, p);
    this.counters.inc(kind === 'push' ? 'tx-map-notify-push' : 'tx-map-notify-subscription');
    this.transmit(p);
    return nonce;
  }

  /** Adds handlers to an outstanding Map-Notify (false when it is no longer outstanding). */
  attach(nonce: bigint, handlers: { onAck?: () => void; onGiveUp?: () => void }): boolean {
    const p = this.pending.get(nonce);
    if (!p) return false;
    if (handlers.onAck) p.onAck.push(handlers.onAck);
    if (handlers.onGiveUp) p.onGiveUp.push(handlers.onGiveUp);
    return true;
  }

  private transmit(p: Pending): void {
    if (p.tries > 0) this.counters.inc('tx-retransmit');
    p.tries++;
    this.send(p.bytes, p.target.endpoint);
    const retries = this.opts.retries(p.kind);
    const delay = this.opts.retryMs(p.kind) * 2 ** (p.tries - 1);
    p.timer = setTimeout(() => (p.tries <= retries ? this.transmit(p) : this.giveUp(p)), delay);
    p.timer.unref();
  }

  private giveUp(p: Pending): void {
    clearTimeout(p.timer);
    this.pending.delete(p.nonce);
    this.counters.inc(p.kind === 'push' ? 'pushes-unacked' : 'subscriptions-unacked');
    for (const f of p.onGiveUp) f();
  }

  /**
   * A Map-Notify-Ack arrived: it settles the Map-Notify with its nonce when its HMAC verifies
   * with the key that Map-Notify was signed with. Nothing changes otherwise.
   */
  ack(bytes: Uint8Array, msg: MapNotifyAck): 'acked' | 'unknown-nonce' | 'bad-hmac' {
    const p = this.pending.get(msg.nonce);
    if (!p) return 'unknown-nonce';
    try {
      verifyMessage(bytes, p.target.key);
    } catch (e) {
      if (e instanceof LispAuthError) return 'bad-hmac';
      throw e;
    }
    clearTimeout(p.timer);
    this.pending.delete(p.nonce);
    this.counters.inc(p.kind === 'push' ? 'pushes-acked' : 'subscriptions-acked');
    for (const f of p.onAck) f();
    return 'acked';
  }

  /** Stops every retransmission (shutdown). */
  close(): void {
    for (const p of this.pending.values()) clearTimeout(p.timer);
    this.pending.clear();
  }
}
