/**
 * The agent core's resolution state machine, with a fake data plane and a fake mapping source
 * implementing the real interfaces (no namespace, no socket) and fake timers.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Resolution } from '../control/client.js';
import { eidAddress, wrapWireguardKey, type MappingRecord } from '../lisp/index.js';
import type { EidPrefix } from '../mapping/eid.js';
import { createLogger } from '../util/log.js';
import { parseConfig, type AgentConfig } from './config.js';
import { AgentCore } from './core.js';
import { eidPrefixText as prefixText } from '../mapping/eid.js';
import { InstallRefused, type DataPlane, type DataPlaneHost, type Mapping } from './dataplane.js';
import { EventLog } from './events.js';
import type { MappingSource } from './mapping-source.js';
import type { LispStatusPart } from './show.js';
import type { Rloc } from './site.js';
import { MINIMAL_MN_YAML } from './testing/configs.js';

const RESOLVE = { firstTimeoutMs: 100, backoff: 2, maxTimeoutMs: 300, attempts: 4, negativeTtlMs: 5000 };

function config(limits: Partial<AgentConfig['limits']> = {}): AgentConfig {
  const c = parseConfig(MINIMAL_MN_YAML);
  return { ...c, timers: { ...c.timers, peerSilenceMs: 3000, refreshBeforeExpiryMs: 10_000, resolve: RESOLVE }, limits: { ...c.limits, ...limits } };
}

/** A record for `prefix` ("a.b.c.d/len") at `rloc`, with a WireGuard key unless `key` is null. */
function record(prefix: string, rloc: string, key: Uint8Array | null, ttlMin = 1): MappingRecord {
  const [address, len] = prefix.split('/') as [string, string];
  const eid = eidAddress(address, 0);
  return {
    ttl: ttlMin,
    maskLen: Number(len),
    action: 0,
    authoritative: true,
    mapVersion: 0,
    eid: key ? wrapWireguardKey(eid, key) : eid,
    locators: [{ priority: 1, weight: 100, mPriority: 255, mWeight: 0, local: false, probed: false, reachable: true, address: { afi: 'ipv4', address: rloc } }],
  };
}

interface Request {
  eid: string;
  at: number;
  answer(records: MappingRecord[]): void;
}

/** A mapping source whose Map-Requests the test answers (or not). */
class FakeSource implements MappingSource {
  readonly channel = 'lisp' as const;
  readonly drops = {};
  readonly requests: Request[] = [];
  readonly registered: MappingRecord[][] = [];
  async register(records: MappingRecord[]): Promise<void> {
    this.registered.push(records);
  }
  hurryRegistration(): void {}
  servers(): Array<{ address: string; preferred: boolean }> {
    return [{ address: '100.100.0.1', preferred: true }];
  }
  resolve(eid: string): Promise<Resolution> {
    return new Promise((resolve) => {
      const at = Date.now();
      this.requests.push({ eid, at, answer: (records) => resolve({ t: Date.now(), at: Date.now(), nonce: 1n, records, rttMs: Date.now() - at, elapsedMs: Date.now() - at, attempts: 1 }) });
    });
  }
  async close(): Promise<void> {}
  /** Requests for `eid` so far. */
  for(eid: string): Request[] {
    return this.requests.filter((r) => r.eid === eid);
  }
}

