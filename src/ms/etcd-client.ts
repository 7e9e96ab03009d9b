/**
 * A small etcd v3 client: Range, Txn, LeaseGrant and Watch over gRPC (@grpc/grpc-js and
 * @grpc/proto-loader, which lispwg already uses for its gRPC control channel), with etcd's own
 * messages trimmed to what the store needs (etcd.proto).
 *
 * Why not the npm `etcd3` package (1.1.2, microsoft/etcd3): it is the same grpc-js underneath
 * (its ^1.8 dedupes with ours, its proto-loader 0.7 with the one dockerode brings), and measured
 * the same as this client here (100 000 puts in transactions of 1000, 4 in flight: 55-115k/s
 * against 67-136k/s; ranging them: 0.6-0.8 s against 0.7-1.0 s; put-to-watch-event 0.7-1.0 ms
 * against 1.1-1.3 ms; the machine was shared), but it adds three packages (etcd3, cockatiel,
 * bignumber.js) for lock, election and retry policies we do not use, its watches went silent
 * after a reconnect more than once (microsoft/etcd3 #31, #78, #114), and it releases rarely.
 * etcd's JSON gateway with fetch would need nothing at all, but measured 2.7x slower on puts
 * (29-43k/s) and 2.4x slower ranging 1 000 000 keys (30 s against 12.7 s): base64 and JSON.
 * What we need of a client is small: one channel to one endpoint at a time, moved to the next
 * endpoint on a failure (`rotate`), a deadline on every call, and a watch that requires a leader
 * (a member cut off from the quorum cancels it instead of going quiet), which the store
 * re-creates from its last revision.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { join } from 'node:path';
import { projectRoot } from '../util/project.js';

export interface KeyValue {
  key: Buffer;
  value: Buffer;
  mod_revision: string;
}

export interface WatchEvent {
  type: 'PUT' | 'DELETE';
  kv: KeyValue;
}

export interface WatchResponse {
  header: { revision: string };
  created: boolean;
  canceled: boolean;
  compact_revision: string;
  cancel_reason: string;
  events: WatchEvent[];
}

export type TxnOp = { request_put: { key: Buffer; value: Buffer; lease?: string } } | { request_delete_range: { key: Buffer } };

type Unary<Req, Res> = (req: Req, meta: grpc.Metadata, opts: grpc.CallOptions, cb: (e: grpc.ServiceError | null, res: Res) => void) => grpc.ClientUnaryCall;

interface Clients {
  channel: grpc.Client;
  kv: grpc.Client & { Range: Unary<object, { header: { revision: string }; kvs: KeyValue[]; more: boolean }>; Txn: Unary<{ success: TxnOp[]; compare?: object[] }, { header: { revision: string }; succeeded: boolean }> };
  lease: grpc.Client & { LeaseGrant: Unary<{ TTL: number }, { ID: string; TTL: string; error: string }> };
  watch: grpc.Client & { Watch: (meta: grpc.Metadata) => grpc.ClientDuplexStream<object, WatchResponse> };
}

let pkg: { KV: grpc.ServiceClientConstructor; Lease: grpc.ServiceClientConstructor; Watch: grpc.ServiceClientConstructor } | undefined;

function services(): NonNullable<typeof pkg> {
  if (pkg) return pkg;
  const def = protoLoader.loadSync(join(projectRoot(), 'src', 'ms', 'etcd.proto'), { keepCase: true, longs: String, enums: String, defaults: true, arrays: true });
  pkg = (grpc.loadPackageDefinition(def) as unknown as { etcdserverpb: NonNullable<typeof pkg> }).etcdserverpb;
  return pkg;
}

/** The end of the key range that holds every key starting with `prefix` (etcd's prefix range). */
export function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]!++;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]); // every key
}

export class EtcdClient {
  private clients: Clients | undefined;
  private at = 0;

  constructor(
    /** http://HOST:PORT of each member. */
    readonly endpoints: readonly string[],
    /** Deadline of each call (ms). */
    private readonly timeoutMs: number,
  ) {}

  /** The endpoint calls go to now. */
  get endpoint(): string {
    return this.endpoints[this.at]!;
  }

  private get c(): Clients {
    if (this.clients) return this.clients;
    const s = services();
    const target = this.endpoint.replace(/^https?:\/\//, '');
    const creds = grpc.credentials.createInsecure();
    // one channel for the three services; a large receive limit for range pages
    const options = { 'grpc.max_receive_message_length': 64 << 20, 'grpc.keepalive_time_ms': 10_000, 'grpc.keepalive_timeout_ms': 5_000 };
    const kv = new s.KV(target, creds, options) as unknown as Clients['kv'];
    const channel = { channelOverride: kv.getChannel() };
    this.clients = { channel: kv, kv, lease: new s.Lease(target, creds, channel) as unknown as Clients['lease'], watch: new s.Watch(target, creds, channel) as unknown as Clients['watch'] };
    return this.clients;
  }

  /** Moves to the next endpoint (after a failure): calls and watches from now on go there. */
  rotate(): void {
    this.close();
    this.at = (this.at + 1) % this.endpoints.length;
  }

  private call<Req, Res>(f: (c: Clients) => Unary<Req, Res>, owner: (c: Clients) => grpc.Client, req: Req): Promise<Res> {
    const c = this.c;
    return new Promise((resolve, reject) => {
      f(c).call(owner(c), req, new grpc.Metadata(), { deadline: Date.now() + this.timeoutMs }, (e, res) => (e ? reject(e) : resolve(res)));
    });
  }

  range(req: { key: Buffer; range_end: Buffer; limit: number; revision?: string }) {
    return this.call((c) => c.kv.Range, (c) => c.kv, req);
  }

  txn(success: TxnOp[]) {
    return this.call((c) => c.kv.Txn, (c) => c.kv, { success });
  }

  /** A put only if `key` does not exist (its create revision is 0); `succeeded` says whether it was written. */
  putIfAbsent(put: { key: Buffer; value: Buffer; lease?: string }) {
    return this.call((c) => c.kv.Txn, (c) => c.kv, { compare: [{ result: 'EQUAL', target: 'CREATE', key: put.key, create_revision: '0' }], success: [{ request_put: put }] });
  }

  leaseGrant(ttlSeconds: number) {
    return this.call((c) => c.lease.LeaseGrant, (c) => c.lease, { TTL: ttlSeconds });
  }

  /** A watch of every key under `prefix` from `startRevision`. The caller ends it (`cancel()`). */
  watch(prefix: Buffer, startRevision: string): grpc.ClientDuplexStream<object, WatchResponse> {
    const meta = new grpc.Metadata();
    meta.set('hasleader', 'true'); // etcd's WithRequireLeader: cancelled when the member loses its leader
    const stream = this.c.watch.Watch(meta);
    stream.write({ create_request: { key: prefix, range_end: prefixEnd(prefix), start_revision: startRevision, progress_notify: true } });
    return stream;
  }

  close(): void {
    const c = this.clients;
    this.clients = undefined;
    if (!c) return;
    c.lease.close();
    c.watch.close();
    c.kv.close();
  }
}
