/**
 * Where the Map-Server's state lives beyond its in-memory registry: the registrations (their
 * encoded replies, site, source and expiry) and the WireGuard key bindings. The registry
 * (registry.ts) stays the only thing a Map-Request reads; the store is written behind it and read
 * once, at start.
 *
 * - `memory`: nothing beyond the process (tests, bench:ms); a restart starts empty.
 * - `embedded`: an append-only journal file, one record per change (new or changed
 *   registration, refresh, removal, key bound or let go), each with its length and CRC-32.
 *   Appends are queued and written by one asynchronous write per event-loop turn (a Map-Register
 *   never waits for the disk); the file is fdatasync'ed every `fsync` (1 s; 0: after every
 *   write). A SIGKILL loses nothing written (the kernel has it); a power cut loses at most the
 *   last `fsync`. When the journal grows past twice what was live at its last compaction (and
 *   4 MiB), it is compacted: a new file gets every live registration, a few thousand per turn,
 *   while changes go on being appended to both files, and replaces the old one by rename once
 *   complete. A registration changed during the compaction is skipped by it (its newer record
 *   is in the new file already), so the new file never puts back an older state. At load, a
 *   torn or corrupt record ends the journal (what follows is cut off and counted).
 *
 * Expiry is in wall-clock time in the file: a registration that expired while the Map-Server
 * was down is dropped at load; removals by expiry are not journaled (the load drops them).
 * Subscriptions are journaled too (when new, and a renewal once past half its TTL), so that a
 * restarted Map-Server still tells the sites that asked for a mapping when it changes. The plain
 * sites' replay windows are not stored: a timestamp nonce is bounded by `replay-window`.
 */
