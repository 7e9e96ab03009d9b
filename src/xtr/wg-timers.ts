/**
 * Every timer the WireGuard data plane keeps per peer, in one place (as wireguard-go keeps its
 * own in device/timers.go). Decisions only: the data plane feeds it the peer counters it reads
 * each upkeep round and acts on what it answers.
 *
 * - idle: neither rx nor tx moved for `idleTimeoutMs` since the last movement or the last push
 *   of the peer's mapping (a push means its site is about to send) -> remove the peer.
 * - silent: we keep sending (more than a keepalive), nothing comes back and no handshake
 *   completed for `peerSilenceMs`
 *   (a double jump) -> re-resolve; again after a backoff doubling up to 60 s, reset by any rx
 *   or by a new endpoint.
 * - handshake watch: a new peer we initiate towards; `handshakeRetryMs` later (doubling) the
 *   data plane checks that its first handshake completed (see WireGuardDataPlane).
 */

export interface PeerTimerSettings {
  idleTimeoutMs: number;
  peerSilenceMs: number;
  handshakeRetryMs: number;
}

export interface PeerSample {
  rxBytes: number;
  txBytes: number;
  lastHandshake?: Date | undefined;
}

export interface PeerVerdict {
  /** Sending into silence this long (ms): re-resolve. */
  silentMs?: number;
  /** Idle this long (ms): remove. */
  idleMs?: number;
}

interface Activity {
  rx: number;
  tx: number;
  /** Last time rx or tx moved (monotonic ms). */
  activeAt: number;
  /** Last time rx moved. */
  rxAt: number;
  /** Last time the Map-Server pushed this peer's mapping. */
  pushedAt: number;
  /** Silence probes: the next allowed one, and the current backoff. */
  probeAt: number;
  probeBackoff: number;
}

const MAX_PROBE_BACKOFF_MS = 60_000;
/**
 * A WireGuard keepalive on the wire: a transport header and an empty authenticated payload
 * (16 + 16 bytes), as wireguard-go and the kernel count it in tx_bytes. WireGuard sends one by
 * itself 10 s after it last received data without sending any (its passive keepalive): a tx
 * that grew by no more than that is the end of a conversation, not sending into silence.
 */
const KEEPALIVE_BYTES = 32;

export class PeerTimers {
  private readonly activity = new Map<string, Activity>();
  private readonly watches = new Map<string, NodeJS.Timeout>();

  constructor(
    private readonly t: PeerTimerSettings,
    private readonly now: () => number = () => performance.now(),
    private readonly wallNow: () => number = () => Date.now(),
  ) {}

  /** One upkeep sample of peer `id`'s counters; the first one only starts its clocks. */
  sample(id: string, s: PeerSample): PeerVerdict {
    const now = this.now();
    const a = this.activity.get(id);
    if (!a) {
      this.activity.set(id, { rx: s.rxBytes, tx: s.txBytes, activeAt: now, rxAt: now, pushedAt: 0, probeAt: 0, probeBackoff: this.t.peerSilenceMs });
      return {};
    }
    const rxMoved = s.rxBytes !== a.rx;
    const txMoved = s.txBytes !== a.tx;
    const txDelta = s.txBytes - a.tx;
    const sending = txDelta > KEEPALIVE_BYTES || txDelta < 0; // (< 0: the counters started over)
    a.rx = s.rxBytes;
    a.tx = s.txBytes;
    if (rxMoved || txMoved) a.activeAt = now;
    if (rxMoved) {
      a.rxAt = now;
      a.probeBackoff = this.t.peerSilenceMs;
    }
    const out: PeerVerdict = {};
    const handshakeAge = s.lastHandshake ? this.wallNow() - s.lastHandshake.getTime() : Infinity;
    if (sending && now - a.rxAt >= this.t.peerSilenceMs && handshakeAge >= this.t.peerSilenceMs && now >= a.probeAt) {
      a.probeAt = now + a.probeBackoff;
      a.probeBackoff = Math.min(a.probeBackoff * 2, MAX_PROBE_BACKOFF_MS);
      out.silentMs = now - a.rxAt;
    }
    if (now - Math.max(a.activeAt, a.pushedAt) >= this.t.idleTimeoutMs) out.idleMs = now - a.activeAt;
    return out;
  }

  /** The peer's mapping was pushed: its site is about to send, restart the idle clock. */
  pushed(id: string): void {
    const a = this.activity.get(id);
    if (a) a.pushedAt = this.now();
  }

  /** A new endpoint: the peer gets a fresh chance before it is called silent again. */
  endpointChanged(id: string): void {
    const a = this.activity.get(id);
    if (!a) return;
    a.rxAt = this.now();
    a.probeBackoff = this.t.peerSilenceMs;
  }

  /** When the peer's counters last moved (or when it was first sampled). */
  lastActive(id: string): number | undefined {
    return this.activity.get(id)?.activeAt;
  }

  /** When the peer's receive counter last moved (a passive keepalive counts: the session is alive). */
  lastReceived(id: string): number | undefined {
    return this.activity.get(id)?.rxAt;
  }

  /** Calls `check` once the handshake wait of `attempt` (1, 2, ...) is over, unless one is pending for `id`. */
  watchHandshake(id: string, attempt: number, check: (waitedMs: number) => void): void {
    if (this.watches.has(id)) return;
    const wait = this.t.handshakeRetryMs * 2 ** (attempt - 1);
    this.watches.set(
      id,
      setTimeout(() => {
        this.watches.delete(id);
        check(wait);
      }, wait),
    );
  }

  /** The peer is gone: its clocks and its handshake watch. */
  forget(id: string): void {
    this.activity.delete(id);
    clearTimeout(this.watches.get(id));
    this.watches.delete(id);
  }

  clear(): void {
    this.activity.clear();
    for (const t of this.watches.values()) clearTimeout(t);
    this.watches.clear();
  }
}
