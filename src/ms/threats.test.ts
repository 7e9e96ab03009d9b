/**
 * The threat model on loopback, one test per point of the issue that does not need a tunnel:
 * what a sender that is no site's xTR (a stranger on the underlay), a site that speaks for
 * another site, and a replayed capture can change. Each case also shows the legitimate action
 * working, so the test fails if the refusal is a side effect of something broken.
 * The tunnel's part (a spoofed control address over the underlay) is in ms.integration.test.ts.
 */
import { siteRecord } from './testing/records.js';
import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { MapServer } from './server.js';
import { parseConfig, type MsConfig } from './config.js';
import { ControlClient, buildEcmMapRequest, type MappingEvent } from '../control/client.js';
import { Action, decodeMessage, encodeMessage, recordKey, signMessage, type MapReply } from '../lisp/index.js';
import { MonotonicNonces } from '../lisp/nonce.js';
import { createLogger } from '../util/log.js';

const quiet = createLogger({}, { level: 'error' });
const KEY_A = Uint8Array.from({ length: 32 }, (_, i) => i + 1);
const KEY_B = Uint8Array.from({ length: 32 }, (_, i) => 100 + i);
const MS = '127.0.0.1';
const A = '127.0.0.11';
const B = '127.0.0.12';
const STRANGER = '127.0.0.66';
const VICTIM = '127.0.0.77';


const SITES = `sites:
  - { name: a, key: key-a, prefixes: [198.18.1.0/24] }
  - { name: b, key: key-b, prefixes: [198.18.2.0/24] }`;

function config(text = SITES, extra = ''): MsConfig {
  return parseConfig(`listen: ${MS}\nport: 0\nrate-limit: { rate: 0 }\n${extra}\n${text}`);
}

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function start(c: MsConfig): Promise<{ ms: MapServer; port: number }> {
  const ms = new MapServer(c, { logger: quiet });
  const [ep] = await ms.start();
  cleanup.push(() => ms.close());
  return { ms, port: ep!.port };
}

async function client(port: number, localAddress: string, site?: { key: string }): Promise<ControlClient> {
  const c = await ControlClient.open({ mapServer: { address: MS, port }, localAddress, ...(site ? { site } : {}), registerRetryMs: 100, requestTimeoutMs: 300, requestRetries: 0, logger: quiet });
  cleanup.push(() => c.close());
  return c;
}

async function udp(address: string, port = 0): Promise<{ socket: dgram.Socket; port: number; got: Buffer[] }> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((r) => socket.bind(port, address, () => r()));
  const got: Buffer[] = [];
  socket.on('message', (m) => got.push(m));
  cleanup.push(() => new Promise<void>((r) => socket.close(() => r())));
  return { socket, port: socket.address().port, got };
}

const pushed = (c: ControlClient, ms: number) =>
  new Promise<MappingEvent | undefined>((resolve) => {
    const t = setTimeout(() => resolve(undefined), ms);
    c.once('mapping', (e) => {
      clearTimeout(t);
      resolve(e);
    });
  });

const settle = (ms = 100) => new Promise((r) => setTimeout(r, ms));

