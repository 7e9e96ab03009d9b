/**
 * The Map-Server and the control client over loopback UDP, in one process: the protocol logic
 * (registration, push order, negative replies, subscriptions, withdrawal, expiry, reload).
 * The same behaviours run again between namespaces with the daemon as a process in
 * ms.integration.test.ts.
 */
import { siteRecord } from './testing/records.js';
import { afterEach, describe, expect, it } from 'vitest';
import { MapServer } from './server.js';
import { parseConfig, type MsConfig } from './config.js';
import { ControlClient, type MappingEvent, type WithdrawnEvent } from '../control/client.js';
import { Action, eidAddress, eidOf, recordKey, wrapWireguardKey, type MappingRecord } from '../lisp/index.js';
import { createLogger } from '../util/log.js';
import { formatEidPrefix } from '../mapping/eid.js';

const quiet = createLogger({}, { level: 'error' });
const KEY_A = Uint8Array.from({ length: 32 }, (_, i) => i + 1);
const KEY_B = Uint8Array.from({ length: 32 }, (_, i) => 100 + i);
const KEY_C = Uint8Array.from({ length: 32 }, (_, i) => 150 + i);


function config(extra = ''): MsConfig {
  return parseConfig(
    `listen: 127.0.0.1
port: 0
registration-ttl: 600ms # clients refresh every 0.2 s
rate-limit: { rate: 0 }
sites:
  - { name: a, key: key-a, prefixes: [198.18.1.0/24] }
  - { name: b, key: key-b, key-id: 2, prefixes: [{ prefix: 198.18.2.0/24, accept-more-specifics: true }] }
  - { name: c, key: key-c, prefixes: [198.18.3.0/24] }
${extra}`,
  );
}

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function start(c = config()): Promise<{ ms: MapServer; port: number }> {
  const ms = new MapServer(c, { logger: quiet });
  const [ep] = await ms.start();
  cleanup.push(() => ms.close());
  return { ms, port: ep!.port };
}

async function client(port: number, site?: { key: string; keyId?: 1 | 2 }): Promise<ControlClient> {
  const c = await ControlClient.open({ mapServer: { address: '127.0.0.1', port }, ...(site ? { site } : {}), registerRetryMs: 100, registerIntervalMs: 200, requestTimeoutMs: 300, logger: quiet });
  cleanup.push(() => c.close());
  return c;
}

const next = <T>(c: ControlClient, ev: 'mapping' | 'withdrawn') => new Promise<T>((r) => c.once(ev, r as (x: unknown) => void));

