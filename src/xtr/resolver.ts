/**
 * The resolution state machine of the agent: at most one Map-Request in flight per destination,
 * retransmitted with exponential backoff until an answer or the attempt limit.
 *
 * It sends nothing itself: `send(dest, attempt)` puts one Map-Request on the wire (a fresh
 * nonce per attempt is the sender's business) and the agent reports the answer with
 * `answered()`. Destinations are opaque keys (the agent uses the EID prefix asked for).
 * Negative answers are cached by the agent's map-cache, by prefix, for their TTL: a miss that
 * hits one never gets here.
 */
import { Histogram } from '../ms/stats.js';

export interface ResolveTimers {
  /** Wait before the first retransmission (ms). */
  firstTimeoutMs: number;
  /** Each further wait is the previous one times this. */
  backoff: number;
  /** Cap on one wait (ms). */
  maxTimeoutMs: number;
  /** Map-Requests sent for one resolution before giving up (>= 1). */
  attempts: number;
}

export type ResolveOutcome = 'sent' | 'in-flight';

export interface ResolverEvents {
  /** Puts one Map-Request for `dest` on the wire; attempt counts from 1. */
  send(dest: string, attempt: number): void;
  /** All attempts went unanswered. */
  giveUp(dest: string, attempts: number): void;
}

interface InFlight {
  started: number;
  attempt: number;
  waitMs: number;
  timer: ReturnType<typeof setTimeout>;
}

export interface ResolverStats {
  inFlight: number;
  requestsSent: number;
  retransmissions: number;
  answered: number;
  giveUps: number;
  /** Resolution latencies (first Map-Request sent to answer), ms, the most recent ones. */
  latenciesMs: number[];
}

const LATENCY_WINDOW = 1024;

export class Resolver {
  private readonly inFlight = new Map<string, InFlight>();
  private readonly latencies: number[] = [];
  /** Every resolution latency since start (ns), for the metrics (the window above is for `show`). */
  readonly histogram = new Histogram();
  private requestsSent = 0;
  private retransmissions = 0;
  private answeredCount = 0;
  private giveUps = 0;

  constructor(
    private readonly timers: ResolveTimers,
    private readonly events: ResolverEvents,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(timers.attempts >= 1)) throw new RangeError('resolve attempts must be >= 1');
    if (!(timers.backoff >= 1)) throw new RangeError('resolve backoff must be >= 1');
  }

  /** Asks for `dest` unless a request for it is already in flight. */
  resolve(dest: string): ResolveOutcome {
    if (this.inFlight.has(dest)) return 'in-flight';
    const f: InFlight = { started: this.now(), attempt: 1, waitMs: this.timers.firstTimeoutMs, timer: undefined as never };
    this.inFlight.set(dest, f);
    f.timer = setTimeout(() => this.timeout(dest, f), f.waitMs);
    this.requestsSent++;
    this.events.send(dest, 1);
    return 'sent';
  }

  /** Destinations with a request in flight. */
  get inFlightCount(): number {
    return this.inFlight.size;
  }

  /** True while a Map-Request for `dest` awaits its answer. */
  pending(dest: string): boolean {
    return this.inFlight.has(dest);
  }

  /** The answer arrived: stops retransmitting; returns the resolution latency (ms), undefined when nothing was waiting. */
  answered(dest: string): number | undefined {
    const f = this.inFlight.get(dest);
    if (!f) return undefined;
    clearTimeout(f.timer);
    this.inFlight.delete(dest);
    const latency = this.now() - f.started;
    this.latencies.push(latency);
    if (this.latencies.length > LATENCY_WINDOW) this.latencies.shift();
    this.histogram.record(latency * 1e6);
    this.answeredCount++;
    return latency;
  }

  /** When the in-flight request for `dest` started (monotonic ms). */
  startedAt(dest: string): number | undefined {
    return this.inFlight.get(dest)?.started;
  }

  /** The destinations with a request in flight. */
  inFlightKeys(): IterableIterator<string> {
    return this.inFlight.keys();
  }

  /** Stops every retransmission (shutdown). */
  close(): void {
    for (const f of this.inFlight.values()) clearTimeout(f.timer);
    this.inFlight.clear();
  }

  stats(): ResolverStats {
    return {
      inFlight: this.inFlight.size,
      requestsSent: this.requestsSent,
      retransmissions: this.retransmissions,
      answered: this.answeredCount,
      giveUps: this.giveUps,
      latenciesMs: [...this.latencies],
    };
  }

  private timeout(dest: string, f: InFlight): void {
    if (this.inFlight.get(dest) !== f) return;
    if (f.attempt >= this.timers.attempts) {
      this.inFlight.delete(dest);
      this.giveUps++;
      this.events.giveUp(dest, f.attempt);
      return;
    }
    f.attempt++;
    f.waitMs = Math.min(f.waitMs * this.timers.backoff, this.timers.maxTimeoutMs);
    f.timer = setTimeout(() => this.timeout(dest, f), f.waitMs);
    this.requestsSent++;
    this.retransmissions++;
    this.events.send(dest, f.attempt);
  }
}