describe('the threat model on loopback', () => {
  it('1. a source EID is believed only from its own site: a stranger or another site gets no push and no subscription', async () => {
    const { ms, port } = await start(config());
    const a = await client(port, A, { key: 'key-a' });
    const b = await client(port, B, { key: 'key-b' });
    await a.register([siteRecord('198.18.1.0', 24, A, KEY_A)]);
    await b.register([siteRecord('198.18.2.0', 24, B, KEY_B)]);
    const stranger = await client(port, STRANGER);

    // a stranger names a's EID as its own: answered (public resolution), nothing pushed to b
    let push = pushed(b, 300);
    const r = await stranger.resolve('198.18.2.7', { sourceEid: '198.18.1.9' });
    expect(r.records[0]!.locators).toHaveLength(1);
    expect(recordKey(r.records[0]!)).toBeUndefined(); // a stranger learns the mapping, not the key
    expect(await push).toBeUndefined();
    expect(ms.snapshot().subscriptions).toBe(0);

    // site b names a's EID: b is answered with the key, a is not told about a "b-as-a" requester
    push = pushed(b, 300);
    const r2 = await b.resolve('198.18.1.7', { sourceEid: '198.18.1.9' });
    expect(recordKey(r2.records[0]!)).toEqual(KEY_A);
    expect(await push).toBeUndefined();
    expect(ms.counters.get('source-eid-not-senders')).toBe(1);
    expect(ms.snapshot().subscriptions).toBe(0);

    // b names its own EID: now a is pushed b's key (what the refusals above are not)
    const toA = pushed(a, 1000);
    await b.resolve('198.18.1.7', { sourceEid: '198.18.2.9' });
    expect((await toA)?.key).toEqual(KEY_B);
    expect(ms.snapshot().subscriptions).toBe(2);
    expect(ms.counters.get('rx-map-request-stranger')).toBe(1);
  });

  it('2. no reflection: a stranger\'s reply goes to its own address and is never longer than its request', async () => {
    const { ms, port } = await start(config());
    const a = await client(port, A, { key: 'key-a' });
    await a.register([siteRecord('198.18.1.0', 24, A, KEY_A)]);
    const attacker = await udp(STRANGER);
    // what the server sends back lands at the attacker's address on the inner port, which the
    // victim also listens on at its own address: the victim must get nothing, the attacker <= 1x
    const caught = await udp(STRANGER, 0);
    const victim = await udp(VICTIM, caught.port);
    let sent = 0;
    for (let i = 0; i < 100; i++) {
      // lig's request, with the victim as ITR-RLOC and the port as inner source port; 8 EIDs
      // (the most a request is answered for) to make the reply as large as it can be
      const { bytes } = buildEcmMapRequest('198.18.1.5', BigInt(i + 1), { itrRloc: VICTIM, port: victim.port, mapServer: MS });
      attacker.socket.send(withRecords(bytes, 8), port, MS);
      sent += withRecords(bytes, 8).length;
    }
    await settle(300);
    expect(ms.counters.get('tx-map-reply')).toBe(100);
    expect(victim.got).toHaveLength(0);
    const back = caught.got.reduce((n, b) => n + b.length, 0);
    expect(caught.got.length).toBe(100);
    expect(back).toBeLessThanOrEqual(sent);
    expect(recordKey((decodeMessage(caught.got[0]!) as MapReply).records[0]!)).toBeUndefined();

    // a site's xTR may not aim its reply at a third party either
    const { bytes } = buildEcmMapRequest('198.18.1.5', 7n, { itrRloc: VICTIM, port: victim.port, mapServer: MS });
    const siteSocket = await udp(A);
    siteSocket.socket.send(bytes, port, MS);
    await settle(100);
    expect(victim.got).toHaveLength(0);
    expect(ms.counters.get('itr-rloc-not-senders')).toBe(1);

    // and with public resolution off, a stranger gets nothing at all
    const closed = await start(config(SITES, 'public-resolution: false'));
    const before = attacker.got.length;
    attacker.socket.send(buildEcmMapRequest('198.18.1.5', 9n, { itrRloc: STRANGER, port: attacker.port, mapServer: MS }).bytes, closed.port, MS);
    await settle(100);
    expect(attacker.got.length).toBe(before);
    expect(closed.ms.counters.get('drop-not-a-site')).toBe(1);
  });

  it('3. nested prefixes: refused at load unless delegated; a registration around another site\'s prefix is refused', async () => {
    const nested = `sites:
  - { name: a, key: key-a, prefixes: [{ prefix: 198.18.0.0/16, accept-more-specifics: true }] }
  - { name: b, key: key-b, prefixes: [198.18.1.0/24] }`;
    expect(() => config(nested)).toThrow(/198\.18\.1\.0\/24 lies inside site 'a's 198\.18\.0\.0\/16.*delegated-by: a/);
    const delegated = nested.replace('prefixes: [198.18.1.0/24]', 'prefixes: [{ prefix: 198.18.1.0/24, delegated-by: a }]');
    const { ms, port } = await start(config(delegated));
    const a = await client(port, A, { key: 'key-a' });
    const b = await client(port, B, { key: 'key-b' });
    const lig = await client(port, STRANGER);
    // a registers its whole /16 and a /23 around b's /24 with an everlasting TTL
    await a.register([siteRecord('198.18.0.0', 16, A, KEY_A), siteRecord('198.18.0.0', 23, A, KEY_A, 0xffff)]);
    expect(ms.counters.get('drop-covers-other-site')).toBe(1);
    // b is not registered yet: its EIDs are not answered with a's mapping
    const before = (await lig.resolve('198.18.1.9')).records[0]!;
    expect(before.locators).toHaveLength(0);
    expect(before.action).toBe(Action.SendMapRequest);
    expect((await lig.resolve('198.18.7.9')).records[0]!.locators[0]!.address).toEqual({ afi: 'ipv4', address: A });
    await b.register([siteRecord('198.18.1.0', 24, B, KEY_B)]);
    expect((await lig.resolve('198.18.1.9')).records[0]!.locators[0]!.address).toEqual({ afi: 'ipv4', address: B });
  });

  it('4. a WireGuard key is one site\'s: listed twice refused at load, borrowed at registration refused', async () => {
    const k = Buffer.from(KEY_A).toString('base64');
    expect(() => config(`sites:
  - { name: a, key: key-a, prefixes: [198.18.1.0/24], wireguard-keys: ["${k}"] }
  - { name: b, key: key-b, prefixes: [198.18.2.0/24], wireguard-keys: ["${k}"] }`)).toThrow(/listed by site 'a' too/);
    const { ms, port } = await start(config());
    const a = await client(port, A, { key: 'key-a' });
    const b = await client(port, B, { key: 'key-b' });
    const lig = await client(port, STRANGER);
    await a.register([siteRecord('198.18.1.0', 24, A, KEY_A)]);
    // b registers its prefix with a's key (so that an agent holding a's peer would move it to b)
    await b.register([siteRecord('198.18.2.0', 24, B, KEY_A)]).catch(() => undefined);
    expect(ms.counters.get('drop-key-of-other-site')).toBeGreaterThanOrEqual(1);
    expect((await lig.resolve('198.18.2.1')).records[0]!.locators).toHaveLength(0);
    // a's registration is untouched, and b with its own key is fine
    expect(ms.snapshot().registrations.map((r) => [r.prefix, r.site])).toEqual([['198.18.1.0/24', 'a']]);
    await b.register([siteRecord('198.18.2.0', 24, B, KEY_B)]);
    expect((await lig.resolve('198.18.2.1')).records[0]!.locators[0]!.address).toEqual({ afi: 'ipv4', address: B });
  });

  it('5. replay: a captured Map-Register or deregistration of a plain site is refused, even by a restarted Map-Server', async () => {
    const c = config(`sites:
  - { name: a, key: key-a, prefixes: [198.18.1.0/24] }
  - { name: o, key: key-o, replay-protection: nonce-cache, prefixes: [198.18.3.0/24] }`);
    const { ms, port } = await start(c);
    const sock = await udp(A);
    const nonces = new MonotonicNonces();
    const reg = (rloc: string, ttl = 10, nonce = nonces.next(), site = 'a', eid = '198.18.1.0') =>
      signMessage({ type: 'map-register', proxyReply: true, security: false, rtr: false, wantMapNotify: true, nonce, keyId: 1, authData: new Uint8Array(0), records: [siteRecord(eid, 24, rloc, undefined, ttl)] }, 1, `key-${site}`);
    const send = async (bytes: Buffer) => {
      sock.socket.send(bytes, port, MS);
      await settle(50);
    };
    const rloc = () => ms.snapshot().registrations.find((r) => r.prefix === '198.18.1.0/24')?.rlocs[0]?.address;
    const old = reg('198.19.0.1');
    await send(old);
    expect(rloc()).toBe('198.19.0.1');
    await send(reg('198.19.0.2')); // the site moved
    const dereg = reg('198.19.0.2', 0);
    await send(dereg);
    expect(rloc()).toBeUndefined();
    await send(reg('198.19.0.3')); // and came back elsewhere
    await send(old);
    await send(dereg);
    expect(rloc()).toBe('198.19.0.3');
    expect(ms.counters.get('drop-replayed')).toBe(2);
    // a capture older than the replay window is refused by a Map-Server that never saw it
    const fresh = await start(c);
    const stale = reg('198.19.0.9', 10, BigInt(Date.now() - 120_000) << 20n);
    sock.socket.send(stale, fresh.port, MS);
    await settle(50);
    expect(fresh.ms.snapshot().registrationCount).toBe(0);
    expect(fresh.ms.counters.get('drop-stale-nonce')).toBe(1);
    // an OOR site (random nonces): the same nonce twice is a replay
    const oor = reg('198.19.0.4', 10, 0x1234_5678_9abc_def0n, 'o', '198.18.3.0');
    await send(oor);
    await send(reg('198.19.0.5', 10, 0x0fed_cba9_8765_4321n, 'o', '198.18.3.0'));
    await send(oor);
    expect(ms.snapshot().registrations.find((r) => r.prefix === '198.18.3.0/24')?.rlocs[0]?.address).toBe('198.19.0.5');
    expect(ms.counters.get('drop-replayed')).toBe(3);
  });
});

/** The same ECM Map-Request asking for its EID `n` times (re-encoded: the inner checksum follows). */
function withRecords(ecm: Buffer, n: number): Buffer {
  const m = decodeMessage(ecm);
  if (m.type !== 'ecm' || m.message.type !== 'map-request') throw new Error('not an ECM Map-Request');
  const req = m.message;
  return encodeMessage({ ...m, message: { ...req, records: Array.from({ length: n }, () => req.records[0]!) } });
}
