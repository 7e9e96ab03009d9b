/**
 * The agent's event log: one JSON object per line for every step the experiments time (miss,
 * Map-Request sent, Map-Reply received, peer installed, route installed, first packet released)
 * and every state change an operator wants to trace (push, revocation, expiry, RLOC change).
 *
 * `t` is wall-clock time in ms since the epoch with microsecond resolution
 * (performance.timeOrigin + performance.now()), so it lines up with packet-capture timestamps
 * taken on the same machine; `mono` is the monotonic clock, for differences inside one process.
 * Lines are gathered while the event loop turn runs and written with one synchronous append at
 * its end (setImmediate): a stream would hand each write to a libuv pool thread, whose wake-ups
 * (and the event loop's again afterwards) land in the middle of the very steps being recorded
 * and show in their timings on a 2-core machine. A turn's events are on disk before the next
 * packet or admin request is handled, so whoever reads the file after asking the agent anything
 * sees them. A failing write (disk full) is counted, never thrown.
 */
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

export type AgentEvent =
  | 'agent-started'
  | 'agent-stopped'
  | 'register-sent'
  | 'registered'
  | 'rloc-changed'
  | 'miss'
  | 'map-request-sent'
  | 'map-reply-received'
  | 'negative-reply'
  | 'resolve-gave-up'
  | 'map-notify-received'
  | 'map-notify-rejected'
  | 'peer-installed'
  | 'peer-updated'
  | 'route-installed'
  | 'first-packet-released'
  | 'packets-released'
  | 'peer-silent'
  | 'peer-reset'
  | 'handshake-retry'
  | 'handshake-gave-up'
  | 'entry-refresh'
  | 'entry-expired'
  | 'entry-stale'
  | 'peer-idle'
  | 'peer-removed'
  | 'revoked'
  // a mapping refused by the agent's own rules (a borrowed key, a full table)
  | 'mapping-refused'
  // the plain LISP data plane (data-plane: lisp): a map-cache entry usable, SMRs out and in
  | 'mapping-installed'
  | 'smr-sent'
  | 'smr-received';

export interface EventRecord {
  t: number;
  mono: number;
  event: AgentEvent;
  [field: string]: unknown;
}

export class EventLog {
  private fd: number | undefined;
  private pending = '';
  private scheduled = false;
  /** Appends that failed (their lines are lost; the agent goes on). */
  writeErrors = 0;

  /** `path`: the file to append to; undefined keeps events in memory only (the `recent` ring). */
  constructor(
    path: string | undefined,
    private readonly base: Record<string, unknown> = {},
    private readonly keep = 256,
  ) {
    if (path) {
      mkdirSync(dirname(path), { recursive: true });
      this.fd = openSync(path, 'a');
    }
  }

  /** The most recent events, oldest first (for `lispwg show`). */
  readonly recent: EventRecord[] = [];

  /** Records `event` now, or at `mono` (a performance.now() reading) when it happened earlier. */
  emit(event: AgentEvent, fields: Record<string, unknown> = {}, mono = performance.now()): EventRecord {
    const rec: EventRecord = { t: Math.round((performance.timeOrigin + mono) * 1000) / 1000, mono: Math.round(mono * 1000) / 1000, event, ...this.base, ...fields };
    this.recent.push(rec);
    if (this.recent.length > this.keep) this.recent.shift();
    if (this.fd !== undefined) {
      this.pending += JSON.stringify(rec) + '\n';
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    }
    return rec;
  }

  /** Writes what is pending now. */
  flush(): void {
    this.scheduled = false;
    if (!this.pending || this.fd === undefined) return;
    try {
      writeSync(this.fd, this.pending);
    } catch {
      this.writeErrors++;
    }
    this.pending = '';
  }

  /** Writes what is pending and closes the file. */
  close(): Promise<void> {
    this.flush();
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    return Promise.resolve();
  }
}
