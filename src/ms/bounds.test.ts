/**
 * The Map-Server's bounds over loopback: a flood from thousands of source addresses (127/8) is
 * capped by the strangers' bucket while a site is served; registrations are capped per site and
 * in all; a Map-Register with 255 records costs bounded work.
 */
import { siteRecord } from './testing/records.js';
import { MonotonicNonces } from '../lisp/nonce.js';
import { afterEach, describe, expect, it } from 'vitest';
import { MapServer } from './server.js';
import { parseConfig } from './config.js';
import { ControlClient } from '../control/client.js';
import { eidAddress, encodeMessage, signMessage } from '../lisp/index.js';
import { createLogger } from '../util/log.js';
import { floodFromSources } from './testing/hostile.js';
import dgram from 'node:dgram';

const quiet = createLogger({}, { level: 'error' });


const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function start(yaml: string): Promise<{ ms: MapServer; port: number }> {
  const ms = new MapServer(parseConfig(`listen: 127.0.0.1\nport: 0\n${yaml}`), { logger: quiet });
  const [ep] = await ms.start();
  cleanup.push(() => ms.close());
  return { ms, port: ep!.port };
}

async function client(port: number, key?: string, extra: Partial<Parameters<typeof ControlClient.open>[0]> = {}): Promise<ControlClient> {
  const c = await ControlClient.open({ mapServer: { address: '127.0.0.1', port }, localAddress: '127.0.0.1', ...(key ? { site: { key } } : {}), registerRetryMs: 100, requestTimeoutMs: 300, logger: quiet, ...extra });
  cleanup.push(() => c.close());
  return c;
}

/** A bare Map-Request for `eid` whose reply goes back to its sender. */
function mapRequest(source: string, eid: string, nonce: number): Buffer {
  return encodeMessage({
    type: 'map-request', authoritative: false, mapDataPresent: false, probe: false, smr: false, pitr: false, smrInvoked: false,
    nonce: BigInt(nonce), sourceEid: { afi: 'none' }, itrRlocs: [{ afi: 'ipv4', address: source }], records: [{ maskLen: 32, eid: eidAddress(eid) }],
  });
}

