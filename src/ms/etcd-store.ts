/**
 * The replicated store: several Map-Servers (replicas) share their registrations, key bindings
 * and subscriptions through etcd (Raft), each serving from its own in-memory registry. Client
 * choice: etcd-client.ts.
 *
 * Keys under `prefix` (e.g. /lispwg/ms/):
 *   r/HH/IID/ADDRESS/LEN   a registration (HH: a hash byte of the prefix, so a start ranges 256
 *                          small shards: etcd 3.4 counts the rest of the range on every page)
 *   k/KEY                  a WireGuard key bound to a site (no lease: held until let go)
 *   s/PUBLISHER|SUBSCRIBER a subscription
 * Each value is one record of the journal's format (length, CRC-32, body) whose body starts with
 * the writing replica's id, so a replica skips its own echoes and a corrupt value is detected.
 *
 * Leases: one per expiry bucket, none per key and no keepalives. A value expiring at wall time E
 * goes under the lease of its bucket: E rounded up to a width between 1/16 and 1/8 of what is
 * left of its life (a power of two of seconds, at least 8 s). So etcd drops it at most 1/8 of its
 * life after it expired (the replicas expire it themselves, at E), and any number of
 * registrations with the 180-s TTL live under about 12 leases (16-s buckets). A refresh re-puts
 * the value under a later bucket; a lease is granted once, when a bucket is first used.
 * A withdrawal (deregistration, reload) is a tombstone value, not a delete, so that every replica
 * hears who withdrew it and tells its subscribers; a delete (a lease that ran out) changes nothing
 * but a key binding (the replicas expire registrations and subscriptions themselves).
 *
 * Start (`open`): the prefix is ranged at one revision and handed to the Map-Server's restore;
 * `follow` then watches from that revision + 1, so no change is missed; a watch cancelled for
 * compaction ranges again, and so does one that finds etcd behind that revision (its data lost:
 * then every live registration of ours is written again). Writes never block a Map-Register: they wait in a queue bounded at
 * `queue` distinct keys (a later write of a key replaces the queued one), sent as transactions of
 * up to TXN_OPS operations, IN_FLIGHT at once. While etcd cannot be reached the Map-Server serves from
 * memory: failed writes are counted and retried, every failure moves to the next endpoint, the
 * watch resumes from its revision. A write the full queue had to refuse is counted and, once
 * etcd takes writes again, every live registration and binding is written again.
 *
 * What a replica reads is trusted like its configuration (etcd is the operators' own cluster),
 * yet checked: a value that does not decode is counted and skipped; the Map-Server applies the
 * rest through the same checks as a restart.
 */