/** A data plane that records what the core asks of it. */
class FakeDataPlane implements DataPlane {
  readonly kind = 'lisp' as const;
  needsKey = true;
  readonly registrationKey = undefined;
  host!: DataPlaneHost;
  readonly installed = new Map<string, Mapping>();
  readonly negatives: string[] = [];
  readonly removed: Array<[string, string]> = [];
  readonly unresolvedCalls: string[] = [];
  /** lastActive answers, by prefix text. */
  readonly active = new Map<string, number>();
  async open(host: DataPlaneHost): Promise<void> {
    this.host = host;
  }
  /** Set: the next installs are refused so (the Installer's rules, install.test.ts). */
  refuse: InstallRefused | undefined;
  async install(m: Mapping, onReady?: () => void): Promise<void> {
    if (this.refuse) throw this.refuse;
    this.installed.set(m.text, m);
    onReady?.();
  }
  negative(prefix: EidPrefix): void {
    this.negatives.push(prefixText(prefix));
  }
  async remove(prefix: EidPrefix, why: string): Promise<void> {
    this.installed.delete(prefixText(prefix));
    this.removed.push([prefixText(prefix), why]);
  }
  async revokeKey(): Promise<string[]> {
    return [];
  }
  unresolved(dest: string): number {
    this.unresolvedCalls.push(dest);
    return 0;
  }
  lastActive(prefix: EidPrefix): number | undefined {
    return this.active.get(prefixText(prefix));
  }
  /** lastReceived answers, by prefix text. */
  readonly received = new Map<string, number>();
  lastReceived(prefix: EidPrefix): number | undefined {
    return this.received.get(prefixText(prefix));
  }
  readonly moves: string[][] = [];
  async moved(rlocs: readonly Rloc[]): Promise<void> {
    this.moves.push(rlocs.map((r) => r.address));
  }
  async upkeep(): Promise<void> {}
  async flush(): Promise<void> {}
  async status(): Promise<LispStatusPart> {
    return { dataPlane: 'lisp', interfaces: { tun: 'tun0', dataPort: 4341 }, buffer: { buffered: 0, destinations: 0, released: 0, dropped: {} }, counters: {} };
  }
  async close(): Promise<void> {}
}

