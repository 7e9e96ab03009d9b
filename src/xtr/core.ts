/**
 * The agent core: everything an xTR / mobile node does that does not depend on its data plane.
 *
 * - Registration: the site's records (with the data plane's key, if any) at each RLOC change;
 *   after a move the data plane follows (new endpoints, SMRs once the Map-Server acknowledged).
 * - Resolution: a miss starts one Map-Request per destination (the Resolver retransmits it with
 *   backoff); the answer's record covering the destination (mask length checked) becomes a
 *   positive entry installed in the data plane, or a negative one (no record, no usable
 *   locator, no key where the data plane needs one) that stops asking until it expires.
 * - Map-cache upkeep (one tick): an entry still in use is re-resolved shortly before it expires,
 *   the rest is removed when it does; the data plane reports idle and silent peers. An entry
 *   whose refresh nobody answered and whose tunnel is alive is served stale (RFC 8767) instead.
 * - Pushes (Map-Notify, gRPC) are installed like answers; withdrawals remove what they cover.
 * - Bounds (`limits`): resolutions started by misses, map-cache entries (when full, expired then
 *   negative entries make room; positive ones, which may carry traffic, are never evicted), and
 *   the data plane's own (peers): what would go beyond is refused and counted (`limit-*`).
 * - Admin (`show`, `flush`), status, counters, faults.
 *
 * It opens no socket and no interface: the data plane and the mapping source are given to it,
 * so that it runs in a unit test as it runs in the agent (agent.ts builds the real ones).
 */
