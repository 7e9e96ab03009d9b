/**
 * What a plain site (OOR: no control tunnel, no WireGuard key) gets from the Map-Server: plain
 * records (OOR 1.3 dies on the Security Key LCAF, type 11), and nothing it did not ask for (it
 * discards an unsolicited Map-Notify, so a reply must never wait for it to acknowledge a push).
 * The real OOR runs against the Map-Server in the lab's `kind: oor` tests.
 */
import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { MapServer } from './server.js';
import { parseConfig } from './config.js';
import { siteRecord } from './testing/records.js';
import { ControlClient } from '../control/client.js';
import { eidAddress, encodeMessage, recordKey, type MapRequest } from '../lisp/index.js';
import { createLogger } from '../util/log.js';

const quiet = createLogger({}, { level: 'error' });
const KEY_A = Uint8Array.from({ length: 32 }, (_, i) => i + 1);
const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

describe('a plain (OOR) site at the Map-Server', () => {
  it('gets plain records, is never pushed to, and never delays a reply', async () => {
    const ms = new MapServer(
      parseConfig(`listen: 127.0.0.1
port: 0
rate-limit: { rate: 0 }
push: { order: push-then-reply, wait: 300ms }
sites:
  - { name: a, key: key-a, prefixes: [198.18.1.0/24] }
  - { name: o, key: key-o, replay-protection: nonce-cache, prefixes: [198.18.3.0/24] }`),
      { logger: quiet },
    );
    const [ep] = await ms.start();
    cleanup.push(() => ms.close());
    const open = async (localAddress: string, key: string) => {
      const c = await ControlClient.open({ mapServer: { address: '127.0.0.1', port: ep!.port }, localAddress, site: { key }, registerRetryMs: 100, logger: quiet });
      cleanup.push(() => c.close());
      return c;
    };
    const a = await open('127.0.0.11', 'key-a');
    const o = await open('127.0.0.13', 'key-o');
    await a.register([siteRecord('198.18.1.0', 24, '127.0.0.11', KEY_A)]);
    await o.register([siteRecord('198.18.3.0', 24, '127.0.0.13')]);
    const notifies: unknown[] = [];
    o.on('map-notify', (n) => notifies.push(n));

    // OOR asks for the WireGuard site: the mapping, no Security Key LCAF
    const r = await o.resolve('198.18.1.9', { sourceEid: '198.18.3.9' });
    expect(r.records[0]!.locators[0]!.address).toEqual({ afi: 'ipv4', address: '127.0.0.11' });
    expect(recordKey(r.records[0]!)).toBeUndefined();
    // the WireGuard site asks for OOR's EID with its own as source: answered at once, OOR not pushed
    const t0 = performance.now();
    const toO = await a.resolve('198.18.3.9', { sourceEid: '198.18.1.9' });
    expect(performance.now() - t0).toBeLessThan(150); // push.wait is 300 ms
    expect(toO.records[0]!.locators[0]!.address).toEqual({ afi: 'ipv4', address: '127.0.0.13' });
    expect(ms.counters.get('push-wait-timeouts')).toBe(0);
    expect(ms.counters.get('no-push-plain-site')).toBe(1);
    // a's push about OOR (OOR asked first) did go to a, the WireGuard site, which acknowledges
    expect(ms.counters.get('pushes-acked')).toBe(1);
    await new Promise((res) => setTimeout(res, 100));
    expect(notifies).toHaveLength(0); // OOR heard no Map-Notify it did not ask for
  });
});

describe('an RLOC probe at the Map-Server', () => {
  it('is refused and counted, bare or encapsulated: the Map-Server is no xTR (the xTRs answer them)', async () => {
    const ms = new MapServer(parseConfig(`listen: 127.0.0.1\nport: 0\nrate-limit: { rate: 0 }\nsites:\n  - { name: o, key: key-o, replay-protection: nonce-cache, prefixes: [198.18.3.0/24] }`), { logger: quiet });
    const [ep] = await ms.start();
    cleanup.push(() => ms.close());
    const probe: MapRequest = {
      type: 'map-request', authoritative: false, mapDataPresent: false, probe: true, smr: false, pitr: false, smrInvoked: false, nonce: 5n,
      sourceEid: { afi: 'none' }, itrRlocs: [{ afi: 'ipv4', address: '127.0.0.1' }], records: [{ maskLen: 24, eid: eidAddress('198.18.3.0') }],
    };
    const s = dgram.createSocket('udp4');
    cleanup.push(() => new Promise((r) => s.close(() => r())));
    const got: Buffer[] = [];
    s.on('message', (m) => got.push(m));
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
    const ecm = encodeMessage({ type: 'ecm', security: false, ddt: false, inner: { source: '127.0.0.1', destination: '198.18.3.1', sourcePort: s.address().port, destinationPort: 4342, ttl: 64 }, message: probe });
    for (const b of [encodeMessage(probe), ecm]) s.send(b, ep!.port, '127.0.0.1');
    for (let i = 0; i < 50 && ms.counters.get('drop-unexpected-type') < 2; i++) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 50));
    expect(ms.counters.get('drop-unexpected-type')).toBe(2);
    expect(got).toHaveLength(0);
  });
});