describe('agent core: resolution', () => {
  let dp: FakeDataPlane;
  let source: FakeSource;
  let events: EventLog;
  let core: AgentCore;
  const B = '198.18.100.2';
  const KEY_B = randomBytes(32);

  beforeEach(async () => {
    vi.useFakeTimers();
    dp = new FakeDataPlane();
    source = new FakeSource();
    events = new EventLog(undefined);
    core = new AgentCore({ config: config(), log: createLogger({}, { level: 'error' }), events, dataPlane: dp, control: { control: 'ctl0', controlPublicKey: 'CPUB', controlBackend: 'kernel' }, now: () => Date.now() });
    await dp.open(core.host);
    core.start(source);
  });
  afterEach(async () => {
    await core.stop();
    vi.useRealTimers();
  });

  const cacheOf = async () => (await core.status()).mapCache.map((e) => [e.prefix, e.kind]);
  const eventsNamed = (name: string) => events.recent.filter((e) => e.event === name);

  it('keeps one request in flight per destination, retransmits with capped backoff, then gives up', async () => {
    const t0 = Date.now();
    for (let i = 0; i < 5; i++) dp.host.miss(B);
    expect(source.for(B)).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(2000);
    // waits 100, 200, 300 (capped): sends at 0, 100, 300, 600; gives up at 900
    expect(source.for(B).map((r) => r.at - t0)).toEqual([0, 100, 300, 600]);
    expect(eventsNamed('map-request-sent').map((e) => e.attempt)).toEqual([1, 2, 3, 4]);
    expect(eventsNamed('resolve-gave-up')).toMatchObject([{ eid: `${B}/32`, attempts: 4 }]);
    expect(dp.unresolvedCalls).toEqual([`${B}/32`]);
    expect(eventsNamed('miss')).toHaveLength(1);
    // after giving up, the next miss asks again
    dp.host.miss(B);
    expect(source.for(B)).toHaveLength(5);
  });

  it('takes a late answer to an earlier attempt, once, and stops retransmitting', async () => {
    dp.host.miss(B);
    await vi.advanceTimersByTimeAsync(150); // attempt 2 went out
    source.for(B)[0]!.answer([record(`${B}/32`, '198.18.2.2', KEY_B)]);
    source.for(B)[1]!.answer([record(`${B}/32`, '198.18.2.2', KEY_B)]);
    await vi.advanceTimersByTimeAsync(2000);
    expect(source.for(B)).toHaveLength(2);
    expect(eventsNamed('map-reply-received')).toHaveLength(1);
    expect([...dp.installed.keys()]).toEqual([`${B}/32`]);
    expect(dp.installed.get(`${B}/32`)).toMatchObject({ source: 'map-reply', locators: [{ address: '198.18.2.2' }] });
    expect(dp.installed.get(`${B}/32`)!.missAt).toBeDefined();
    expect(await cacheOf()).toEqual([[`${B}/32`, 'positive']]);
    // an installed destination is no miss
    expect(dp.host.lookup(B)).toMatchObject({ kind: 'positive' });
  });

  it('settles the narrower requests in flight with a covering answer', async () => {
    dp.host.miss('198.18.101.2');
    dp.host.miss('198.18.101.3');
    source.for('198.18.101.2')[0]!.answer([record('198.18.101.0/24', '198.18.2.2', KEY_B)]);
    await vi.advanceTimersByTimeAsync(1000);
    expect(source.requests).toHaveLength(2); // no retransmission for .3
    expect([...dp.installed.keys()]).toEqual(['198.18.101.0/24']);
    expect(dp.host.lookup('198.18.101.3')).toMatchObject({ kind: 'positive' });
  });

  it('caches a negative answer for its TTL: no request until it expires', async () => {
    dp.host.miss(B);
    source.for(B)[0]!.answer([]); // no record covers B
    await vi.advanceTimersByTimeAsync(0);
    expect(dp.negatives).toEqual([`${B}/32`]);
    expect(await cacheOf()).toEqual([[`${B}/32`, 'negative']]);
    expect(eventsNamed('negative-reply')).toMatchObject([{ prefix: `${B}/32`, ttlS: RESOLVE.negativeTtlMs / 1000 }]);
    // the data plane drops what hits a negative entry and asks nothing
    expect(dp.host.lookup(B)).toMatchObject({ kind: 'negative' });
    await vi.advanceTimersByTimeAsync(RESOLVE.negativeTtlMs + 1000);
    expect(await cacheOf()).toEqual([]);
    expect(dp.host.lookup(B)).toBeUndefined();
    dp.host.miss(B);
    expect(source.for(B)).toHaveLength(2);
  });

  it('makes an answer negative when its record cannot be used: no key, no locator, mask too long', async () => {
    const C = '198.18.100.3';
    const D = '198.18.100.4';
    const E = '198.18.100.5';
    for (const x of [C, D, E]) dp.host.miss(x);
    source.for(C)[0]!.answer([record(`${C}/32`, '198.18.2.3', null)]); // plain LISP record, data plane needs a key
    source.for(D)[0]!.answer([{ ...record(`${D}/32`, '198.18.2.4', KEY_B), locators: [] }]);
    source.for(E)[0]!.answer([{ ...record(`${E}/32`, '198.18.2.5', KEY_B), maskLen: 40 }]); // not an IPv4 prefix
    await vi.advanceTimersByTimeAsync(0);
    expect(dp.installed.size).toBe(0);
    expect(dp.negatives.sort()).toEqual([`${C}/32`, `${D}/32`, `${E}/32`]);
    const counters = (await core.status()).counters;
    expect(counters).toMatchObject({ 'reply-without-key': 1, 'reply-without-matching-record': 1, 'negative-replies': 3 });
  });

  it('installs a plain record when the data plane needs no key', async () => {
    dp.needsKey = false;
    dp.host.miss(B);
    source.for(B)[0]!.answer([record(`${B}/32`, '198.18.2.2', null)]);
    await vi.advanceTimersByTimeAsync(0);
    expect(dp.installed.get(`${B}/32`)?.key).toBeUndefined();
  });

  it('never installs a mapping for its own EID, nor outside the EID space', async () => {
    dp.host.miss(B);
    source.for(B)[0]!.answer([record('198.18.100.0/24', '198.18.2.2', KEY_B)]); // covers our 198.18.100.1
    expect(dp.host.miss('198.18.0.9')).toBe(false); // outside 198.18.64.0/18: not ours to resolve
    await vi.advanceTimersByTimeAsync(0);
    expect(dp.installed.size).toBe(0);
    expect(source.requests).toHaveLength(1);
    expect((await core.status()).counters).toMatchObject({ 'mapping-for-own-eid': 1, 'tun-outside-eid-space': 1 });
  });

  it('re-resolves an entry in use shortly before it expires; lets an unused one expire', async () => {
    const C = '198.18.100.3';
    dp.host.miss(B);
    dp.host.miss(C);
    source.for(B)[0]!.answer([record(`${B}/32`, '198.18.2.2', KEY_B, 1)]); // TTL 1 min
    source.for(C)[0]!.answer([record(`${C}/32`, '198.18.2.3', randomBytes(32), 1)]);
    await vi.advanceTimersByTimeAsync(0);
    expect(dp.installed.size).toBe(2);
    // B keeps carrying traffic; C does not
    const keepBusy = setInterval(() => dp.active.set(`${B}/32`, Date.now()), 500);
    await vi.advanceTimersByTimeAsync(45_000);
    expect(source.for(B)).toHaveLength(1); // not yet: 15 s left, the refresh starts 10 s before
    await vi.advanceTimersByTimeAsync(5_000);
    expect(source.for(B)).toHaveLength(1); // the window opened: traffic from before it does not count
    await vi.advanceTimersByTimeAsync(1_000); // B's next packet falls inside the window
    expect(source.for(B)).toHaveLength(2);
    expect(eventsNamed('entry-refresh')).toMatchObject([{ prefix: `${B}/32`, why: 'expiry' }]);
    source.for(B)[1]!.answer([record(`${B}/32`, '198.18.2.2', KEY_B, 1)]);
    await vi.advanceTimersByTimeAsync(10_000);
    clearInterval(keepBusy);
    expect(eventsNamed('entry-refresh')).toHaveLength(1); // the new TTL put the next refresh a minute later
    // C expired and was removed; B lives on with its new TTL, and its refresh was no miss
    expect(source.for(C)).toHaveLength(1);
    expect(dp.removed).toEqual([[`${C}/32`, 'expired']]);
    expect(eventsNamed('entry-expired')).toMatchObject([{ prefix: `${C}/32` }]);
    expect(await cacheOf()).toEqual([[`${B}/32`, 'positive']]);
    expect(dp.installed.get(`${B}/32`)!.missAt).toBeUndefined();
  });

  it('lets an entry expire whose traffic stopped before its refresh window (no Map-Request: it would make the Map-Server push to an idle destination)', async () => {
    dp.host.miss(B);
    source.for(B)[0]!.answer([record(`${B}/32`, '198.18.2.2', KEY_B, 1)]); // TTL 1 min, refresh window from 50 s
    await vi.advanceTimersByTimeAsync(1_000);
    dp.active.set(`${B}/32`, Date.now()); // a second of traffic after the install, then nothing
    await vi.advanceTimersByTimeAsync(61_000);
    expect(source.for(B)).toHaveLength(1);
    expect(eventsNamed('entry-refresh')).toEqual([]);
    expect(dp.removed).toEqual([[`${B}/32`, 'expired']]);
  });

  it('removes an idle mapping: the next packet is a miss again', async () => {
    dp.host.miss(B);
    source.for(B)[0]!.answer([record(`${B}/32`, '198.18.2.2', KEY_B, 10)]);
    await vi.advanceTimersByTimeAsync(0);
    await dp.host.idle([`${B}/32`]);
    expect(dp.removed).toEqual([[`${B}/32`, 'idle']]);
    expect(await cacheOf()).toEqual([]);
    expect(dp.host.lookup(B)).toBeUndefined();
    dp.host.miss(B);
    expect(source.for(B)).toHaveLength(2);
  });

  it('re-resolves the prefixes of a silent peer and tells the data plane why', async () => {
    dp.host.miss(B);
    source.for(B)[0]!.answer([record(`${B}/32`, '198.18.2.2', KEY_B, 10)]);
    await vi.advanceTimersByTimeAsync(0);
    dp.host.silent([`${B}/32`]);
    expect(source.for(B)).toHaveLength(2);
    source.for(B)[1]!.answer([record(`${B}/32`, '198.18.2.2', KEY_B, 10)]);
    await vi.advanceTimersByTimeAsync(0);
    expect(dp.installed.get(`${B}/32`)).toMatchObject({ silent: true, missAt: undefined });
  });

  it('acks a push once the data plane accepts its site, and a withdrawal removes what it covers', async () => {
    const from = { address: '100.100.0.1', port: 4342 };
    await core.sourceHooks.push([{ t: 0, at: 0, prefix: { iid: 0, afi: 'ipv4', address: B, maskLen: 32 }, record: record(`${B}/32`, '198.18.2.2', KEY_B, 10), key: KEY_B, from }]);
    expect(dp.installed.get(`${B}/32`)).toMatchObject({ source: 'map-notify' });
    await core.sourceHooks.push([{ t: 0, at: 0, prefix: { iid: 0, afi: 'ipv4', address: '198.18.100.0', maskLen: 24 }, key: undefined, from }]);
    expect(dp.removed).toEqual([[`${B}/32`, 'revoked']]);
    expect(await cacheOf()).toEqual([]);
  });

  it('reports the status of its data plane only: a plain LISP one has no WireGuard fields', async () => {
    const st = await core.status();
    expect(st).toMatchObject({ dataPlane: 'lisp', interfaces: { tun: 'tun0', dataPort: 4341, control: 'ctl0', controlPublicKey: 'CPUB' } });
    expect(st).not.toHaveProperty('peers');
    expect(st).not.toHaveProperty('wireguardBackend');
    expect(st.interfaces).not.toHaveProperty('publicKey');
  });

  it('registers with the data plane key at each RLOC change', async () => {
    core.setRlocs([{ interface: 'eth0', address: '198.18.1.2', priority: 1, weight: 100 }], 'start');
    await vi.advanceTimersByTimeAsync(0);
    core.setRlocs([{ interface: 'eth0', address: '198.18.1.2', priority: 1, weight: 100 }], 'address change'); // no change
    core.setRlocs([{ interface: 'eth0', address: '198.18.11.2', priority: 1, weight: 100 }], 'address change');
    await vi.advanceTimersByTimeAsync(0);
    expect(source.registered.map((r) => r[0]!.locators.map((l) => (l.address as { address: string }).address))).toEqual([['198.18.1.2'], ['198.18.11.2']]);
    expect(dp.moves).toEqual([['198.18.11.2']]); // the start was no move
  });

  /** B installed with a 1-minute TTL, carrying traffic both ways (every 500 ms) until `stop()`. */
  const liveTunnel = async () => {
    dp.host.miss(B);
    source.for(B).at(-1)!.answer([record(`${B}/32`, '198.18.2.2', KEY_B, 1)]);
    await vi.advanceTimersByTimeAsync(0);
    const t = setInterval(() => {
      dp.active.set(`${B}/32`, Date.now());
      dp.received.set(`${B}/32`, Date.now());
    }, 500);
    return { stop: () => clearInterval(t) };
  };
  const counter = async (name: string) => (await core.status()).counters[name] ?? 0;
  const negative = (action: number): MappingRecord => ({ ...record(`${B}/32`, '198.18.2.2', null, 1), action, locators: [] });

  /** Waits (100 ms steps, at most `ms`) for the next Map-Request for B and answers it at once. */
  const answerNext = async (records: MappingRecord[], ms = 40_000) => {
    const n = source.for(B).length;
    for (let waited = 0; source.for(B).length === n; waited += 100) {
      if (waited > ms) throw new Error('no new Map-Request for B');
      await vi.advanceTimersByTimeAsync(100);
    }
    source.for(B).at(-1)!.answer(records);
    await vi.advanceTimersByTimeAsync(0);
  };

  it('serves a live tunnel stale past its TTL while no Map-Server answers, asking again; an answer makes it fresh', async () => {
    const traffic = await liveTunnel();
    await vi.advanceTimersByTimeAsync(65_000); // refreshes from 50 s on went unanswered; the TTL ended at 60 s
    expect(dp.removed).toEqual([]);
    expect(dp.installed.has(`${B}/32`)).toBe(true);
    expect(eventsNamed('entry-stale')).toMatchObject([{ prefix: `${B}/32` }]);
    expect(await counter('served-stale')).toBe(1);
    const asked = source.for(B).length;
    await vi.advanceTimersByTimeAsync(60_000); // asked again every stale-refresh (30 s)
    expect(source.for(B).length).toBeGreaterThan(asked);
    expect(dp.installed.has(`${B}/32`)).toBe(true);
    // a Map-Server answers again: fresh for the record's TTL
    await answerNext([record(`${B}/32`, '198.18.2.2', KEY_B, 1)]);
    const entry = (await core.status()).mapCache.find((e) => e.prefix === `${B}/32`)!;
    expect(entry.expiresInS).toBeGreaterThan(55);
    expect(dp.removed).toEqual([]);
    traffic.stop();
  });

  it('lets a stale mapping go once its tunnel is quiet, and after max-stale however alive', async () => {
    const traffic = await liveTunnel();
    await vi.advanceTimersByTimeAsync(65_000);
    expect(dp.installed.has(`${B}/32`)).toBe(true);
    traffic.stop(); // the far end stops answering: a later stale round finds the tunnel quiet
    await vi.advanceTimersByTimeAsync(70_000);
    expect(dp.removed).toEqual([[`${B}/32`, 'expired']]);

    // alive throughout, but the Map-Server never comes back: gone max-stale (1 h) past the TTL
    dp.removed.length = 0;
    const t0 = Date.now();
    const again = await liveTunnel();
    await vi.advanceTimersByTimeAsync(60_000 + 3_600_000 - 35_000);
    expect(dp.installed.has(`${B}/32`)).toBe(true);
    await vi.advanceTimersByTimeAsync(70_000);
    expect(dp.removed).toEqual([[`${B}/32`, 'expired']]);
    expect(Date.now() - t0).toBeLessThan(60_000 + 3_600_000 + 40_000);
    again.stop();
  });

  it('a "send-map-request" negative answer (a Map-Server that lost its state) keeps a live tunnel; a drop one removes it', async () => {
    const traffic = await liveTunnel();
    await vi.advanceTimersByTimeAsync(49_000);
    await answerNext([negative(2)]); // the refresh at 50 s: "in a site, nothing registered"
    expect(dp.removed).toEqual([]);
    expect(await counter('negative-kept-live-tunnel')).toBe(1);
    await vi.advanceTimersByTimeAsync(15_000); // past the TTL: served stale
    expect(dp.installed.has(`${B}/32`)).toBe(true);
    await answerNext([negative(3)]); // drop: the mapping is withdrawn
    expect(dp.removed).toEqual([[`${B}/32`, 'negative-reply']]);
    traffic.stop();
  });
});