describe('MapServer bounds', () => {
  it('caps what a random-source flood gets served by the strangers\' bucket, and serves a site throughout', async () => {
    const STRANGERS = { rate: 2000, burst: 1000 };
    const { ms, port } = await start(`rate-limit: { rate: 1000, burst: 2000, table-size: 1024, strangers: { rate: ${STRANGERS.rate}, burst: ${STRANGERS.burst} } }
registration-ttl: 1h
sites:
  - { name: a, key: key-a, prefixes: [198.18.1.0/24] }`);
    const a = await client(port, 'key-a', { registerIntervalMs: 3_600_000 });
    await a.register([siteRecord('198.18.1.0', 24, '198.19.0.1')]);
    const before = { ...ms.counters.toJSON() };
    const snapBefore = ms.snapshot();
    const t0 = performance.now();
    // 10 000 source addresses, 10 Map-Requests each: the old limiter gave each a full burst (2000)
    const flooding = floodFromSources({ to: { address: '127.0.0.1', port }, base: '127.1.0.0', sources: 10_000, perSource: 10, pauseMs: 1, packet: (src, i) => mapRequest(src, '198.18.1.1', i) });
    let done = false;
    let sitePackets = 0;
    let resolves = 0;
    const failures: string[] = [];
    const site = (async () => {
      while (!done) {
        try {
          const r = await a.resolve('198.18.1.7', { retries: 5 });
          sitePackets += r.attempts;
          expect(r.records[0]!.locators[0]!.address).toEqual({ afi: 'ipv4', address: '198.19.0.1' });
          resolves++;
        } catch (e) {
          failures.push((e as Error).message);
        }
      }
    })();
    const flood = await flooding;
    done = true;
    await site;
    const seconds = (performance.now() - t0) / 1000;
    const c = ms.counters.toJSON();
    const d = (k: keyof typeof c) => c[k] - before[k];
    const strangersServed = d('rx-stranger');
    const cap = STRANGERS.burst + STRANGERS.rate * seconds;
    console.log(`random-source flood: ${flood.sent} packets from ${flood.sources} sources in ${flood.seconds.toFixed(2)} s; strangers served ${strangersServed} (cap ${Math.round(cap)}), dropped ${d('drop-rate-limited-strangers')} by the strangers' bucket; site: ${resolves} resolves in ${sitePackets} packets, ${failures.length} failures`);
    expect(flood.sent).toBe(100_000);
    expect(failures).toEqual([]);
    expect(resolves).toBeGreaterThan(2); // one process: the flood takes most of the event loop
    expect(d('drop-rate-limited-site')).toBe(0);
    expect(d('drop-rate-limited-strangers')).toBeGreaterThan(0);
    expect(strangersServed).toBeLessThanOrEqual(cap);
    expect(flood.replies).toBeLessThanOrEqual(strangersServed);
    // the tables stay within their bounds, and the flood changed no state
    const snap = ms.snapshot();
    expect(snap.rateLimiter.strangerSources).toBeLessThanOrEqual(1024);
    expect(snap.rateLimiter.siteSources).toBe(1);
    expect(snap.registrations).toEqual(snapBefore.registrations.map((r) => ({ ...r, ageSeconds: expect.any(Number), refreshedSecondsAgo: expect.any(Number), expiresInSeconds: expect.any(Number) })));
    expect(snap.subscriptions).toBe(snapBefore.subscriptions);
  }, 60_000);

  it('refuses registrations beyond the site\'s max-registrations and limits.registrations; refreshes always pass', async () => {
    const { ms, port } = await start(`rate-limit: { rate: 0 }
limits: { registrations: 5 }
static:
  - { prefix: 198.18.9.0/24, rlocs: [{ address: 198.19.0.9 }] }
sites:
  - { name: a, key: key-a, max-registrations: 2, prefixes: [{ prefix: 198.18.1.0/24, accept-more-specifics: true }] }
  - { name: b, key: key-b, prefixes: [{ prefix: 198.18.2.0/24, accept-more-specifics: true }] }`);
    const a = await client(port, 'key-a', { registerIntervalMs: 3_600_000 });
    const three = ['198.18.1.0', '198.18.1.64', '198.18.1.128'].map((e) => siteRecord(e, 26, '198.19.0.1'));
    expect((await a.register(three)).records).toBe(2); // the Map-Notify names what was stored
    expect(ms.counters.get('drop-site-quota')).toBe(1);
    expect(ms.registry.countOf('a')).toBe(2);
    // the same two again (a refresh, with the third still over): they pass
    expect((await a.register(three)).records).toBe(2);
    expect(ms.counters.get('registrations-refreshed')).toBe(2);
    // a deregistration frees a place
    await a.register([siteRecord('198.18.1.0', 26, '198.19.0.1', undefined, 0)]);
    expect(ms.registry.countOf('a')).toBe(1);
    expect((await a.register([siteRecord('198.18.1.64', 26, '198.19.0.1'), siteRecord('198.18.1.128', 26, '198.19.0.1')])).records).toBe(2);
    // the global limit: 1 static + 2 of a's; b gets 2 of its 4, the rest is refused
    const b = await client(port, 'key-b', { registerIntervalMs: 3_600_000 });
    const four = ['198.18.2.0', '198.18.2.64', '198.18.2.128', '198.18.2.192'].map((e) => siteRecord(e, 26, '198.19.0.2'));
    expect((await b.register(four)).records).toBe(2);
    expect(ms.counters.get('drop-global-limit')).toBe(2);
    expect(ms.registry.size).toBe(5);
    const snap = ms.snapshot();
    expect(snap.registrationLimit).toBe(5);
    expect(snap.sites.map((s) => [s.name, s.registrations, s.maxRegistrations])).toEqual([['a', 2, 2], ['b', 2, 1000]]);
  });

  it('bounds the work of a Map-Register with 255 records (prints the figure)', async () => {
    const { ms, port } = await start(`rate-limit: { rate: 0 }
sites:
  - { name: b, key: key-b, max-registrations: 100, prefixes: [{ prefix: 198.18.2.0/24, accept-more-specifics: true }] }`);
    const records = Array.from({ length: 255 }, (_, i) => siteRecord(`198.18.2.${i}`, 32, '198.19.0.2'));
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    cleanup.push(() => new Promise<void>((r) => sock.close(() => r())));
    const notified: Buffer[] = [];
    sock.on('message', (m) => notified.push(m));
    const nonces = new MonotonicNonces(); // fresh nonces: a plain site's Map-Registers are replay-checked
    for (let n = 0; n < 20; n++) {
      const bytes = signMessage({ type: 'map-register', proxyReply: true, security: false, rtr: false, wantMapNotify: true, nonce: nonces.next(), keyId: 1, authData: new Uint8Array(0), records }, 1, 'key-b');
      sock.send(bytes, port, '127.0.0.1');
      await new Promise((r) => setTimeout(r, 20));
    }
    const h = ms.histograms.mapRegister.summary();
    console.log(`Map-Register with 255 records (100 stored, then refreshed): median ${h.median} us, max ${h.max} us over ${h.count}`);
    expect(h.count).toBe(20);
    expect(ms.registry.countOf('b')).toBe(100);
    expect(ms.counters.get('drop-site-quota')).toBe(155 * 20);
    expect(notified).toHaveLength(20);
  });
});