import { crc32 } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import type { EidPrefix } from '../mapping/eid.js';
import { LispwgError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { EtcdClient, prefixEnd, type KeyValue, type TxnOp, type WatchResponse } from './etcd-client.js';
import { Reader, Writer, type RegistrationStore, type ReplicaSink, type StoreSource, type StoredRegistration, type StoredState, type StoredSubscription } from './store.js';

const REGISTRATION = 1;
const WITHDRAWN = 2;
const BINDING = 3;
const SUBSCRIPTION = 4;
/** Operations per transaction (the etcd helper raises --max-txn-ops to 1024; etcd's default is 128). */
const TXN_OPS = 128;
/** Transactions in flight at once. */
const IN_FLIGHT = 4;
const PAGE = 10_000;
const SHARDS = 256;
const MIN_BUCKET_MS = 8000;
/** How long a tombstone stays in etcd (every watcher has heard of it long before). */
const TOMBSTONE_MS = 60_000;
const RETRY_MIN_MS = 250;
const RETRY_MAX_MS = 5000;

export interface EtcdStoreConfig {
  endpoints: string[];
  /** Every key of this Map-Server cluster starts with it (ends in `/`). */
  prefix: string;
  /** Deadline of each etcd call (ms). */
  timeoutMs: number;
  /** Writes waiting at most (distinct keys). */
  queue: number;
  /** This replica's id in the values it writes (default: random). */
  replica?: string;
}

interface Pending {
  value: Buffer;
  /** Wall ms the value may go (its lease's bucket); undefined: no lease. */
  expiresAt: number | undefined;
  /** A delete rather than a put. */
  del?: boolean;
  /** Written only if the key does not exist (a key binding: the first replica to bind a key decides whose it is). */
  ifAbsent?: boolean;
}

const prefixText = (p: EidPrefix) => `${p.iid}/${p.address}/${p.maskLen}`;

export class EtcdStore implements RegistrationStore {
  readonly kind = 'etcd' as const;
  readonly replica: string;
  private readonly replicaId: Buffer;
  private readonly prefix: Buffer;
  private readonly client: EtcdClient;
  private state: StoredState | undefined;
  /** The revision everything up to is applied. */
  private revision = '0';
  private sink: ReplicaSink | undefined;
  private watch: ReturnType<EtcdClient['watch']> | undefined;
  private queue = new Map<string, Pending>();
  /** Where the senders read the queue (nextBatch). */
  private cursor: MapIterator<[string, Pending]> | undefined;
  /** Keys in a transaction on its way. */
  private readonly inFlight = new Set<string>();
  private flushing: Promise<void> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private watchTimer: NodeJS.Timeout | undefined;
  private retryMs = RETRY_MIN_MS;
  /** Bucket end (wall ms) -> its lease id (a grant on its way: shared). */
  private readonly leases = new Map<number, Promise<string>>();
  private reachable = true;
  /** The full queue refused a write: write everything again once etcd takes writes. */
  private lost = false;
  private closed = false;
  private readonly counts = {
    'writes-queued': 0, 'writes-sent': 0, 'bindings-held-already': 0, 'write-errors': 0, 'writes-refused-queue-full': 0, transactions: 0, 'leases-granted': 0,
    'events-applied': 0, 'events-own': 0, 'corrupt-values': 0, 'watch-restarts': 0, 'ranges-again': 0, resyncs: 0,
  };

  private constructor(
    private readonly cfg: EtcdStoreConfig,
    private readonly source: () => StoreSource,
    private readonly log: Logger,
  ) {
    this.replica = cfg.replica ?? randomBytes(6).toString('hex');
    this.replicaId = Buffer.from(this.replica);
    this.prefix = Buffer.from(cfg.prefix);
    this.client = new EtcdClient(cfg.endpoints, cfg.timeoutMs);
  }

  /**
   * Connects and reads the prefix at one revision (trying each endpoint in turn); `load` then
   * hands it out. Fails with STORE_ETCD when no endpoint answers: a replica that cannot read the
   * shared state does not start serving an empty one.
   */
  static async open(cfg: EtcdStoreConfig, source: () => StoreSource, log: Logger): Promise<EtcdStore> {
    const s = new EtcdStore(cfg, source, log);
    let last: Error | undefined;
    for (let i = 0; i < cfg.endpoints.length; i++) {
      try {
        s.state = await s.readAll();
        return s;
      } catch (e) {
        last = e as Error;
        log.warn('etcd endpoint does not answer, trying the next', { endpoint: s.client.endpoint, error: last.message });
        s.client.rotate();
      }
    }
    s.client.close();
    throw new LispwgError('STORE_ETCD', `no etcd endpoint answers (${cfg.endpoints.join(', ')}): ${last?.message}; check store.endpoints and that etcd runs`);
  }

  load(): StoredState {
    const st = this.state ?? { registrations: [], bindings: new Map(), expired: 0, corruptBytes: 0, subscriptions: [] };
    this.state = undefined; // held by the registry from here on
    return st;
  }

  // --- reading -----------------------------------------------------------------------------------

  private key(kind: string, rest: string): Buffer {
    return Buffer.concat([this.prefix, Buffer.from(`${kind}/${rest}`)]);
  }

  private regKey(p: EidPrefix): string {
    const text = prefixText(p);
    return `${this.cfg.prefix}r/${(crc32(text) & 0xff).toString(16).padStart(2, '0')}/${text}`;
  }

  /** Every key under `from` at `revision` (the first page's when '0'), page by page. */
  private async *ranged(from: Buffer, revision: { at: string }): AsyncGenerator<KeyValue[]> {
    const end = prefixEnd(from);
    let key = from;
    for (;;) {
      const r = await this.client.range({ key, range_end: end, limit: PAGE, ...(revision.at !== '0' ? { revision: revision.at } : {}) });
      if (revision.at === '0') revision.at = r.header.revision;
      yield r.kvs;
      if (!r.more || !r.kvs.length) return;
      key = Buffer.concat([r.kvs[r.kvs.length - 1]!.key, Buffer.from([0])]);
    }
  }

  /** The whole prefix at one revision: 256 registration shards, 4 ranged at a time, then bindings and subscriptions. */
  private async readAll(): Promise<StoredState> {
    const t0 = performance.now();
    const rev = { at: '0' };
    const st: StoredState = { registrations: [], bindings: new Map(), expired: 0, corruptBytes: 0, subscriptions: [] };
    const now = Date.now();
    const take = (kvs: KeyValue[]) => {
      for (const kv of kvs) {
        const v = this.decode(kv.value);
        if (!v) continue;
        if (v.kind === REGISTRATION) {
          if (v.reg.expiresAt > now) st.registrations.push(v.reg);
          else st.expired++;
        } else if (v.kind === BINDING) st.bindings.set(v.key, v.site);
        else if (v.kind === SUBSCRIPTION && v.sub.expiresAt > now) st.subscriptions!.push(v.sub);
      }
    };
    for await (const kvs of this.ranged(this.key('k', ''), rev)) take(kvs); // the first call pins the revision
    let next = 0;
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (next < SHARDS) {
          const shard = (next++).toString(16).padStart(2, '0');
          for await (const kvs of this.ranged(this.key('r', `${shard}/`), rev)) take(kvs);
        }
      }),
    );
    for await (const kvs of this.ranged(this.key('s', ''), rev)) take(kvs);
    st.registrations.sort((a, b) => a.expiresAt - b.expiresAt);
    this.revision = rev.at;
    this.log.info('read the shared store from etcd', { endpoint: this.client.endpoint, revision: rev.at, registrations: st.registrations.length, bindings: st.bindings.size, subscriptions: st.subscriptions!.length, corrupt: this.counts['corrupt-values'], ms: Math.round(performance.now() - t0) });
    return st;
  }

  private decode(value: Buffer):
    | { replica: string; kind: typeof REGISTRATION; reg: StoredRegistration }
    | { replica: string; kind: typeof WITHDRAWN; prefix: EidPrefix; at?: number }
    | { replica: string; kind: typeof BINDING; key: string; site: string }
    | { replica: string; kind: typeof SUBSCRIPTION; sub: StoredSubscription }
    | undefined {
    try {
      if (value.length < 8 || value.readUInt32LE(0) !== value.length - 8 || crc32(value.subarray(8)) !== value.readUInt32LE(4)) throw new Error('length or CRC');
      const r = new Reader(value.subarray(8));
      const replica = r.str();
      const kind = r.u8();
      let out;
      if (kind === REGISTRATION) {
        out = { replica, kind, reg: r.registration() } as const; // reply is a view: the registry copies it into its slabs
      } else if (kind === WITHDRAWN) {
        const prefix = r.prefix();
        out = r.at < value.length - 8 ? ({ replica, kind, prefix, at: r.f64() } as const) : ({ replica, kind, prefix } as const);
      }
      else if (kind === BINDING) out = { replica, kind, key: r.str(), site: r.str() } as const;
      else if (kind === SUBSCRIPTION) out = { replica, kind, sub: { publisher: r.prefix(), subscriber: r.prefix(), expiresAt: r.f64() } } as const;
      else throw new Error(`kind ${kind}`);
      if (r.at !== value.length - 8) throw new Error('length');
      return out;
    } catch {
      this.counts['corrupt-values']++;
      return undefined;
    }
  }

  // --- following the other replicas --------------------------------------------------------------

  follow(sink: ReplicaSink): void {
    this.sink = sink;
    this.startWatch();
  }

  private startWatch(): void {
    if (this.closed) return;
    const w = this.client.watch(this.prefix, (BigInt(this.revision) + 1n).toString());
    this.watch = w;
    const restart = (why: string) => {
      if (this.watch !== w || this.closed) return;
      this.watch = undefined;
      w.cancel();
      this.counts['watch-restarts']++;
      this.unreachable(why);
      this.client.rotate();
      clearTimeout(this.watchTimer);
      this.watchTimer = setTimeout(() => this.startWatch(), this.retryMs);
    };
    w.on('data', (res: WatchResponse) => {
      if (res.canceled) {
        if (res.compact_revision !== '0') void this.rangeAgain(w, `the watch fell behind a compaction (${res.compact_revision})`);
        else restart(`watch cancelled: ${res.cancel_reason || 'no reason given'}`);
        return;
      }
      if (res.created) {
        this.reachableAgain();
        // behind what we had applied: the cluster was rebuilt without our data (a restore, a new cluster)
        if (BigInt(res.header.revision) < BigInt(this.revision)) {
          void this.rangeAgain(w, `etcd is at revision ${res.header.revision}, behind ${this.revision}: its data was lost`, true);
          return;
        }
      }
      for (const ev of res.events) this.apply(ev.type, ev.kv);
      if (BigInt(res.header.revision) > BigInt(this.revision) && !res.events.length) this.revision = res.header.revision; // a progress notice
    });
    w.on('error', (e: Error) => restart(e.message));
    w.on('end', () => restart('watch ended'));
  }

  private apply(type: 'PUT' | 'DELETE', kv: KeyValue): void {
    this.revision = kv.mod_revision;
    const sink = this.sink!;
    const rel = kv.key.subarray(this.prefix.length).toString();
    if (type === 'DELETE') {
      // a lease ran out, or a binding was let go: only the binding needs telling
      if (rel.startsWith('k/')) sink.unbound(rel.slice(2));
      return;
    }
    // our own echo, known by the id at the head of the body before anything is decoded
    const id = this.replicaId;
    if (kv.value.length > 9 + id.length && kv.value[8] === id.length && kv.value.subarray(9, 9 + id.length).equals(id)) {
      this.counts['events-own']++;
      return;
    }
    const v = this.decode(kv.value);
    if (!v) return;
    this.counts['events-applied']++;
    if (v.kind === REGISTRATION) sink.registered(v.reg);
    else if (v.kind === WITHDRAWN) sink.withdrawn(v.prefix, v.at);
    else if (v.kind === BINDING) sink.bound(v.key, v.site);
    else sink.subscribed(v.sub);
  }

  /**
   * The watch cannot go on from our revision (compacted, or the cluster lost its data): range
   * everything again and apply it, then watch on. After a loss every live registration and
   * binding of ours is written again too.
   */
  private async rangeAgain(w: NonNullable<EtcdStore['watch']>, why: string, lost = false): Promise<void> {
    if (this.watch !== w) return;
    this.watch = undefined;
    w.cancel();
    this.counts['ranges-again']++;
    this.log.warn('reading the etcd store again', { why, revision: this.revision });
    const before = this.revision;
    try {
      const st = await this.readAll();
      for (const r of st.registrations) this.sink!.registered(r);
      for (const [key, site] of st.bindings) this.sink!.bound(key, site);
      for (const s of st.subscriptions ?? []) this.sink!.subscribed(s);
      if (lost) void this.resync();
    } catch (e) {
      this.unreachable((e as Error).message);
      this.client.rotate();
      this.revision = before; // the next watch finds the same, and ranges again
    }
    this.watchTimer = setTimeout(() => this.startWatch(), 0);
  }

  // --- writing -----------------------------------------------------------------------------------

  private record(kind: number): Writer {
    return new Writer().str(this.replica).u8(kind);
  }

  private enqueue(key: string, p: Pending): void {
    if (this.closed) return;
    if (!this.queue.has(key) && this.queue.size >= this.cfg.queue) {
      this.counts['writes-refused-queue-full']++;
      if (!this.lost) this.log.warn('the etcd write queue is full: writes are dropped, everything is written again once etcd takes writes', { queue: this.cfg.queue });
      this.lost = true;
      return;
    }
    this.queue.delete(key); // re-queued at the end: a key is written after what was queued before it
    this.queue.set(key, p);
    this.counts['writes-queued']++;
    this.flushing ??= new Promise<void>((r) => setImmediate(r)).then(() => this.flush());
  }

  private encodeRegistration(r: StoredRegistration): Buffer {
    return this.record(REGISTRATION).prefix(r.prefix).str(r.siteName).f64(r.registeredAt).f64(r.refreshedAt).f64(r.expiresAt).source(r.source).bytes(r.reply).done();
  }

  put(r: StoredRegistration): void {
    this.enqueue(this.regKey(r.prefix), { value: this.encodeRegistration(r), expiresAt: r.expiresAt });
  }

  refresh(r: StoredRegistration): void {
    this.put(r);
  }

  /** `at`: when it was withdrawn (a replica that heard the site later keeps the registration: server.ts) */
  remove(prefix: EidPrefix, at = Date.now()): void {
    this.enqueue(this.regKey(prefix), { value: this.record(WITHDRAWN).prefix(prefix).f64(at).done(), expiresAt: Date.now() + TOMBSTONE_MS });
  }

  bind(key: string, site: string): void {
    const k = `${this.cfg.prefix}k/${key}`;
    // let go and bound again before the delete went: the put replaces the delete, so it must not wait for the key to be absent
    this.enqueue(k, { value: this.record(BINDING).str(key).str(site).done(), expiresAt: undefined, ifAbsent: !this.queue.get(k)?.del });
  }

  unbind(key: string): void {
    this.enqueue(`${this.cfg.prefix}k/${key}`, { value: Buffer.alloc(0), expiresAt: undefined, del: true });
  }

  subscribe(s: StoredSubscription): void {
    const key = `${this.cfg.prefix}s/${prefixText(s.publisher)}|${prefixText(s.subscriber)}`;
    this.enqueue(key, { value: this.record(SUBSCRIPTION).prefix(s.publisher).prefix(s.subscriber).f64(s.expiresAt).done(), expiresAt: s.expiresAt });
  }

  /** The end of the bucket whose lease carries a value expiring at `expiresAt` (see the module comment). */
  static bucketEnd(expiresAt: number, now: number): number {
    const left = Math.max(0, expiresAt - now);
    let width = MIN_BUCKET_MS / 1000;
    while (width * 1000 * 16 < left) width *= 2;
    return Math.ceil(expiresAt / (width * 1000)) * width * 1000;
  }

  private leaseFor(expiresAt: number): Promise<string> {
    const now = Date.now();
    const end = EtcdStore.bucketEnd(expiresAt, now);
    const held = this.leases.get(end);
    if (held) return held;
    for (const e of this.leases.keys()) if (e < now) this.leases.delete(e);
    const grant = this.client.leaseGrant(Math.ceil((end - now) / 1000) + 1).then((r) => {
      if (r.error) throw new Error(`lease grant: ${r.error}`);
      this.counts['leases-granted']++;
      return r.ID;
    });
    grant.catch(() => this.leases.get(end) === grant && this.leases.delete(end));
    this.leases.set(end, grant);
    return grant;
  }

  /**
   * Takes up to TXN_OPS queued writes of keys not in flight, oldest first, and marks them in flight. Read through one long-lived
   * iterator: a Map keeps what was deleted from its head as holes until it shrinks, and a new
   * iteration per batch walked them all (10 000 writes/s with 10^6 queued, 4x that without).
   */
  private nextBatch(): Array<[string, Pending]> {
    const batch: Array<[string, Pending]> = [];
    for (let fresh = false; batch.length < TXN_OPS; ) {
      const r = (this.cursor ??= this.queue.entries()).next();
      if (r.done) {
        this.cursor = undefined;
        if (fresh || !this.queue.size) break; // once round from the start: the rest is in flight
        fresh = true;
        continue;
      }
      const [k] = r.value;
      if (this.inFlight.has(k)) continue;
      batch.push(r.value);
      this.queue.delete(k); // taken: a second round from the start must not take it again
      this.inFlight.add(k);
    }
    return batch;
  }

  /**
   * Sends the queue until it is empty or etcd fails: TXN_OPS keys a transaction, up to IN_FLIGHT
   * transactions at once, never two holding the same key (a key's writes reach etcd in order).
   */
  private async flush(): Promise<void> {
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    let failed = false;
    // one sender for a trickle (what queues while its transaction travels goes in the next: a
    // transaction per Map-Register cost 100 us of CPU each); more only while full batches wait
    const worker = async (_: unknown, i: number) => {
      while (!failed && !this.closed) {
        if (i > 0 && this.queue.size < TXN_OPS) return;
        const batch = this.nextBatch();
        if (!batch.length) return;
        try {
          const ops: TxnOp[] = [];
          const ifAbsent: Buffer[] = [];
          for (const [k, p] of batch) {
            const key = Buffer.from(k);
            if (p.del) ops.push({ request_delete_range: { key } });
            else if (p.ifAbsent) ifAbsent.push(key, p.value);
            else ops.push({ request_put: { key, value: p.value, ...(p.expiresAt !== undefined ? { lease: await this.leaseFor(p.expiresAt) } : {}) } });
          }
          // bindings first, each its own transaction (a compare holds for a whole one): a replica
          // that bound the key for another site hears whose it is before the registration that
          // carries it (else it refuses that registration until its next refresh). One that finds
          // the key bound already leaves it: that binding reaches every replica through the watch.
          const done = await Promise.all(Array.from({ length: ifAbsent.length / 2 }, (_, j) => this.client.putIfAbsent({ key: ifAbsent[2 * j]!, value: ifAbsent[2 * j + 1]! })));
          this.counts['bindings-held-already'] += done.filter((r) => !r.succeeded).length;
          if (ops.length) await this.client.txn(ops);
        } catch (e) {
          for (const [k, p] of batch) if (!this.queue.has(k)) this.queue.set(k, p); // a newer write of the key wins
          this.counts['write-errors']++;
          if (!failed) {
            failed = true;
            if (/lease not found/.test((e as Error).message)) this.leases.clear(); // etcd lost them (a restore): grant anew
            else {
              this.unreachable((e as Error).message);
              this.client.rotate();
            }
          }
          return;
        } finally {
          for (const [k] of batch) this.inFlight.delete(k);
        }
        this.counts.transactions++;
        this.counts['writes-sent'] += batch.length;
        this.reachableAgain();
      }
    };
    try {
      await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
    } finally {
      this.flushing = undefined;
    }
    if (failed && !this.closed) {
      this.retryTimer = setTimeout(() => void (this.flushing ??= this.flush()), this.retryMs);
      this.retryMs = Math.min(RETRY_MAX_MS, this.retryMs * 2);
    } else if (this.lost && !this.closed) void this.resync();
  }

  /** Writes every live registration and binding again (after the full queue refused some). */
  private async resync(): Promise<void> {
    this.lost = false;
    this.counts.resyncs++;
    const src = this.source();
    for (const [key, site] of src.bindings()) this.bind(key, site);
    const it = src.registrations();
    for (let r = it.next(); !r.done && !this.closed; r = it.next()) {
      if (r.value) this.put(r.value);
      // leave room for new writes: wait for the queue to drain below half
      while (this.queue.size >= this.cfg.queue / 2 && !this.closed) await (this.flushing ?? new Promise((res) => setTimeout(res, this.retryMs)));
    }
    this.log.info('wrote every live registration to etcd again', { endpoint: this.client.endpoint });
  }

  private unreachable(why: string): void {
    if (this.reachable) this.log.warn('etcd unreachable: serving from memory, writes queued and retried', { endpoint: this.client.endpoint, queued: this.queue.size, error: why });
    this.reachable = false;
  }

  private reachableAgain(): void {
    this.retryMs = RETRY_MIN_MS;
    if (this.reachable) return;
    this.reachable = true;
    this.log.info('etcd reachable again', { endpoint: this.client.endpoint, queued: this.queue.size, revision: this.revision });
    if (this.queue.size) this.flushing ??= this.flush();
  }

  /** Resolves when every queued write is in etcd (tests, benchmarks). */
  async drained(timeoutMs = 10_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while ((this.queue.size || this.flushing) && Date.now() < end) await (this.flushing ?? new Promise((r) => setTimeout(r, 20)));
    if (this.queue.size) throw new LispwgError('STORE_ETCD', `${this.queue.size} writes still queued for etcd after ${timeoutMs} ms`);
  }

  stats(): Record<string, number | string> {
    return { kind: 'etcd', endpoint: this.client.endpoint, replica: this.replica, revision: this.revision, reachable: this.reachable ? 1 : 0, queued: this.queue.size, leases: this.leases.size, ...this.counts };
  }

  /** Sends what is queued (a short wait while etcd answers), then closes. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.drained(this.reachable ? this.cfg.timeoutMs : 0).catch(() => undefined);
    if (this.queue.size) this.log.warn('closing with writes etcd has not taken: the other replicas hold them from their own Map-Registers, or not at all', { queued: this.queue.size });
    this.closed = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.watchTimer);
    const w = this.watch;
    this.watch = undefined;
    w?.cancel();
    this.client.close();
  }
}
