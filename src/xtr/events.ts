/**
 * The agent's event log: one JSON object per line for every step the experiments time (miss,
 * Map-Request sent, Map-Reply received, peer installed, route installed, first packet released)
 * and every state change an operator wants to trace (push, revocation, expiry, RLOC change).
 *
 * `t` is wall-clock time in ms since the epoch with microsecond resolution
 * (performance.timeOrigin + performance.now()), so it lines up with packet-capture timestamps
 * taken on the same machine; `mono` is the monotonic clock, for differences inside one process.
 * Lines are gathered in memory and written together FLUSH_MS later: a write per event would wake
 * a libuv pool thread (and then the event loop again) in the middle of the very steps it records,
 * which on a 2-core machine shows in their timings. So logging neither blocks nor crowds the miss
 * path; `close` writes what is pending.
 */
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
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
  | 'peer-idle'
  | 'peer-removed'
  | 'revoked'
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

/** How long event lines wait in memory before they are written, at most. */
const FLUSH_MS = 20;

export class EventLog {
  private readonly stream: WriteStream | undefined;
  private pending = '';
  private flushTimer: NodeJS.Timeout | undefined;

  /** `path`: the file to append to; undefined keeps events in memory only (the `recent` ring). */
  constructor(
    path: string | undefined,
    private readonly base: Record<string, unknown> = {},
    private readonly keep = 256,
  ) {
    if (path) {
      mkdirSync(dirname(path), { recursive: true });
      this.stream = createWriteStream(path, { flags: 'a' });
    }
  }

  /** The most recent events, oldest first (for `lispwg show`). */
  readonly recent: EventRecord[] = [];

  /** Records `event` now, or at `mono` (a performance.now() reading) when it happened earlier. */
  emit(event: AgentEvent, fields: Record<string, unknown> = {}, mono = performance.now()): EventRecord {
    const rec: EventRecord = { t: Math.round((performance.timeOrigin + mono) * 1000) / 1000, mono: Math.round(mono * 1000) / 1000, event, ...this.base, ...fields };
    this.recent.push(rec);
    if (this.recent.length > this.keep) this.recent.shift();
    if (this.stream) {
      this.pending += JSON.stringify(rec) + '\n';
      this.flushTimer ??= setTimeout(() => this.flush(), FLUSH_MS).unref();
    }
    return rec;
  }

  private flush(): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (this.pending && this.stream && !this.stream.writableEnded) this.stream.write(this.pending);
    this.pending = '';
  }

  /** Flushes and closes the file. */
  close(): Promise<void> {
    const s = this.stream;
    if (!s) return Promise.resolve();
    this.flush();
    return new Promise((resolve) => s.end(resolve));
  }
}