import { closeSync, fstatSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { close as closeCb, fdatasync as fdatasyncCb, write as writeCb } from 'node:fs';
import { promisify } from 'node:util';
import { dirname } from 'node:path';
import { crc32 } from 'node:zlib';
import type { EidPrefix } from '../mapping/eid.js';
import { LispwgError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import type { Endpoint } from './registry.js';

export type StoreKind = 'memory' | 'embedded' | 'etcd';

export interface StoreConfig {
  kind: StoreKind;
  /** The journal file (embedded); default: next to the admin socket. */
  path?: string;
  /** fdatasync interval (ms); 0 syncs after every write. */
  fsyncMs: number;
  /** etcd: the members' client URLs, the key prefix, the deadline of a call, the write queue's bound. */
  etcd?: { endpoints: string[]; prefix: string; timeoutMs: number; queue: number };
}

/** A registration as the store holds it. */
export interface StoredRegistration {
  prefix: EidPrefix;
  siteName: string;
  reply: Uint8Array;
  source: Endpoint | undefined;
  registeredAt: number;
  refreshedAt: number;
  /** Wall-clock ms of expiry. */
  expiresAt: number;
}

export interface StoredState {
  /** Live registrations, earliest expiry first. */
  registrations: StoredRegistration[];
  /** Key (base64) -> site. */
  bindings: Map<string, string>;
  /** Registrations that had expired while the Map-Server was down. */
  expired: number;
  /** Bytes cut off after a torn or corrupt record. */
  corruptBytes: number;
  /** Live subscriptions (embedded and etcd). */
  subscriptions?: StoredSubscription[];
}

/** A subscription as a shared store holds it: `subscriber` told of `publisher`'s changes until `expiresAt` (wall ms). */
export interface StoredSubscription {
  publisher: EidPrefix;
  subscriber: EidPrefix;
  expiresAt: number;
}

/** What another replica changed (a shared store's watch): the Map-Server applies it as its own, without writing it back. */
export interface ReplicaSink {
  registered(r: StoredRegistration): void;
  /** `at`: wall-clock ms the withdrawing replica withdrew it (absent in records written before it was kept) */
  withdrawn(prefix: EidPrefix, at?: number): void;
  bound(key: string, site: string): void;
  unbound(key: string): void;
  subscribed(s: StoredSubscription): void;
}

/** What a compaction reads: the live registrations (a Set-backed iterator, safe across turns). */
export interface StoreSource {
  registrations(): Iterator<StoredRegistration | undefined>;
  bindings(): Iterable<[string, string]>;
  subscriptions(): Iterator<StoredSubscription | undefined>;
}

/** A source with nothing live (a store that only writes, in benchmarks and tests). */
export const emptySource = (): StoreSource => ({ registrations: () => [][Symbol.iterator](), bindings: () => [], subscriptions: () => [][Symbol.iterator]() });

export interface RegistrationStore {
  readonly kind: StoreKind;
  /** Reads what survived (call once, before serving). */
  load(): StoredState;
  /** A new or changed registration. */
  put(r: StoredRegistration): void;
  /** A refresh: new expiry and source, same record. */
  refresh(r: StoredRegistration): void;
  remove(prefix: EidPrefix): void;
  bind(key: string, site: string): void;
  unbind(key: string): void;
  /** A subscription added, or renewed past half its TTL. */
  subscribe?(s: StoredSubscription): void;
  /** Starts applying the other replicas' changes, from where `load` read (a shared store only). */
  follow?(sink: ReplicaSink): void;
  stats(): Record<string, number | string>;
  close(): Promise<void>;
}

export class MemoryStore implements RegistrationStore {
  readonly kind = 'memory' as const;
  load(): StoredState {
    return { registrations: [], bindings: new Map(), expired: 0, corruptBytes: 0 };
  }
  put(): void {}
  refresh(): void {}
  remove(): void {}
  bind(): void {}
  unbind(): void {}
  stats(): Record<string, number | string> {
    return { kind: 'memory' };
  }
  async close(): Promise<void> {}
}

// --- encoding ----------------------------------------------------------------------------------

const MAGIC = Buffer.from('LWGMSJ1\n');
const PUT = 1;
const REFRESH = 2;
const REMOVE = 3;
const BIND = 4;
const UNBIND = 5;
const SUBSCRIBE = 6;
/** length (u32) + CRC-32 of the body (u32). */
const HEADER = 8;
const COMPACT_MIN_BYTES = 4 << 20;
const COMPACT_CHUNK = 4096;

/** Builds one record: length, CRC-32, body (the journal's records, etcd's values). */
export class Writer {
  private buf = Buffer.allocUnsafe(256);
  private at = HEADER;

  private room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.at + n));
    this.buf.copy(next, 0, 0, this.at);
    this.buf = next;
  }
  u8(v: number): this {
    this.room(1);
    this.buf[this.at++] = v;
    return this;
  }
  u16(v: number): this {
    this.room(2);
    this.buf.writeUInt16LE(v, this.at);
    this.at += 2;
    return this;
  }
  u32(v: number): this {
    this.room(4);
    this.buf.writeUInt32LE(v, this.at);
    this.at += 4;
    return this;
  }
  f64(v: number): this {
    this.room(8);
    this.buf.writeDoubleLE(v, this.at);
    this.at += 8;
    return this;
  }
  str(s: string): this {
    const n = Buffer.byteLength(s);
    if (n > 255) throw new Error(`internal: a stored string over 255 bytes (${s.slice(0, 20)}...)`);
    this.u8(n);
    this.room(n);
    this.buf.write(s, this.at);
    this.at += n;
    return this;
  }
  bytes(b: Uint8Array): this {
    this.u16(b.length);
    this.room(b.length);
    this.buf.set(b, this.at);
    this.at += b.length;
    return this;
  }
  prefix(p: EidPrefix): this {
    return this.u32(p.iid).u8(p.afi === 'ipv4' ? 4 : 6).u8(p.maskLen).str(p.address);
  }
  source(s: Endpoint | undefined): this {
    if (!s) return this.u8(0);
    return this.u8(1).str(s.address).u16(s.port).str(s.via ?? '');
  }
  /** The record: length, CRC, body. */
  done(): Buffer {
    const body = this.buf.subarray(HEADER, this.at);
    this.buf.writeUInt32LE(body.length, 0);
    this.buf.writeUInt32LE(crc32(body), 4);
    return Buffer.from(this.buf.subarray(0, this.at));
  }
}

