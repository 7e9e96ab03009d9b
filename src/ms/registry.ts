/**
 * The registered mappings: EID prefix -> Registration, longest-prefix match per instance ID,
 * expiring when not refreshed. A registration keeps its record only as the encoded Map-Reply it
 * answers with (a Map-Request costs a copy and a nonce, not an encode), and decodes it again on
 * the rare paths that need the fields (push, `ms show`, revocation). The encoded replies live in
 * large slabs (ReplyStore), not in a Buffer each: a million entries stay under 600 bytes each,
 * and answering touches the registration and its bytes only.
 */
import { MappingDatabase } from '../mapping/database.js';
import type { EidPrefix } from '../mapping/eid.js';
import type { IpFamily } from '../ip/ip.js';
import { decodeMessage, encodeMessage, type MappingRecord } from '../lisp/index.js';
import { LispwgError } from '../util/errors.js';

/** Where an xTR's Map-Notifies go: the UDP source of its last Map-Register. */
export interface Endpoint {
  readonly address: string;
  readonly port: number;
  /**
   * The Map-Server's own address that Map-Register reached (its receiving socket): Map-Notifies
   * leave from there. With an underlay and a control-tunnel listener, a notify sent from the
   * underlay socket to a tunnel xTR would carry the wrong source, and WireGuard would drop it.
   */
  readonly via?: string;
}

export interface Registration {
  readonly prefix: EidPrefix;
  /** The owning site's name; undefined for a static mapping. */
  readonly siteName: string | undefined;
  /** Where the Map-Reply (nonce 0, one record) this registration answers with is in the ReplyStore. */
  replyAt: number;
  replyLength: number;
  source: Endpoint | undefined;
  /** Wall-clock ms of the first registration. */
  readonly registeredAt: number;
  /** Wall-clock ms of the last refresh. */
  refreshedAt: number;
  /** Monotonic ms (performance.now) of expiry; Infinity for static mappings. */
  expiresAt: number;
}

export type UpsertResult = 'new' | 'refreshed' | 'changed';

/** Byte offset of the nonce in a Map-Reply, and of the first record. */
export const MAP_REPLY_NONCE_OFFSET = 4;
export const MAP_REPLY_RECORDS_OFFSET = 12;

/** Encodes `record` as the Map-Reply a Map-Server answers with (proxy reply: A bit clear). */
export function encodeReply(record: MappingRecord): Buffer {
  return encodeMessage({
    type: 'map-reply',
    probe: false,
    echoNonceCapable: false,
    security: false,
    nonce: 0n,
        // a proxy reply: not authoritative, and no locator is local to its sender (RFC 9301 section 5.4)
    records: [{ ...record, authoritative: false, locators: record.locators.map((l) => (l.local ? { ...l, local: false } : l)) }],
  });
}

const SLAB = 1 << 20;

/**
 * Encoded Map-Replies packed into 1-MiB slabs, addressed by slab * SLAB + offset. Replaced bytes
 * become garbage; when garbage is over half of what is held, the owner compacts (re-puts the
 * live entries into a fresh store).
 */
class ReplyStore {
  private readonly slabs: Buffer[] = [];
  private used = SLAB; // bytes used in the last slab (a full one at first: the first put opens one)
  held = 0;
  garbage = 0;

  put(bytes: Uint8Array): number {
    if (bytes.length > SLAB) throw new Error('internal: a Map-Reply larger than a slab');
    // positions travel as int32 payloads of the trie index: 2 GiB of replies at most
    if (this.slabs.length * SLAB + bytes.length >= 2 ** 31) throw new LispwgError('REGISTRY_FULL', 'the registry holds 2 GiB of encoded replies: no room for more registrations');
    if (this.used + bytes.length > SLAB) {
      this.slabs.push(Buffer.allocUnsafeSlow(SLAB));
      this.used = 0;
    }
    const at = (this.slabs.length - 1) * SLAB + this.used;
    this.slabs[this.slabs.length - 1]!.set(bytes, this.used);
    this.used += bytes.length;
    this.held += bytes.length;
    return at;
  }

  slab(at: number): Buffer {
    return this.slabs[Math.floor(at / SLAB)]!;
  }

  view(at: number, length: number): Buffer {
    const o = at % SLAB;
    return this.slab(at).subarray(o, o + length);
  }