describe('agent core: refusals and limits', () => {
  let dp: FakeDataPlane;
  let source: FakeSource;
  let events: EventLog;
  let core: AgentCore;
  const KEY = randomBytes(32);
  const from = { address: '100.100.0.1', port: 4342 };

  async function setUp(limits: Partial<AgentConfig['limits']> = {}): Promise<void> {
    vi.useFakeTimers();
    dp = new FakeDataPlane();
    source = new FakeSource();
    events = new EventLog(undefined);
    core = new AgentCore({ config: config(limits), log: createLogger({}, { level: 'error' }), events, dataPlane: dp, control: { control: 'ctl0', controlPublicKey: 'CPUB', controlBackend: 'kernel' }, now: () => Date.now() });
    await dp.open(core.host);
    core.start(source);
  }
  afterEach(async () => {
    await core.stop();
    vi.useRealTimers();
  });
  const pushOf = (prefix: string, rloc: string, key: Uint8Array) => {
    const [address, len] = prefix.split('/') as [string, string];
    return { t: 0, at: 0, prefix: { iid: 0, afi: 'ipv4' as const, address, maskLen: Number(len) }, record: record(prefix, rloc, key, 10), key, from };
  };
  const counters = async () => (await core.status()).counters;

  it('a mapping the data plane refuses (a borrowed key) changes nothing, is counted and told, and the push is still acked', async () => {
    await setUp();
    await core.sourceHooks.push([pushOf('198.18.100.2/32', '198.18.2.2', KEY)]);
    dp.refuse = new InstallRefused('peer-key-conflict', 'borrowed');
    // the attacker's record for its own prefix with the victim's key, and one for the victim's prefix from elsewhere
    await core.sourceHooks.push([pushOf('198.18.101.0/24', '198.18.66.6', KEY), pushOf('198.18.100.2/32', '198.18.66.6', randomBytes(32))]);
    expect([...dp.installed.keys()]).toEqual(['198.18.100.2/32']);
    expect(dp.installed.get('198.18.100.2/32')!.locators[0]!.address).toBe('198.18.2.2');
    const st = await core.status();
    expect(st.mapCache.map((e) => [e.prefix, e.rlocs, e.publicKey])).toEqual([['198.18.100.2/32', ['198.18.2.2'], KEY.toString('base64')]]);
    expect(st.counters).toMatchObject({ 'peer-key-conflict': 2 });
    expect(st.counters.faults).toBeUndefined();
    expect(events.recent.filter((e) => e.event === 'mapping-refused')).toMatchObject([
      { prefix: '198.18.101.0/24', reason: 'peer-key-conflict', rloc: '198.18.66.6' },
      { prefix: '198.18.100.2/32', reason: 'peer-key-conflict' },
    ]);
  });

  it('starts at most limits.resolutions resolutions for misses: the next miss is refused and counted', async () => {
    await setUp({ resolutions: 2 });
    expect(dp.host.miss('198.18.100.2')).toBe(true);
    expect(dp.host.miss('198.18.100.3')).toBe(true);
    expect(dp.host.miss('198.18.100.4')).toBe(false);
    expect(source.requests.map((r) => r.eid)).toEqual(['198.18.100.2', '198.18.100.3']);
    expect(await counters()).toMatchObject({ 'limit-resolutions': 1, misses: 2 });
    source.for('198.18.100.2')[0]!.answer([record('198.18.100.2/32', '198.18.2.2', KEY)]);
    await vi.advanceTimersByTimeAsync(0);
    expect(dp.host.miss('198.18.100.4')).toBe(true); // one finished: room again
  });

  it('keeps at most limits.map-cache entries: negative ones make room, positive ones are never evicted', async () => {
    await setUp({ mapCache: 2 });
    for (const d of ['198.18.100.2', '198.18.100.3']) dp.host.miss(d);
    source.for('198.18.100.2')[0]!.answer([]);
    source.for('198.18.100.3')[0]!.answer([record('198.18.100.3/32', '198.18.2.3', KEY)]);
    await vi.advanceTimersByTimeAsync(0);
    // full (one negative, one positive): a new positive evicts the negative
    await core.sourceHooks.push([pushOf('198.18.100.4/32', '198.18.2.4', randomBytes(32))]);
    const cached = async () => (await core.status()).mapCache.map((e) => [e.prefix, e.kind]).sort();
    expect(await cached()).toEqual([['198.18.100.3/32', 'positive'], ['198.18.100.4/32', 'positive']]);
    expect(await counters()).toMatchObject({ 'map-cache-evicted-negative': 1 });
    // full of positives: a new positive and a new negative are refused, the held ones stay
    await core.sourceHooks.push([pushOf('198.18.100.5/32', '198.18.2.5', randomBytes(32))]);
    dp.host.miss('198.18.100.6');
    source.for('198.18.100.6')[0]!.answer([]);
    await vi.advanceTimersByTimeAsync(0);
    expect(await cached()).toEqual([['198.18.100.3/32', 'positive'], ['198.18.100.4/32', 'positive']]);
    expect([...dp.installed.keys()].sort()).toEqual(['198.18.100.3/32', '198.18.100.4/32']);
    expect(await counters()).toMatchObject({ 'limit-map-cache': 2 });
    // an update of a held entry is no new entry
    await core.sourceHooks.push([pushOf('198.18.100.4/32', '198.18.12.4', randomBytes(32))]);
    expect(dp.installed.get('198.18.100.4/32')!.locators[0]!.address).toBe('198.18.12.4');
  });
});