/** Reads a record's body (bounds are the caller's: a short body throws a RangeError). */
export class Reader {
  at = 0;
  constructor(private readonly b: Buffer) {}
  u8(): number {
    return this.b[this.at++]!;
  }
  u16(): number {
    const v = this.b.readUInt16LE(this.at);
    this.at += 2;
    return v;
  }
  u32(): number {
    const v = this.b.readUInt32LE(this.at);
    this.at += 4;
    return v;
  }
  f64(): number {
    const v = this.b.readDoubleLE(this.at);
    this.at += 8;
    return v;
  }
  str(): string {
    const n = this.u8();
    const s = this.b.toString('utf8', this.at, this.at + n);
    this.at += n;
    return s;
  }
  bytes(): Buffer {
    const n = this.u16();
    const v = this.b.subarray(this.at, this.at + n); // a view: the registry copies it into its slabs
    this.at += n;
    return v;
  }
  prefix(): EidPrefix {
    const iid = this.u32();
    const afi = this.u8() === 4 ? 'ipv4' : 'ipv6';
    const maskLen = this.u8();
    return { iid, afi, maskLen, address: this.str() };
  }
  source(): Endpoint | undefined {
    if (!this.u8()) return undefined;
    const address = this.str();
    const port = this.u16();
    const via = this.str();
    return via ? { address, port, via } : { address, port };
  }
  /** A registration as encodePut writes it after its type (the journal's and etcd's records). */
  registration(): StoredRegistration {
    const prefix = this.prefix();
    const siteName = this.str();
    const registeredAt = this.f64();
    const refreshedAt = this.f64();
    const expiresAt = this.f64();
    const source = this.source();
    return { prefix, siteName, registeredAt, refreshedAt, expiresAt, source, reply: this.bytes() };
  }
}

export const keyOf = (p: EidPrefix) => `${p.iid}|${p.address}/${p.maskLen}`;

const encodeSubscribe = (s: StoredSubscription): Buffer => new Writer().u8(SUBSCRIBE).prefix(s.publisher).prefix(s.subscriber).f64(s.expiresAt).done();

function encodePut(r: StoredRegistration): Buffer {
  return new Writer().u8(PUT).prefix(r.prefix).str(r.siteName).f64(r.registeredAt).f64(r.refreshedAt).f64(r.expiresAt).source(r.source).bytes(r.reply).done();
}

// --- the embedded store ------------------------------------------------------------------------

interface Queued {
  bytes: Buffer;
  /** Only for the file being compacted into (a snapshot record). */
  compactOnly: boolean;
  /** Appended after the compaction began: it goes into the compacted file too. */
  late: boolean;
}

const writeFd = promisify(writeCb);
const datasyncFd = promisify(fdatasyncCb);
const closeFd = promisify(closeCb);

async function writeAll(fd: number, b: Buffer): Promise<void> {
  for (let o = 0; o < b.length; ) o += (await writeFd(fd, o ? b.subarray(o) : b)).bytesWritten;
}

export class EmbeddedStore implements RegistrationStore {
  readonly kind = 'embedded' as const;
  private file: number | undefined;
  private compactFile: number | undefined;
  private queue: Queued[] = [];
  private writing: Promise<void> | undefined;
  private dirty = false;
  private syncTimer: NodeJS.Timeout | undefined;
  private bytes = 0;
  /** Bytes of live records at the last load or compaction: the journal compacts at twice that. */
  private liveBytes = 0;
  /** Prefixes changed since the compaction began (it skips them). */
  private touched: Set<string> | undefined;
  private compactedBytes = 0;
  private closed = false;
  private compacting: Promise<void> | undefined;
  private readonly counts = { writes: 0, 'write-errors': 0, compactions: 0, 'records-appended': 0 };

  constructor(
    readonly path: string,
    private readonly fsyncMs: number,
    private readonly source: () => StoreSource,
    private readonly log: Logger,
  ) {}

