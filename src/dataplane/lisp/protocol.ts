/**
 * What the main thread (LispDataPlane) and the packet worker (worker.ts) say to each other, and
 * the layout of the counters they share.
 */
import type { EidPrefix } from '../../mapping/eid.js';
import type { PacketBufferLimits } from '../packet-buffer.js';
import type { ForwardingEntry } from './forwarding-table.js';

export type MissPolicy = 'drop' | 'buffer';

export interface WorkerInit {
  tunFd: number;
  instanceId: number;
  /** Local addresses to receive encapsulated packets on (and send from), with the data port. */
  listen: { address: string; family: 4 | 6 }[];
  port: number;
  missPolicy: MissPolicy;
  buffer: PacketBufferLimits;
  /** A destination with no mapping is reported again after this long (ms). */
  missRetryMs: number;
  /** Destinations whose miss report is held at most (a new one beyond is not reported: missUnreported). */
  missReportTable: number;
  /** Counters (see Counter), shared with the main thread. */
  counters: SharedArrayBuffer;
}

/** Messages from the main thread. */
export type ToWorker =
  | { type: 'map'; prefix: EidPrefix; entry: ForwardingEntry }
  | { type: 'unmap'; prefix: EidPrefix }
  /** Our own RLOC changed: reconnect the sockets (they are bound to the old source address). */
  | { type: 'refresh' }
  | { type: 'stop' };

/** Messages to the main thread. */
export type FromWorker =
  | { type: 'ready' }
  | { type: 'miss'; destination: string; family: 4 | 6 }
  /** A positive mapping is in the forwarding table, usable (at: the worker's timeOrigin + now, ms). */
  | { type: 'mapped'; prefix: EidPrefix; rloc: string; at: number }
  | { type: 'error'; code: string; message: string }
  | { type: 'stopped' };

/** Slots of the shared counters. */
export const Counter = {
  txPackets: 0,
  txBytes: 1,
  rxPackets: 2,
  rxBytes: 3,
  missDropped: 4,
  missBuffered: 5,
  bufferReleased: 6,
  bufferDropped: 7,
  negativeDropped: 8,
  notIp: 9,
  decapDropped: 10,
  sendErrors: 11,
  tunWriteErrors: 12,
  missUnreported: 13,
} as const;
export const COUNTER_SLOTS = 14;
