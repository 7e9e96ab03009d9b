/**
 * GrpcControlClient: the agent's side of the gRPC control channel (the paper's gRPC baseline),
 * doing what the LISP ControlClient does for resolution and push:
 * - resolve(eid): one Resolve call (HTTP/2 over the control tunnel) -> the mapping records, as a
 *   Map-Reply would carry them, with the round-trip time;
 * - watch(handler): keeps a Watch stream open to the Map-Server's gRPC front; each pushed mapping
 *   (a requester's record and key) goes to `handler`, and is acked once the handler is done (the
 *   peer installed), as a Map-Notify-Ack would be. The stream is re-opened if it breaks.
 */
import * as grpc from '@grpc/grpc-js';
import { ipFamily } from '../ip/ip.js';
import { eidOf, recordKey, type MappingRecord } from '../lisp/index.js';
import { prefixOf } from '../mapping/database.js';
import type { MappingEvent } from '../control/client.js';
import { LispwgError } from '../util/errors.js';
import { createLogger, type Logger } from '../util/log.js';
import { mappingToRecord } from './mapping.js';
import { GRPC_PORT, mapResolverClient, type PushAckMsg, type PushMsg, type ResolveReplyMsg, type ResolveRequestMsg } from './proto.js';

export interface GrpcResolution {
  records: MappingRecord[];
  /** Call to reply (ms). */
  rttMs: number;
  /** Monotonic / wall-clock ms at the reply. */
  t: number;
  at: number;
}

export interface GrpcControlClientOptions {
  /** The Map-Server's gRPC front: its control address (port 4343 by default). */
  server: { address: string; port?: number };
  /** A Resolve call's deadline (ms, default 2000). */
  timeoutMs?: number;
  /** Longest wait for the push handler before the ack goes anyway (ms, default 50, as the LISP client). */
  pushAckBoundMs?: number;
  log?: Logger;
}

type Client = grpc.Client & {
  Resolve(req: ResolveRequestMsg, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: ResolveReplyMsg) => void): grpc.ClientUnaryCall;
  Watch(): grpc.ClientDuplexStream<PushAckMsg, PushMsg>;
};

export class GrpcControlClient {
  private readonly client: Client;
  private readonly timeoutMs: number;
  private readonly pushAckBoundMs: number;
  private readonly log: Logger;
  private stream: grpc.ClientDuplexStream<PushAckMsg, PushMsg> | undefined;
  private closed = false;
  private retry: NodeJS.Timeout | undefined;

  constructor(opts: GrpcControlClientOptions) {
    const host = ipFamily(opts.server.address) === 'ipv6' ? `[${opts.server.address}]` : opts.server.address;
    const Ctor = mapResolverClient();
    // no idle timeout: the channel stays connected, as the LISP side's socket does
    this.client = new Ctor(`${host}:${opts.server.port ?? GRPC_PORT}`, grpc.credentials.createInsecure(), { 'grpc.client_idle_timeout_ms': 2 ** 31 - 1 }) as unknown as Client;
    this.timeoutMs = opts.timeoutMs ?? 2000;
    this.pushAckBoundMs = opts.pushAckBoundMs ?? 50;
    this.log = (opts.log ?? createLogger()).child({ component: 'grpc-client' });
  }

  /** Connects the channel now (the first Resolve then pays no TCP/HTTP2 set-up). */
  ready(timeoutMs = 5000): Promise<void> {
    return new Promise((resolve, reject) =>
      this.client.waitForReady(Date.now() + timeoutMs, (err) => (err ? reject(new LispwgError('GRPC_UNREACHABLE', `the Map-Server's gRPC front is not reachable: ${err.message}`)) : resolve())),
    );
  }

  /** The mapping covering `eid`; names `sourceEid` (ours) so the server pushes our key to it. */
  resolve(eid: string, opts: { instanceId?: number; sourceEid?: string } = {}): Promise<GrpcResolution> {
    const t0 = performance.now();
    return new Promise((resolve, reject) => {
      this.client.Resolve({ instanceId: opts.instanceId ?? 0, eid, sourceEid: opts.sourceEid ?? '' }, { deadline: Date.now() + this.timeoutMs }, (err, res) => {
        if (err || !res) {
          reject(new LispwgError('GRPC_RESOLVE', `gRPC Resolve(${eid}) failed: ${err?.details || err?.message || 'no reply'}`));
          return;
        }
        try {
          const t = performance.now();
          resolve({ records: res.mappings.map(mappingToRecord), rttMs: t - t0, t, at: Date.now() });
        } catch (e) {
          reject(e);
        }
      });
    });
  }

  /** Receives the mappings the Map-Server pushes; each is acked once `handler` settles (at most pushAckBoundMs later). */
  watch(handler: (record: MappingRecord) => Promise<void> | void): void {
    if (this.closed) return;
    const stream = this.client.Watch();
    this.stream = stream;
    stream.on('data', (push: PushMsg) => {
      let record: MappingRecord;
      try {
        if (!push.mapping) throw new LispwgError('GRPC_BAD_MAPPING', 'a push without a mapping');
        record = mappingToRecord(push.mapping);
      } catch (e) {
        this.log.warn('bad push ignored', { error: (e as Error).message });
        return;
      }
      const handled = Promise.resolve()
        .then(() => handler(record))
        .catch((e: Error) => this.log.warn('push handler failed', { error: e.message }));
      let timer: NodeJS.Timeout | undefined;
      const bound = new Promise<void>((r) => (timer = setTimeout(r, this.pushAckBoundMs)));
      void Promise.race([handled, bound]).then(() => {
        clearTimeout(timer);
        if (this.stream === stream) stream.write({ id: push.id });
      });
    });
    const reopen = (why: string) => {
      if (this.stream !== stream || this.closed) return;
      this.stream = undefined;
      this.log.warn('watch stream closed, re-opening in 1 s', { why });
      this.retry = setTimeout(() => this.watch(handler), 1000);
    };
    stream.on('error', (e: Error) => reopen(e.message));
    stream.on('end', () => reopen('ended by the server'));
  }

  close(): void {
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
    const s = this.stream;
    this.stream = undefined;
    s?.cancel();
    this.client.close();
  }
}

/**
 * A pushed record as the LISP control client reports a pushed Map-Notify's record, so an agent
 * handles both the same way; undefined for a record it cannot use (no IP EID, no locators).
 */
export function pushedMappingEvent(record: MappingRecord, from: { address: string; port: number }): MappingEvent | undefined {
  const eid = eidOf(record.eid);
  if (!eid || record.locators.length === 0) return undefined;
  let key: Uint8Array | undefined;
  try {
    key = recordKey(record);
  } catch {
    key = undefined;
  }
  return { t: performance.now(), at: Date.now(), prefix: prefixOf(eid.instanceId, eid.family, eid.address, record.maskLen), record, key, from };
}