  load(): StoredState {
    const regs = new Map<string, StoredRegistration>();
    const bindings = new Map<string, string>();
    const subs = new Map<string, StoredSubscription>();
    let data: Buffer;
    try {
      data = readFileSync(this.path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new LispwgError('STORE_READ', `cannot read the Map-Server store ${this.path}: ${(e as Error).message}`);
      data = Buffer.alloc(0);
    }
    rmSync(`${this.path}.compact`, { force: true }); // a compaction a crash interrupted
    let end = 0;
    if (data.length) {
      if (data.length < MAGIC.length || !data.subarray(0, MAGIC.length).equals(MAGIC)) {
        throw new LispwgError('STORE_FORMAT', `${this.path} is not a lispwg Map-Server journal (bad magic): move it away or fix store.path`);
      }
      end = MAGIC.length;
      while (end + HEADER <= data.length) {
        const len = data.readUInt32LE(end);
        if (end + HEADER + len > data.length) break;
        const body = data.subarray(end + HEADER, end + HEADER + len);
        if (crc32(body) !== data.readUInt32LE(end + 4)) break;
        const r = new Reader(body);
        const type = r.u8();
        if (type === PUT) {
          const reg = r.registration();
          regs.set(keyOf(reg.prefix), reg);
        } else if (type === REFRESH) {
          const prefix = r.prefix();
          const reg = regs.get(keyOf(prefix));
          const refreshedAt = r.f64();
          const expiresAt = r.f64();
          const source = r.source();
          if (reg) Object.assign(reg, { refreshedAt, expiresAt, source });
        } else if (type === REMOVE) regs.delete(keyOf(r.prefix()));
        else if (type === BIND) {
          const key = r.str();
          bindings.set(key, r.str());
        } else if (type === UNBIND) bindings.delete(r.str());
        else if (type === SUBSCRIBE) {
          const sub = { publisher: r.prefix(), subscriber: r.prefix(), expiresAt: r.f64() };
          const key = `${keyOf(sub.publisher)}>${keyOf(sub.subscriber)}`;
          if (sub.expiresAt > (subs.get(key)?.expiresAt ?? 0)) subs.set(key, sub);
        } else break;
        end += HEADER + len;
      }
    }
    const corruptBytes = data.length ? data.length - end : 0;
    if (corruptBytes) this.log.warn('the store journal ends in a torn or corrupt record: cut off', { path: this.path, bytes: corruptBytes });
    const now = Date.now();
    const live = [...regs.values()].filter((r) => r.expiresAt > now);
    live.sort((a, b) => a.expiresAt - b.expiresAt);
    this.prepare(end);
    this.bytes = Math.max(end, MAGIC.length);
    this.liveBytes = live.reduce((n, r) => n + r.reply.length + 64, 0);
    return { registrations: live, bindings, expired: regs.size - live.length, corruptBytes, subscriptions: [...subs.values()].filter((x) => x.expiresAt > now) };
  }

  /** Cuts a bad tail at `end`, or writes the magic of a new file. */
  private prepare(end: number): void {
    mkdirSync(dirname(this.path), { recursive: true });
    const fd = openSync(this.path, 'a+', 0o600);
    try {
      const { size } = fstatSync(fd);
      if (size === 0) writeSync(fd, MAGIC);
      else if (size !== end) ftruncateSync(fd, end);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  private append(bytes: Buffer, prefix?: EidPrefix): void {
    if (this.closed) return;
    if (prefix && this.touched) this.touched.add(keyOf(prefix));
    this.queue.push({ bytes, compactOnly: false, late: this.compactFile !== undefined });
    this.counts['records-appended']++;
    this.schedule();
  }

  put(r: StoredRegistration): void {
    this.append(encodePut(r), r.prefix);
  }

  refresh(r: StoredRegistration): void {
    this.append(new Writer().u8(REFRESH).prefix(r.prefix).f64(r.refreshedAt).f64(r.expiresAt).source(r.source).done(), r.prefix);
  }

  remove(prefix: EidPrefix): void {
    this.append(new Writer().u8(REMOVE).prefix(prefix).done(), prefix);
  }

  bind(key: string, site: string): void {
    this.append(new Writer().u8(BIND).str(key).str(site).done());
  }

  unbind(key: string): void {
    this.append(new Writer().u8(UNBIND).str(key).done());
  }

  subscribe(sub: StoredSubscription): void {
    this.append(encodeSubscribe(sub));
  }

  private schedule(): void {
    this.writing ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.drain());
  }

  /** Writes what is queued, turn after turn, until nothing is. */
  private async drain(): Promise<void> {
    try {
      this.file ??= openSync(this.path, 'a', 0o600);
      while (this.queue.length) {
        const q = this.queue;
        this.queue = [];
        const journal = Buffer.concat(q.filter((e) => !e.compactOnly).map((e) => e.bytes));
        if (journal.length) {
          await writeAll(this.file, journal);
          this.bytes += journal.length;
        }
        if (this.compactFile !== undefined) {
          const next = Buffer.concat(q.filter((e) => e.compactOnly || e.late).map((e) => e.bytes));
          await writeAll(this.compactFile, next);
          this.compactedBytes += next.length;
        }
        this.counts.writes++;
        this.dirty = true;
        if (this.fsyncMs === 0) await this.sync();
        else this.syncTimer ??= setTimeout(() => void this.sync(), this.fsyncMs);
      }
    } catch (e) {
      this.counts['write-errors']++;
      this.log.error('cannot write the store journal', { path: this.path, error: (e as Error).message });
    } finally {
      this.writing = undefined;
      if (this.queue.length && !this.closed) this.schedule();
    }
    if (!this.touched && !this.closed && this.bytes > Math.max(COMPACT_MIN_BYTES, 2 * this.liveBytes)) this.compacting = this.compact();
  }

  private async sync(): Promise<void> {
    this.syncTimer = undefined;
    if (!this.dirty || this.file === undefined) return;
    this.dirty = false;
    try {
      await datasyncFd(this.file);
    } catch (e) {
      this.counts['write-errors']++;
      this.log.error('cannot sync the store journal', { path: this.path, error: (e as Error).message });
    }
  }

  /** Rewrites the journal as the live state (see the module comment); resolves when replaced. */
  async compact(): Promise<void> {
    if (this.touched || this.closed) return;
    this.touched = new Set();
    const tmp = `${this.path}.compact`;
    const t0 = performance.now();
    try {
      // from here on every append also goes into the new file, after its head
      this.compactFile = openSync(tmp, 'w', 0o600);
      this.compactedBytes = 0;
      const src = this.source();
      const head = [MAGIC, ...[...src.bindings()].map(([k, s]) => new Writer().u8(BIND).str(k).str(s).done())];
      this.queue.push(...head.map((bytes) => ({ bytes, compactOnly: true, late: false })));
      const touched = this.touched;
      // the live registrations (one changed meanwhile is in the new file already), then the subscriptions (a later renewal there only extends them)
      await this.copyChunked(src.registrations(), (reg) => (touched.has(keyOf(reg.prefix)) ? undefined : encodePut(reg)));
      await this.copyChunked(src.subscriptions(), encodeSubscribe);
      await this.writing;
      const done = this.compactFile;
      await datasyncFd(done);
      renameSync(tmp, this.path);
      fsyncDir(dirname(this.path));
      const old = this.file;
      this.file = done; // appends now go to the compacted file only
      this.compactFile = undefined;
      this.queue.forEach((e) => (e.late = false));
      if (old !== undefined) await closeFd(old);
      this.bytes = this.compactedBytes;
      this.liveBytes = this.compactedBytes;
      this.counts.compactions++;
      this.log.info('store journal compacted', { path: this.path, bytes: this.bytes, ms: Math.round(performance.now() - t0) });
    } catch (e) {
      await this.writing;
      if (this.compactFile !== undefined) await closeFd(this.compactFile).catch(() => undefined);
      this.compactFile = undefined;
      rmSync(tmp, { force: true });
      if (!this.closed) {
        this.counts['write-errors']++;
        this.log.error('store compaction failed: the journal goes on', { path: this.path, error: (e as Error).message });
      }
    } finally {
      this.touched = undefined;
      this.compacting = undefined;
    }
  }

  /** Queues what `it` yields (encoded) for the compacted file, COMPACT_CHUNK per event-loop turn. */
  private async copyChunked<T>(it: Iterator<T | undefined>, encode: (v: T) => Buffer | undefined): Promise<void> {
    for (;;) {
      let n = 0;
      let r: IteratorResult<T | undefined>;
      while (n < COMPACT_CHUNK && !(r = it.next()).done) {
        n++;
        const bytes = r.value === undefined ? undefined : encode(r.value);
        if (bytes) this.queue.push({ bytes, compactOnly: true, late: false });
      }
      this.schedule();
      await this.writing;
      if (this.closed) throw new Error('closed during compaction');
      if (n < COMPACT_CHUNK) return;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  stats(): Record<string, number | string> {
    return { kind: 'embedded', path: this.path, bytes: this.bytes, fsyncMs: this.fsyncMs, ...this.counts };
  }

  /** Writes and syncs what is queued, then closes. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true; // appends are refused, a compaction gives up
    await this.compacting;
    while (this.writing) await this.writing;
    clearTimeout(this.syncTimer);
    this.dirty = true;
    await this.sync();
    if (this.file !== undefined) await closeFd(this.file);
    this.file = undefined;
  }
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