import { Action, eidOf, recordKey, type MappingRecord } from '../lisp/index.js';
import { MapCache, refreshDue } from '../mapping/map-cache.js';
import { prefixOf } from '../mapping/database.js';
import { eidPrefixText, type EidPrefix } from '../mapping/eid.js';
import { familyBits, familyOf } from '../ip/ip.js';
import { Shutdown } from '../util/shutdown.js';
import type { MappingEvent, Resolution, WithdrawnEvent } from '../control/client.js';
import { LispwgError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { keyToBase64 } from '../wg/keys.js';
import type { AgentConfig } from './config.js';
import { InstallRefused, type DataPlane, type DataPlaneHost, type MappingOrigin, type UsableLocator } from './dataplane.js';
import type { EventLog } from './events.js';
import type { MappingSource, MappingSourceHooks } from './mapping-source.js';
import { Resolver } from './resolver.js';
import { resolverStatus, type AgentStatus, type ControlInterfaceStatus, type MapCacheStatus } from './show.js';
import { sameRlocs, siteRecords, type Rloc } from './site.js';
import { Histogram } from '../ms/stats.js';

type CacheValue =
  | {
      kind: 'positive';
      /** The record's usable RLOCs, best first. */
      rlocs: string[];
      key: Uint8Array | undefined;
      source: MappingOrigin;
      /** A re-resolution for this entry is in flight, and why. */
      refreshing: false | 'expiry' | 'silent';
      /** The last re-resolution got no usable answer (no Map-Server answered). */
      unanswered?: boolean;
      /** Served stale since (its TTL ended then, no Map-Server answering): see serveStale. */
      staleSince?: number;
    }
  | { kind: 'negative'; action: number };

const ACTIONS = ['no-action', 'natively-forward', 'send-map-request', 'drop'];
const FOREVER_TTL = 0xffffffff;
const MISS_SAMPLES = 1024;

const round = (v: number) => Math.round(v * 1000) / 1000;
const sameKey = (a: Uint8Array | undefined, b: Uint8Array | undefined) => a !== undefined && b !== undefined && Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;

/** The usable locators of a record, best first: lowest priority, then highest weight (255: unusable). */
function usableLocators(record: MappingRecord): UsableLocator[] {
  return record.locators
    .filter((l) => l.priority !== 255 && l.reachable && (l.address.afi === 'ipv4' || l.address.afi === 'ipv6'))
    .sort((a, b) => a.priority - b.priority || b.weight - a.weight)
    .map((l) => ({ address: (l.address as { address: string }).address, priority: l.priority, weight: l.weight }));
}

/** The record of an answer that covers `address` in instance `iid` (family, instance and mask length checked). */
function matchingRecord(records: readonly MappingRecord[], iid: number, address: string): MappingRecord | undefined {
  const afi = familyOf(address);
  return records.find((r) => {
    const e = eidOf(r.eid);
    return e && e.family === afi && e.instanceId === iid && r.maskLen <= familyBits(afi) && prefixOf(iid, afi, e.address, r.maskLen).address === prefixOf(iid, afi, address, r.maskLen).address;
  });
}

export interface CoreOptions {
  config: AgentConfig;
  log: Logger;
  events: EventLog;
  dataPlane: DataPlane;
  /** The control tunnel, for the status. */
  control: ControlInterfaceStatus;
  /** After a move, before registering: the control tunnel's peer is given its endpoint again. */
  moved?: () => Promise<void>;
  /** Monotonic clock (ms); default performance.now(). */
  now?: () => number;
}

export class AgentCore {
  private readonly cache: MapCache<CacheValue>;
  private readonly resolver: Resolver;
  private readonly counters: Record<string, number> = {};
  private readonly missToInstalledMs: number[] = [];
  /**
   * Since start, for the metrics (ns): first Map-Request to answer (the resolver's), and miss to
   * installed; `show` prints the last 1024 of each instead.
   */
  readonly histograms: { resolution: Histogram; missToInstalled: Histogram };
  private readonly ownEids: Partial<Record<'ipv4' | 'ipv6', string>> = {};
  private readonly eidSpace: EidPrefix[];
  private readonly now: () => number;
  private readonly started: number;
  readonly config: AgentConfig;
  private readonly log: Logger;
  private readonly events: EventLog;
  private readonly dp: DataPlane;
  private source: MappingSource | undefined;
  private rlocs: Rloc[] = [];
  /** The RLOCs of the last registration (a change from non-empty ones is a move). */
  private registeredRlocs: string[] = [];
  private registeredAt: number | undefined;
  /** RLOC changes are handled one after the other. */
  private rlocWork: Promise<void> = Promise.resolve();
  private tick: NodeJS.Timeout | undefined;
  private ticking = false;
  private stopping: Promise<unknown[]> | undefined;

  constructor(private readonly opts: CoreOptions) {
    this.config = opts.config;
    this.log = opts.log;
    this.events = opts.events;
    this.dp = opts.dataPlane;
    this.now = opts.now ?? (() => performance.now());
    this.started = this.now();
    this.cache = new MapCache<CacheValue>({ now: this.now });
    this.resolver = new Resolver(
      this.config.timers.resolve,
      { send: (dest, attempt) => this.sendMapRequest(dest, attempt), giveUp: (dest, attempts) => this.onGiveUp(dest, attempts) },
      this.now,
    );
    this.histograms = { resolution: this.resolver.histogram, missToInstalled: new Histogram() };
    this.eidSpace = this.config.eidSpace.map((p) => prefixOf(0, p.family, p.address, p.length));
    for (const e of this.config.eidPrefixes) this.ownEids[e.prefix.family] ??= e.address ?? e.prefix.address;
  }

  /** What the mapping source calls (give it to openMappingSource). */
  readonly sourceHooks: MappingSourceHooks = {
    push: async (events) => {
      for (const e of events) {
        if ('record' in e) await this.takePush(e);
        else await this.onWithdrawn(e).catch((err: unknown) => this.fault('withdrawal', err));
      }
    },
    registered: (t) => (this.registeredAt = t),
    count: (what) => this.count(what),
  };

  /** What the data plane calls (give it to DataPlane.open). */
  readonly host: DataPlaneHost = {
    lookup: (dst) => {
      const e = this.cache.lookup(this.config.instanceId, familyOf(dst), dst);
      return e && { kind: e.value.kind, prefix: e.prefix };
    },
    miss: (dst, bytes) => this.onMiss(dst, bytes),
    resolve: (dest) => void this.resolver.resolve(dest),
    silent: (prefixes) => {
      for (const p of prefixes) this.refresh(p, 'silent');
    },
    idle: async (prefixes) => {
      for (const p of prefixes) await this.removePrefix(this.prefixFromKey(p), 'idle');
    },
    records: () => siteRecords(this.config, this.rlocs),
    positives: () => [...this.cache.entries()].flatMap((e) => (e.value.kind === 'positive' ? [{ prefix: e.prefix, rlocs: e.value.rlocs }] : [])),
    missToInstalled: (ms) => {
      this.missToInstalledMs.push(ms);
      if (this.missToInstalledMs.length > MISS_SAMPLES) this.missToInstalledMs.shift();
      this.histograms.missToInstalled.record(ms * 1e6);
    },
    emit: (event, fields, mono) => void this.events.emit(event, fields, mono),
    count: (what) => this.count(what),
    fault: (where, e) => this.fault(where, e),
  };

  /** Starts resolving over `source` and the upkeep tick (the data plane is open). */
  start(source: MappingSource): void {
    this.source = source;
    const tickMs = Math.max(100, Math.min(1000, Math.floor(this.config.timers.peerSilenceMs / 3)));
    this.tick = setInterval(() => void this.upkeep(), tickMs);
  }

  // --- registration, mobility -------------------------------------------------------------------

  /** The RLOC interfaces' addresses now; registers at once when they changed. */
  setRlocs(next: Rloc[], why: string): void {
    if (this.stopping || sameRlocs(next, this.rlocs)) return;
    const before = this.rlocs.map((r) => r.address);
    this.rlocs = next;
    this.events.emit('rloc-changed', { why, from: before, to: next.map((r) => r.address) });
    // no RLOC (between two networks in a handover): register when the next one appears
    if (next.length === 0) return;
    const moved = this.registeredRlocs.length > 0;
    this.registeredRlocs = next.map((r) => r.address);
    this.rlocWork = this.rlocWork
      .then(async () => {
        if (moved) {
          await this.opts.moved?.();
          await this.dp.moved(next);
        }
      })
      .catch((e: unknown) => this.fault('re-setting endpoints after an RLOC change', e))
      .then(async () => {
        const registered = this.register();
        // the data plane acts once the Map-Server holds the new RLOC; the next change waits for it
        if (moved && this.dp.registeredAfterMove && (await registered)) this.dp.registeredAfterMove(this.rlocs);
      });
  }

  /** A route appeared: an unanswered Map-Register goes again now. */
  hurryRegistration(): void {
    this.source?.hurryRegistration();
  }

  /** Resolves false when the registration was not acknowledged in time (the source keeps trying). */
  private register(): Promise<boolean> {
    this.events.emit('register-sent', { rlocs: this.rlocs.map((r) => r.address), eidPrefixes: this.config.eidPrefixes.map((e) => e.prefix.text) });
    if (!this.source) return Promise.resolve(false);
    return this.source.register(siteRecords(this.config, this.rlocs, this.dp.registrationKey)).then(
      () => true,
      () => false, // REGISTER_TIMEOUT is logged by the source's listener; it keeps trying
    );
  }

  // --- resolution --------------------------------------------------------------------------------

  /** False when `dst` is not ours to resolve. */
  private onMiss(dst: string, bytes?: number): boolean {
    const afi = familyOf(dst);
    // only the EID space is ours to resolve (not what the kernel sends on any interface: MLD...)
    if (!this.eidSpace.some((p) => p.afi === afi && prefixOf(0, afi, dst, p.maskLen).address === p.address)) {
      this.count('tun-outside-eid-space');
      return false;
    }
    const key = `${dst}/${familyBits(afi)}`;
    if (this.resolver.pending(key) || !this.source) return true;
    // refreshes of entries held are not counted here: the map-cache bounds them
    if (this.resolver.inFlightCount >= this.config.limits.resolutions) {
      this.count('limit-resolutions');
      return false;
    }
    this.count('misses');
    this.events.emit('miss', { eid: dst, ...(bytes !== undefined ? { bytes } : {}) });
    this.resolver.resolve(key);
    return true;
  }

  /** One Map-Request for `dest` ("address/len"); the resolver retransmits. */
  private sendMapRequest(dest: string, attempt: number): void {
    const source = this.source;
    if (!source) return;
    const address = dest.slice(0, dest.lastIndexOf('/'));
    const r = this.config.timers.resolve;
    // a late answer to an earlier attempt is as good as any: each attempt waits the whole budget
    const timeoutMs = r.firstTimeoutMs * r.attempts + r.maxTimeoutMs * r.attempts;
    const sourceEid = this.ownEids[familyOf(address)];
    this.events.emit('map-request-sent', { eid: dest, attempt, ...(source.channel === 'grpc' ? { channel: 'grpc' } : {}) });
    source
      .resolve(address, { iid: this.config.instanceId, ...(sourceEid ? { sourceEid } : {}), timeoutMs, attempt })
      .then(
        (res) => this.onResolution(dest, res),
        () => undefined, // this attempt went unanswered: the resolver decides what comes next
      )
      .catch((e: unknown) => this.fault('Map-Reply', e));
  }

  private async onResolution(dest: string, res: Resolution): Promise<void> {
    if (this.stopping) return;
    const started = this.resolver.startedAt(dest);
    if (this.resolver.answered(dest) === undefined) return; // another attempt already answered
    this.events.emit('map-reply-received', { eid: dest, rttMs: round(res.rttMs), attempts: res.attempts, records: res.records.length }, res.t);
    const address = dest.slice(0, dest.lastIndexOf('/'));
    const afi = familyOf(address);
    const iid = this.config.instanceId;
    const negativeTtl = this.config.timers.resolve.negativeTtlMs;
    const record = matchingRecord(res.records, iid, address);
    if (!record) {
      this.count('reply-without-matching-record');
      return this.cacheNegative(prefixOf(iid, afi, address, familyBits(afi)), 0, negativeTtl);
    }
    const e = eidOf(record.eid)!;
    const prefix = prefixOf(e.instanceId, e.family, e.address, record.maskLen);
    const ttlMs = record.ttl === FOREVER_TTL ? Infinity : record.ttl * 60_000;
    if (record.locators.length === 0) return this.cacheNegative(prefix, record.action, ttlMs || negativeTtl);
    if (usableLocators(record).length === 0) {
      this.count('mapping-without-usable-rloc');
      return this.cacheNegative(prefix, record.action, negativeTtl);
    }
    const key = this.keyOf(record, prefix);
    if (this.dp.needsKey && !key) {
      // a plain LISP record: nothing to build a WireGuard tunnel with
      this.count('reply-without-key');
      return this.cacheNegative(prefix, 0, negativeTtl);
    }
    // a refresh of an entry we hold is not a miss: it does not count in miss-to-installed
    const miss = this.cache.get(prefix)?.value.kind !== 'positive';
    await this.applyMapping(prefix, record, key, ttlMs, 'map-reply', miss ? started : undefined);
  }

  private onGiveUp(dest: string, attempts: number): void {
    const dropped = this.dp.unresolved(dest);
    this.events.emit('resolve-gave-up', { eid: dest, attempts, dropped });
    const v = this.cache.get(this.prefixFromKey(dest))?.value;
    if (v?.kind === 'positive') {
      v.refreshing = false;
      v.unanswered = true;
    }
  }

  private cacheNegative(prefix: EidPrefix, action: number, ttlMs: number): void {
    const text = eidPrefixText(prefix);
    if (this.isOwn(prefix)) return this.count('mapping-for-own-eid');
    this.count('negative-replies');
    this.events.emit('negative-reply', { prefix: text, action: ACTIONS[action] ?? action, ttlS: ttlMs / 1000 });
    if (!this.roomFor(prefix)) {
      this.count('limit-map-cache');
      return this.dp.negative(prefix); // not cached: the next miss asks again
    }
    const held = this.cache.get(prefix);
    if (held?.value.kind === 'positive' && action === Action.SendMapRequest && this.tunnelAlive(prefix)) {
      // "in a site, nothing registered": a Map-Server that has just started (or lost its state)
      // says so too, while the destination still answers us: not a withdrawal (that one is pushed,
      // or is drop / natively-forward); keep the mapping and ask again, as when nobody answers
      this.count('negative-kept-live-tunnel');
      held.value.refreshing = false;
      held.value.unanswered = true;
      return;
    }
    // a negative answer replaces a mapping we held (the site is gone): what was installed goes too
    if (held?.value.kind === 'positive') void this.dp.remove(prefix, 'negative-reply').catch((e: unknown) => this.fault('removing a mapping', e));
    this.cache.set(prefix, { kind: 'negative', action }, ttlMs);
    this.dp.negative(prefix);
  }

  private keyOf(record: MappingRecord, prefix: EidPrefix): Uint8Array | undefined {
    try {
      return recordKey(record);
    } catch (err) {
      this.log.warn('a record with an unusable Security Key', { prefix: eidPrefixText(prefix), error: (err as Error).message });
      return undefined;
    }
  }

  // --- install -----------------------------------------------------------------------------------

  /** Puts the mapping of `prefix` into the map-cache and the data plane. */
  private async applyMapping(prefix: EidPrefix, record: MappingRecord, key: Uint8Array | undefined, ttlMs: number, source: MappingOrigin, missAt?: number, onReady?: () => void): Promise<void> {
    const text = eidPrefixText(prefix);
    const refuse = (why: string) => {
      this.count(why);
      this.log.warn('a mapping the agent cannot use: ignored', { prefix: text, why });
      this.dp.unresolved(text);
    };
    if (this.isOwn(prefix)) return refuse('mapping-for-own-eid');
    // only the overlay is routed into the data plane: a record for 0.0.0.0/0 must not take the underlay
    if (!this.eidSpace.some((s) => s.afi === prefix.afi && s.maskLen <= prefix.maskLen && prefixOf(0, prefix.afi, prefix.address, s.maskLen).address === s.address)) {
      return refuse('mapping-outside-eid-space');
    }
    const locators = usableLocators(record);
    if (locators.length === 0) return refuse('mapping-without-usable-rloc');
    if (!this.roomFor(prefix)) return refuse('limit-map-cache');
    const held = this.cache.get(prefix);
    const prev = held?.value;
    const silent = prev?.kind === 'positive' && prev.refreshing === 'silent';
    const known = prev?.kind === 'positive' && (sameKey(prev.key, key) || (!prev.key && !key));
    this.cache.set(prefix, { kind: 'positive', rlocs: locators.map((l) => l.address), key, source: known ? prev.source : source, refreshing: false }, ttlMs);
    try {
      await this.dp.install({ prefix, text, record, locators, key, source, missAt, silent }, onReady);
    } catch (e) {
      if (held) this.cache.set(prefix, held.value, held.expiresAt - this.now());
      else this.cache.delete(prefix);
      if (!(e instanceof InstallRefused)) throw e;
      // the data plane's rules (a borrowed key, a full peer table): counted, told, nothing changed
      this.count(e.reason);
      this.events.emit('mapping-refused', { prefix: text, reason: e.reason, rloc: locators[0]!.address, source, ...(key ? { key: keyToBase64(key) } : {}) });
      this.log.warn('a mapping refused by the data plane', { prefix: text, reason: e.reason, error: e.message });
      this.dp.unresolved(text);
      return;
    }
    // a covering answer also settles the narrower requests in flight
    for (const k of [...this.resolver.inFlightKeys()]) if (this.covers(prefix, k)) this.resolver.answered(k);
  }

  // --- pushed Map-Notifies, withdrawals ------------------------------------------------------------

  /**
   * Handles a pushed mapping; resolves when its acknowledgement may go: as soon as the data plane
   * accepts traffic from its site (the requester's first handshake, which waits for the Ack, will
   * find our peer), or once handling ended.
   */
  private takePush(e: MappingEvent): Promise<void> {
    return new Promise<void>((ackable) => {
      this.onPushedMapping(e, ackable)
        .catch((err: unknown) => this.fault('pushed mapping', err))
        .finally(ackable);
    });
  }

  private async onPushedMapping(e: MappingEvent, onReady: () => void): Promise<void> {
    if (this.stopping) return;
    this.events.emit('map-notify-received', { prefix: eidPrefixText(e.prefix), from: e.from.address, key: e.key ? keyToBase64(e.key) : null }, e.t);
    if (e.prefix.iid !== this.config.instanceId) return this.count('map-notify-other-instance');
    if (this.dp.needsKey && !e.key) return this.count('map-notify-without-key');
    const ttlMs = e.record.ttl === FOREVER_TTL ? Infinity : e.record.ttl * 60_000;
    await this.applyMapping(e.prefix, e.record, e.key, ttlMs, 'map-notify', undefined, onReady);
  }

  private async onWithdrawn(e: WithdrawnEvent): Promise<void> {
    if (this.stopping) return;
    const text = eidPrefixText(e.prefix);
    this.events.emit('revoked', { prefix: text, key: e.key ? keyToBase64(e.key) : null, from: e.from.address }, e.t);
    const removed = new Set<string>();
    for (const entry of [...this.cache.entries()]) {
      const v = entry.value;
      if (this.covers(e.prefix, eidPrefixText(entry.prefix)) || (v.kind === 'positive' && sameKey(v.key, e.key))) {
        removed.add(eidPrefixText(entry.prefix));
        await this.removePrefix(entry.prefix, 'revoked');
      }
    }
    if (e.key) for (const p of await this.dp.revokeKey(e.key)) removed.add(p);
    this.count('withdrawals');
    if (removed.size === 0) this.log.info('a withdrawal for nothing we hold', { prefix: text });
  }

  private async removePrefix(prefix: EidPrefix, why: string): Promise<void> {
    this.cache.delete(prefix);
    await this.dp.remove(prefix, why);
  }

  // --- upkeep: expiry, refresh ----------------------------------------------------------------------

  /** One upkeep round (the tick calls it; exposed for tests). */
  async upkeep(): Promise<void> {
    if (this.ticking || this.stopping) return;
    this.ticking = true;
    try {
      await this.dp.upkeep();
      const now = this.now();
      // refresh what carries traffic in its last refresh-before-expiry, drop the rest when it
      // expires: traffic from before that window does not count (see refreshDue)
      for (const entry of [...this.cache.entries()]) {
        const v = entry.value;
        if (v.kind !== 'positive' || v.refreshing || entry.expiresAt <= now) continue;
        if (refreshDue(entry, this.dp.lastActive(entry.prefix), now, this.config.timers.refreshBeforeExpiryMs)) this.refresh(eidPrefixText(entry.prefix), 'expiry');
      }
      this.serveStale(now);
      for (const gone of this.cache.expire()) {
        this.events.emit('entry-expired', { prefix: eidPrefixText(gone.prefix) });
        await this.dp.remove(gone.prefix, 'expired');
      }
    } catch (e) {
      this.fault('upkeep', e);
    } finally {
      this.ticking = false;
    }
  }

  /**
   * Serve-stale (RFC 8767): a mapping whose TTL has ended while no Map-Server answered its
   * refresh, and whose tunnel is alive (the far end sent us something in the last
   * `stale-refresh`), is kept for another `stale-refresh` and asked for again, up to `max-stale`
   * past its TTL. WireGuard still carries the traffic: losing the Map-Server must not tear down a
   * working tunnel. An answer makes it fresh again; a pushed withdrawal removes it; traffic that
   * stops lets it expire.
   */
  private serveStale(now: number): void {
    const t = this.config.timers;
    for (const entry of [...this.cache.entries()]) {
      const v = entry.value;
      // unanswered: its refresh got nothing (or is still waiting: the resolver's attempts outlast the refresh window)
      if (v.kind !== 'positive' || entry.expiresAt > now || !(v.unanswered || v.refreshing === 'expiry')) continue;
      const since = v.staleSince ?? entry.expiresAt;
      if (now - since >= t.maxStaleMs || !this.tunnelAlive(entry.prefix)) continue;
      const text = eidPrefixText(entry.prefix);
      if (v.staleSince === undefined) {
        this.count('served-stale');
        this.events.emit('entry-stale', { prefix: text });
      }
      this.cache.set(entry.prefix, { ...v, staleSince: since, unanswered: false }, t.staleRefreshMs);
      this.refresh(text, 'expiry'); // joins a resolution still in flight
    }
  }

  /** Whether the far end of `prefix`'s mapping sent us something lately (its tunnel is alive). */
  private tunnelAlive(prefix: EidPrefix): boolean {
    const rx = this.dp.lastReceived(prefix);
    return rx !== undefined && this.now() - rx < Math.max(this.config.timers.staleRefreshMs, this.config.timers.refreshBeforeExpiryMs);
  }

  /** Re-resolves a prefix we hold (before expiry, or because its peer went silent). */
  private refresh(prefix: string, why: 'expiry' | 'silent'): void {
    const v = this.cache.get(this.prefixFromKey(prefix))?.value;
    if (v?.kind === 'positive') v.refreshing = why;
    this.events.emit('entry-refresh', { prefix, why });
    this.resolver.resolve(prefix);
  }

  // --- admin, status -----------------------------------------------------------------------------

  async onAdmin(cmd: string): Promise<unknown> {
    if (cmd === 'show') return this.status();
    if (cmd === 'flush') return this.flush();
    throw new LispwgError('ADMIN_UNKNOWN', `unknown command '${cmd}' (show, flush)`);
  }

  /** Forgets every mapping: map-cache, what the data plane installed, waiting packets (a cold start, for experiments). */
  async flush(): Promise<{ removed: number }> {
    let removed = 0;
    for (const entry of [...this.cache.entries()]) {
      if (entry.value.kind === 'positive') removed++;
      await this.removePrefix(entry.prefix, 'flush');
    }
    this.cache.clear();
    this.resolver.close();
    await this.dp.flush();
    return { removed };
  }

  async status(): Promise<AgentStatus> {
    const now = this.now();
    const c = this.config;
    const mapCache: MapCacheStatus[] = [...this.cache.entries()].map((e) => ({
      prefix: eidPrefixText(e.prefix),
      instanceId: e.prefix.iid,
      kind: e.value.kind,
      rlocs: e.value.kind === 'positive' ? e.value.rlocs : [],
      ...(e.value.kind === 'positive' ? (e.value.key ? { publicKey: keyToBase64(e.value.key) } : {}) : { action: ACTIONS[e.value.action] ?? String(e.value.action) }),
      expiresInS: Number.isFinite(e.expiresAt) ? Math.max(0, (e.expiresAt - now) / 1000) : Infinity,
      source: e.value.kind === 'positive' ? e.value.source : 'map-reply',
    }));
    const part = await this.dp.status();
    const base = {
      name: c.name,
      mode: c.mode,
      pid: process.pid,
      instanceId: c.instanceId,
      uptimeS: (now - this.started) / 1000,
      missPolicy: c.missPolicy,
      controlChannel: this.source?.channel ?? c.controlChannel.protocol,
      registration: {
        mapServer: `${c.mapServer.controlAddress} via ${c.mapServer.address}:${c.mapServer.port}`,
        state: this.registeredAt !== undefined ? ('registered' as const) : ('registering' as const),
        ...(this.registeredAt !== undefined ? { lastRegisteredAgoS: (now - this.registeredAt) / 1000 } : {}),
        ...(c.mapServer.replicas.length && this.source
          ? { mapServers: this.source.servers().map((m) => ({ controlAddress: m.address, preferred: m.preferred, ...(m.lastNotifyAgoMs !== undefined ? { lastNotifyAgoS: m.lastNotifyAgoMs / 1000 } : {}) })) }
          : {}),
        eidPrefixes: c.eidPrefixes.map((e) => e.prefix.text),
        rlocs: this.rlocs,
      },
      mapCache,
      resolver: resolverStatus(this.resolver.stats(), this.counters['negative-replies'] ?? 0, this.missToInstalledMs),
    };
    const counters = {
      ...this.counters,
      ...prefixed('control-drop-', this.source?.drops ?? {}),
      ...part.counters,
      ...(this.events.writeErrors ? { 'event-log-write-errors': this.events.writeErrors } : {}),
    };
    return part.dataPlane === 'wireguard'
      ? { ...base, ...part, interfaces: { ...part.interfaces, ...this.opts.control }, counters }
      : { ...base, ...part, interfaces: { ...part.interfaces, ...this.opts.control }, counters };
  }

  // --- shutdown ----------------------------------------------------------------------------------

  /** Stops resolving and closes the mapping source and the data plane; idempotent. Resolves with what failed (not thrown). */
  stop(): Promise<unknown[]> {
    this.stopping ??= this.teardown();
    return this.stopping;
  }

  private async teardown(): Promise<unknown[]> {
    const s = new Shutdown(this.log);
    clearInterval(this.tick);
    this.resolver.close();
    if (this.source) await s.attempt('closing the mapping source', () => this.source!.close());
    await s.attempt('closing the data plane', () => this.dp.close());
    return s.errors;
  }

  // --- helpers -----------------------------------------------------------------------------------

  /**
   * Whether the map-cache can take an entry for `prefix` (limits.map-cache): one it holds is
   * replaced; when full, expired entries go (as the upkeep would remove them), then the negative
   * entry closest to its expiry. Positive entries are never evicted. False when full.
   */
  private roomFor(prefix: EidPrefix): boolean {
    const max = this.config.limits.mapCache;
    if (this.cache.size < max || this.cache.get(prefix)) return true;
    for (const gone of this.cache.expire()) {
      this.events.emit('entry-expired', { prefix: eidPrefixText(gone.prefix) });
      void this.dp.remove(gone.prefix, 'expired').catch((e: unknown) => this.fault('removing a mapping', e));
    }
    if (this.cache.size < max) return true;
    let victim: { prefix: EidPrefix; expiresAt: number } | undefined;
    for (const e of this.cache.entries()) if (e.value.kind === 'negative' && (!victim || e.expiresAt < victim.expiresAt)) victim = e;
    if (!victim) return false;
    this.cache.delete(victim.prefix);
    void this.dp.remove(victim.prefix, 'evicted').catch((e: unknown) => this.fault('removing a mapping', e));
    this.count('map-cache-evicted-negative');
    return true;
  }

  /** Whether `key` ("address/len") lies inside `prefix`. */
  private covers(prefix: EidPrefix, key: string): boolean {
    const slash = key.lastIndexOf('/');
    const address = key.slice(0, slash);
    const len = Number(key.slice(slash + 1));
    if (familyOf(address) !== prefix.afi || len < prefix.maskLen) return false;
    return prefixOf(prefix.iid, prefix.afi, address, prefix.maskLen).address === prefix.address;
  }

  private prefixFromKey(key: string): EidPrefix {
    const slash = key.lastIndexOf('/');
    const address = key.slice(0, slash);
    return prefixOf(this.config.instanceId, familyOf(address), address, Number(key.slice(slash + 1)));
  }

  /** Whether `prefix` overlaps one of our own EID prefixes. */
  private isOwn(prefix: EidPrefix): boolean {
    return this.config.eidPrefixes.some((e) => {
      const afi = e.prefix.family;
      if (afi !== prefix.afi) return false;
      const len = Math.min(e.prefix.length, prefix.maskLen);
      return prefixOf(prefix.iid, afi, e.prefix.address, len).address === prefixOf(prefix.iid, afi, prefix.address, len).address;
    });
  }

  count(what: string): void {
    this.counters[what] = (this.counters[what] ?? 0) + 1;
  }

  fault(where: string, e: unknown): void {
    this.count('faults');
    this.log.error(`error in ${where}`, { error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
  }
}

function prefixed(prefix: string, o: Readonly<Record<string, number>>): Record<string, number> {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [prefix + k, v]));
}