describe('MapServer over loopback', () => {
  it('registers, resolves with the key, and pushes the requester before replying', async () => {
    const { ms, port } = await start();
    const a = await client(port, { key: 'key-a' });
    const b = await client(port, { key: 'key-b', keyId: 2 });
    const reg = await a.register([siteRecord('198.18.1.0', 24, '198.19.0.1', KEY_A)]);
    expect(reg.records).toBe(1);
    await b.register([siteRecord('198.18.2.0', 24, '198.19.0.2', KEY_B)]);
    const pushed = next<MappingEvent>(a, 'mapping');
    const res = await b.resolve('198.18.1.7', { sourceEid: '198.18.2.9' });
    const push = await pushed;
    expect(res.records).toHaveLength(1);
    expect(recordKey(res.records[0]!)).toEqual(KEY_A);
    expect(res.records[0]!.locators[0]!.address).toEqual({ afi: 'ipv4', address: '198.19.0.1' });
    expect(formatEidPrefix(push.prefix)).toBe('198.18.2.0/24');
    expect(push.key).toEqual(KEY_B);
    expect(push.t).toBeLessThan(res.t); // the destination knew the requester's key first
    expect(ms.counters.get('pushes-acked')).toBe(1);
    expect(ms.histograms.mapRequestPushed.count).toBe(1);
    const snap = ms.snapshot();
    expect(snap.registrations.find((r) => r.prefix === '198.18.1.0/24')?.wireguardKey).toBe(Buffer.from(KEY_A).toString('base64'));
  });

  it('answers negative replies with the widest empty prefix and the right action', async () => {
    const { port } = await start();
    const a = await client(port, { key: 'key-a' });
    await a.register([siteRecord('198.18.1.0', 24, '198.19.0.1')]);
    const lig = await client(port);
    const outside = (await lig.resolve('10.1.2.3')).records[0]!;
    expect(outside.locators).toHaveLength(0);
    expect(outside.action).toBe(Action.NativelyForward);
    expect(outside.ttl).toBe(15);
    expect(outside.maskLen).toBe(1); // 0.0.0.0/1 holds no site
    const inSite = (await lig.resolve('198.18.3.9')).records[0]!;
    expect(inSite.action).toBe(Action.SendMapRequest);
    expect(inSite.ttl).toBe(1);
    expect(inSite.maskLen).toBe(24);
    expect(eidOf(inSite.eid)?.address).toBe('198.18.3.0');
    // inside site b's /24 (more-specifics allowed), beside a registered /26
    const b = await client(port, { key: 'key-b', keyId: 2 });
    await b.register([siteRecord('198.18.2.0', 26, '198.19.0.2')]);
    const beside = (await lig.resolve('198.18.2.200')).records[0]!;
    expect(beside.maskLen).toBe(25);
    expect(eidOf(beside.eid)?.address).toBe('198.18.2.128');
    const hit = (await lig.resolve('198.18.2.3')).records[0]!;
    expect(hit.maskLen).toBe(26);
  });

  it('refuses a wrong key and a foreign prefix, leaving the registration untouched', async () => {
    const { ms, port } = await start();
    const a = await client(port, { key: 'key-a' });
    await a.register([siteRecord('198.18.1.0', 24, '198.19.0.1', KEY_A)]);
    const before = JSON.stringify(ms.snapshot().registrations.map((r) => [r.prefix, r.rlocs, r.wireguardKey]));
    const evil = await ControlClient.open({ mapServer: { address: '127.0.0.1', port }, site: { key: 'not-key-a' }, registerRetryMs: 50, registerAttempts: 2, logger: quiet });
    cleanup.push(() => evil.close());
    await expect(evil.register([siteRecord('198.18.1.0', 24, '198.19.9.9', KEY_B)])).rejects.toThrow(/REGISTER_TIMEOUT|no Map-Notify/);
    // site a's key, its own prefix first, then one of site b's: only its own is stored
    const greedy = await client(port, { key: 'key-a' });
    await greedy.register([siteRecord('198.18.1.0', 24, '198.19.0.1', KEY_A), siteRecord('198.18.2.0', 24, '198.19.9.9')]);
    expect(ms.counters.get('drop-bad-hmac')).toBeGreaterThanOrEqual(2);
    expect(ms.counters.get('drop-prefix-not-allowed')).toBeGreaterThanOrEqual(1);
    expect(JSON.stringify(ms.snapshot().registrations.map((r) => [r.prefix, r.rlocs, r.wireguardKey]))).toBe(before);
  });

  it('tells subscribers about a new RLOC, a deregistration, an expiry and a revocation', async () => {
    const { ms, port } = await start();
    const a = await client(port, { key: 'key-a' });
    const b = await client(port, { key: 'key-b', keyId: 2 });
    await a.register([siteRecord('198.18.1.0', 24, '198.19.0.1', KEY_A)]);
    await b.register([siteRecord('198.18.2.0', 24, '198.19.0.2', KEY_B)]);
    await b.resolve('198.18.1.1', { sourceEid: '198.18.2.1' }); // b subscribes to a (and a to b)
    // a moves: b hears the new RLOC
    const moved = next<MappingEvent>(b, 'mapping');
    await a.register([siteRecord('198.18.1.0', 24, '198.19.0.11', KEY_A)]);
    expect((await moved).record.locators[0]!.address).toEqual({ afi: 'ipv4', address: '198.19.0.11' });
    // b deregisters: a hears the withdrawal with b's key revoked
    const gone = next<WithdrawnEvent>(a, 'withdrawn');
    await b.deregister();
    const w = await gone;
    expect(formatEidPrefix(w.prefix)).toBe('198.18.2.0/24');
    expect(w.key).toEqual(KEY_B);
    // a expires (no refresh: its client stops): nobody left subscribed who is registered, so
    // register c, subscribe it to a, then stop a's refreshes
    const c = await client(port, { key: 'key-c' });
    await c.register([siteRecord('198.18.3.0', 24, '198.19.0.3', KEY_C)]);
    await c.resolve('198.18.1.1', { sourceEid: '198.18.3.1' });
    const expired = next<WithdrawnEvent>(c, 'withdrawn');
    await a.close();
    expect(formatEidPrefix((await expired).prefix)).toBe('198.18.1.0/24');
    expect(ms.counters.get('registrations-expired')).toBeGreaterThanOrEqual(1);
  });

  it('when a site re-registers with a new key, pushes its subscribers back to it before telling them', async () => {
    const KEY_B2 = Uint8Array.from({ length: 32 }, (_, i) => 200 + i);
    const { ms, port } = await start();
    const a = await client(port, { key: 'key-a' });
    const b = await client(port, { key: 'key-b', keyId: 2 });
    await a.register([siteRecord('198.18.1.0', 24, '198.19.0.1', KEY_A)]);
    await b.register([siteRecord('198.18.2.0', 24, '198.19.0.2', KEY_B)]);
    const first = next<MappingEvent>(b, 'mapping');
    await a.resolve('198.18.2.1', { sourceEid: '198.18.1.1' }); // b gets a pushed; each subscribes to the other
    expect((await first).key).toEqual(KEY_A);
    expect(ms.counters.get('pushes-on-change')).toBe(0);
    // b's xTR restarts with a fresh key and no state (no deregistration), from a new port
    await b.close();
    const b2 = await client(port, { key: 'key-b', keyId: 2 });
    const seenByB2: MappingEvent[] = [];
    const seenByA: MappingEvent[] = [];
    b2.on('mapping', (e: MappingEvent) => seenByB2.push(e));
    a.on('mapping', (e: MappingEvent) => seenByA.push(e));
    const toA = next<MappingEvent>(a, 'mapping');
    await b2.register([siteRecord('198.18.2.0', 24, '198.19.0.2', KEY_B2)]);
    const told = await toA;
    expect(formatEidPrefix(told.prefix)).toBe('198.18.2.0/24');
    expect(told.key).toEqual(KEY_B2);
    expect(seenByB2).toHaveLength(1);
    expect(formatEidPrefix(seenByB2[0]!.prefix)).toBe('198.18.1.0/24');
    expect(seenByB2[0]!.key).toEqual(KEY_A);
    expect(seenByB2[0]!.record.locators[0]!.address).toEqual({ afi: 'ipv4', address: '198.19.0.1' });
    expect(seenByB2[0]!.t).toBeLessThan(told.t); // b2 held a's key before a learnt b2's
    expect(ms.counters.get('pushes-on-change')).toBe(1);
    expect(ms.counters.get('pushes-acked')).toBe(2);
    // refreshes (every 0.2 s) change nothing: no push, no notification
    await new Promise((r) => setTimeout(r, 500));
    expect(ms.counters.get('registrations-refreshed')).toBeGreaterThanOrEqual(2);
    expect(ms.counters.get('pushes-on-change')).toBe(1);
    expect(seenByB2).toHaveLength(1);
    expect(seenByA).toHaveLength(1);
    // a new RLOC (same key) is a change too: b2 gets a again
    const again = next<MappingEvent>(a, 'mapping');
    await b2.register([siteRecord('198.18.2.0', 24, '198.19.0.22', KEY_B2)]);
    expect((await again).record.locators[0]!.address).toEqual({ afi: 'ipv4', address: '198.19.0.22' });
    expect(seenByB2).toHaveLength(2);
    expect(ms.counters.get('pushes-on-change')).toBe(2);
  });

  it('withdraws a removed site at once on reload and tells its subscribers', async () => {
    const { ms, port } = await start();
    const a = await client(port, { key: 'key-a' });
    const c = await client(port, { key: 'key-c' });
    await a.register([siteRecord('198.18.1.0', 24, '198.19.0.1', KEY_A)]);
    await c.register([siteRecord('198.18.3.0', 24, '198.19.0.3', KEY_C)]);
    await c.resolve('198.18.1.1', { sourceEid: '198.18.3.1' });
    const revoked = next<WithdrawnEvent>(c, 'withdrawn');
    const next_ = parseConfig(`listen: 127.0.0.1
port: 0
registration-ttl: 600ms
sites:
  - { name: c, key: key-c, prefixes: [198.18.3.0/24] }`);
    expect(ms.reload(next_).withdrawn).toBe(1);
    const w = await revoked;
    expect(w.key).toEqual(KEY_A);
    const lig = await client(port);
    expect((await lig.resolve('198.18.1.1')).records[0]!.locators).toHaveLength(0);
  });

  it('serves static mappings (never expiring) and rate-limits per source', async () => {
    const key = Buffer.from(KEY_A).toString('base64');
    const c = parseConfig(`listen: 127.0.0.1
port: 0
rate-limit: { rate: 10, burst: 5 }
static:
  - { prefix: 198.18.9.0/24, key: "${key}", ttl: 30m, rlocs: [{ address: 198.19.0.9, priority: 2, weight: 50 }] }`);
    const { ms, port } = await start(c);
    const lig = await client(port);
    const r = (await lig.resolve('198.18.9.1')).records[0]!;
    expect(recordKey(r)).toBeUndefined(); // lig is no site's xTR: the mapping, not the key
    expect(r.ttl).toBe(30);
    expect(r.locators[0]).toMatchObject({ priority: 2, weight: 50, address: { afi: 'ipv4', address: '198.19.0.9' } });
    expect(ms.snapshot().registrations[0]!.expiresInSeconds).toBeNull();
    // 4 tokens left of the burst of 5: then the source is cut off
    const results = await Promise.allSettled(Array.from({ length: 10 }, () => lig.resolve('198.18.9.1', { retries: 0, timeoutMs: 200 })));
    expect(results.filter((x) => x.status === 'fulfilled')).toHaveLength(4);
    expect(ms.counters.get('drop-rate-limited-source')).toBe(6);
  });

  it('keeps instance IDs apart and serves IPv6 EIDs', async () => {
    const c = parseConfig(`listen: 127.0.0.1
port: 0
rate-limit: { rate: 0 }
sites:
  - { name: v5, key: k5, prefixes: ["[5]198.18.1.0/24"] }
  - { name: v6, key: k6, prefixes: ["[6]198.18.1.0/24", "[6]2001:db8:1::/48"] }`);
    const { port } = await start(c);
    const five = await client(port, { key: 'k5' });
    const six = await client(port, { key: 'k6' });
    // a WireGuard key is one site's: each virtual network's site has its own
    const rec = (eid: string, maskLen: number, rloc: string, iid: number): MappingRecord => ({ ...siteRecord(eid, maskLen, rloc), eid: wrapWireguardKey(eidAddress(eid, iid), iid === 5 ? KEY_A : KEY_B) });
    await five.register([rec('198.18.1.0', 24, '198.19.0.5', 5)]);
    await six.register([rec('198.18.1.0', 24, '198.19.0.6', 6), rec('2001:db8:1::', 48, '198.19.0.66', 6)]);
    const lig = await client(port);
    const at = async (eid: string, iid: number) => (await lig.resolve(eid, { iid })).records[0]!;
    expect((await at('198.18.1.1', 5)).locators[0]!.address).toEqual({ afi: 'ipv4', address: '198.19.0.5' });
    expect((await at('198.18.1.1', 6)).locators[0]!.address).toEqual({ afi: 'ipv4', address: '198.19.0.6' });
    expect(eidOf((await at('198.18.1.1', 6)).eid)?.instanceId).toBe(6);
    expect((await at('198.18.1.1', 7)).locators).toHaveLength(0); // no such virtual network
    const v6 = await at('2001:db8:1:2::3', 6);
    expect(v6.maskLen).toBe(48);
    expect(v6.locators[0]!.address).toEqual({ afi: 'ipv4', address: '198.19.0.66' });
    expect((await at('2001:db8:2::1', 6)).action).toBe(Action.NativelyForward);
    // a site cannot register into another instance
    await expect(
      ControlClient.open({ mapServer: { address: '127.0.0.1', port }, site: { key: 'k5' }, registerRetryMs: 50, registerAttempts: 2, logger: quiet }).then(async (c5) => {
        cleanup.push(() => c5.close());
        return c5.register([rec('198.18.1.0', 24, '198.19.9.9', 6)]);
      }),
    ).rejects.toThrow(/no Map-Notify/);
    expect((await at('198.18.1.1', 6)).locators[0]!.address).toEqual({ afi: 'ipv4', address: '198.19.0.6' });
  });

  it('sends a push from the address the destination registered through, and clears the L bit in proxy replies', async () => {
    // two listeners, as a Map-Server on the underlay and in its control tunnel: a push to a tunnel
    // xTR must leave from the tunnel address, or WireGuard (allowed-ips) would never deliver it
    const c: MsConfig = { ...config(), listen: ['127.0.0.1', '127.0.0.2'] };
    const ms = new MapServer(c, { logger: quiet });
    const [under, tunnel] = await ms.start();
    cleanup.push(() => ms.close());
    const open = async (port: number, address: string, key: string, keyId?: 1 | 2) => {
      const x = await ControlClient.open({ mapServer: { address, port }, site: { key, ...(keyId ? { keyId } : {}) }, registerRetryMs: 100, registerIntervalMs: 200, requestTimeoutMs: 300, logger: quiet });
      cleanup.push(() => x.close());
      return x;
    };
    const a = await open(tunnel!.port, '127.0.0.2', 'key-a');
    const b = await open(under!.port, '127.0.0.1', 'key-b', 2);
    await a.register([siteRecord('198.18.1.0', 24, '198.19.0.1', KEY_A)]);
    await b.register([siteRecord('198.18.2.0', 24, '198.19.0.2', KEY_B)]);
    const pushed = next<MappingEvent>(a, 'mapping');
    const res = await b.resolve('198.18.1.7', { sourceEid: '198.18.2.9' });
    expect((await pushed).from).toEqual({ address: '127.0.0.2', port: tunnel!.port });
    expect(ms.counters.get('pushes-acked')).toBe(1);
    // the registered locator had L set (its own xTR's); a proxy reply is not sent by that xTR
    expect(res.records[0]!.locators.map((l) => l.local)).toEqual([false]);
  });
});