  equals(at: number, length: number, bytes: Uint8Array): boolean {
    if (length !== bytes.length) return false;
    const o = at % SLAB;
    return this.slab(at).compare(bytes, 0, length, o, o + length) === 0;
  }

  free(length: number): void {
    this.garbage += length;
  }

  get byteLength(): number {
    return this.slabs.length * SLAB;
  }
}

export class Registry {
  private readonly db = new MappingDatabase<Registration>();
  private store = new ReplyStore();
  private readonly hit = new Int32Array(2);
  /** Dynamic registrations in refresh order (Set iteration follows insertion): oldest first. */
  private readonly byAge = new Set<Registration>();
  /** Registrations per site name (for the quota). */
  private readonly perSite = new Map<string, number>();

  constructor(
    /** How long a registration lives without a refresh (ms). */
    public ttlMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  get size(): number {
    return this.db.size;
  }

  /** How many registrations site `name` holds. */
  countOf(name: string): number {
    return this.perSite.get(name) ?? 0;
  }

  /** Bytes of the trie nodes and reply slabs (for the memory figures). */
  get bytes(): { trie: number; replies: number } {
    return { trie: this.db.trieBytes, replies: this.store.byteLength };
  }

  /** The reply's bytes (a view: copy before keeping or changing them). */
  replyOf(reg: Registration): Buffer {
    return this.store.view(reg.replyAt, reg.replyLength);
  }

  /** Whether `reg` answers with exactly `reply`. */
  replyEquals(reg: Registration, reply: Uint8Array): boolean {
    return this.store.equals(reg.replyAt, reg.replyLength, reply);
  }

  /**
   * The reply (with `nonce`) of the registration covering an address, or undefined: read from
   * the trie's index and the reply slab alone, without touching the Registration object.
   */
  replyFor(iid: number, afi: IpFamily, address: string, nonce: bigint): Buffer | undefined {
    if (!this.db.lookupPayload(iid, afi, address, this.hit)) return undefined;
    const at = this.hit[0]!;
    const length = this.hit[1]!;
    const out = Buffer.allocUnsafe(length);
    const o = at % SLAB;
    this.store.slab(at).copy(out, 0, o, o + length);
    out.writeBigUInt64BE(nonce, MAP_REPLY_NONCE_OFFSET);
    return out;
  }

  /** The record TTL (minutes) of a registration. */
  ttlOf(reg: Registration): number {
    return this.store.slab(reg.replyAt).readUInt32BE((reg.replyAt % SLAB) + MAP_REPLY_RECORDS_OFFSET);
  }

  /** The record held in a registration's reply. */
  recordOf(reg: Registration): MappingRecord {
    const m = decodeMessage(this.replyOf(reg));
    if (m.type !== 'map-reply' || m.records.length !== 1) throw new Error('internal: a registration holds one Map-Reply record');
    return m.records[0]!;
  }

  lookup(iid: number, afi: IpFamily, address: string): Registration | undefined {
    return this.db.lookupValue(iid, afi, address);
  }

  get(prefix: EidPrefix): Registration | undefined {
    return this.db.get(prefix);
  }

  /**
   * Stores or refreshes a registration. `siteName` undefined makes a static mapping that never
   * expires. Returns what happened: a new prefix, the same record again, or a changed record
   * (with the Map-Reply it answered with `before`). `ttlLeftMs`: another replica's registration
   * expires when it said (it joins the refresh order at the end: at most the replication lag late).
   * `heardAt`: wall-clock ms the site was heard (by another replica, for its registration).
   */
  upsert(prefix: EidPrefix, siteName: string | undefined, reply: Uint8Array, source: Endpoint | undefined, ttlLeftMs = this.ttlMs, heardAt = Date.now()): { reg: Registration; result: UpsertResult; before?: Buffer } {
    this.maybeCompact(); // here, not on removal: a withdrawn registration's bytes are read just after
    const now = this.now();
    const wall = heardAt;
    const expiresAt = siteName === undefined ? Infinity : now + ttlLeftMs;
    const old = this.db.get(prefix);
    if (old && old.siteName === siteName) {
      const changed = !this.store.equals(old.replyAt, old.replyLength, reply);
      let before: Buffer | undefined;
      if (changed) {
        before = Buffer.from(this.store.view(old.replyAt, old.replyLength));
        this.store.free(old.replyLength);
        old.replyAt = this.store.put(reply);
        old.replyLength = reply.length;
        this.db.setPayload(prefix, old.replyAt, old.replyLength);
      }
      old.source = source;
      old.refreshedAt = Math.max(old.refreshedAt, wall);
      old.expiresAt = expiresAt;
      if (siteName !== undefined) {
        this.byAge.delete(old);
        this.byAge.add(old);
      }
      return before ? { reg: old, result: 'changed', before } : { reg: old, result: 'refreshed' };
    }
    let before: Buffer | undefined;
    if (old) {
      this.byAge.delete(old); // another owner (reload moved the prefix): replace
      before = Buffer.from(this.store.view(old.replyAt, old.replyLength));
      this.store.free(old.replyLength);
      this.forget(old);
    }
    const reg: Registration = { prefix, siteName, replyAt: this.store.put(reply), replyLength: reply.length, source, registeredAt: wall, refreshedAt: wall, expiresAt };
    this.count(this.perSite, siteName);
    this.db.set(prefix, reg);
    this.db.setPayload(prefix, reg.replyAt, reg.replyLength);
    if (siteName !== undefined) this.byAge.add(reg);
    return before ? { reg, result: 'changed', before } : { reg, result: 'new' };
  }

  /**
   * Puts back a registration read from the store (registration-store load: the prefix is not
   * held yet), expiring `ttlLeftMs` from now. Call in expiry order: it is the refresh order.
   */
  restore(prefix: EidPrefix, siteName: string, reply: Uint8Array, source: Endpoint | undefined, registeredAt: number, refreshedAt: number, ttlLeftMs: number): Registration {
    const reg: Registration = { prefix, siteName, replyAt: this.store.put(reply), replyLength: reply.length, source, registeredAt, refreshedAt, expiresAt: this.now() + ttlLeftMs };
    this.count(this.perSite, siteName);
    this.db.set(prefix, reg);
    this.db.setPayload(prefix, reg.replyAt, reg.replyLength);
    this.byAge.add(reg);
    return reg;
  }

  /** Wall-clock ms at which `reg` expires (what the store keeps). */
  wallExpiry(reg: Registration): number {
    return Date.now() + (reg.expiresAt - this.now());
  }

  /**
   * The dynamic registrations, oldest refresh first. A Set iterator: it stays valid while the
   * registry changes (a compaction of the store walks it over many event-loop turns).
   */
  dynamic(): IterableIterator<Registration> {
    return this.byAge.values();
  }

  /** Removes a registration. Its reply bytes stay readable until the next change (for the withdrawal). */
  remove(prefix: EidPrefix): Registration | undefined {
    const reg = this.db.delete(prefix);
    if (reg) {
      this.byAge.delete(reg);
      this.store.free(reg.replyLength);
      this.forget(reg);
    }
    return reg;
  }

  /** Removes and returns the registrations whose time is up. */
  expire(): Registration[] {
    const now = this.now();
    const gone: Registration[] = [];
    for (const reg of this.byAge) {
      if (reg.expiresAt > now) break; // the rest were refreshed later
      gone.push(reg);
    }
    for (const reg of gone) {
      this.byAge.delete(reg);
      this.db.delete(reg.prefix);
      this.store.free(reg.replyLength);
      this.forget(reg);
    }
    return gone;
  }

  private forget(reg: Registration): void {
    this.uncount(this.perSite, reg.siteName);
  }

  private count(m: Map<string, number>, k: string | undefined): void {
    if (k !== undefined) m.set(k, (m.get(k) ?? 0) + 1);
  }

  private uncount(m: Map<string, number>, k: string | undefined): void {
    if (k === undefined) return;
    const n = (m.get(k) ?? 0) - 1;
    if (n > 0) m.set(k, n);
    else m.delete(k);
  }

  /** Re-packs the live replies when more than half of the slabs is garbage. */
  private maybeCompact(): void {
    if (this.store.garbage < 4 * SLAB || this.store.garbage * 2 < this.store.held) return;
    const old = this.store;
    const fresh = new ReplyStore();
    for (const reg of this.all()) {
      reg.replyAt = fresh.put(old.view(reg.replyAt, reg.replyLength));
      this.db.setPayload(reg.prefix, reg.replyAt, reg.replyLength);
    }
    this.store = fresh;
  }

  /** See MappingDatabase.holeLen. */
  holeLen(iid: number, afi: IpFamily, address: string): number {
    return this.db.holeLen(iid, afi, address);
  }

  *all(): IterableIterator<Registration> {
    for (const { value } of this.db.entries()) yield value;
  }
}
