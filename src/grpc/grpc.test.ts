// The gRPC front and client on loopback: resolution (positive with the WireGuard key, negative),
// bad requests, and the push: a requester's mapping reaches the destination's Watch stream and the
// reply waits for its ack. Two callers are told apart by their address (::1 and 127.0.0.1), as
// control addresses tell agents apart in the tunnel.
import { afterEach, describe, expect, it } from 'vitest';
import { eidAddress, recordKey, wrapWireguardKey, type MappingRecord } from '../lisp/index.js';
import { MappingDatabase } from '../mapping/database.js';
import { parseEidPrefix } from '../mapping/eid.js';
import type { IpFamily } from '../ip/ip.js';
import { createLogger } from '../util/log.js';
import { GrpcControlClient } from './client.js';
import { mappingToRecord, recordToMapping } from './mapping.js';
import { GrpcMapResolver, peerAddress, type MappingSource } from './server.js';

const log = createLogger({}, { level: 'warn' });
const key = (b: number) => new Uint8Array(32).fill(b);

function record(prefix: string, rloc: string, k?: Uint8Array): MappingRecord {
  const p = parseEidPrefix(prefix);
  const eid = eidAddress(p.address, p.iid);
  return {
    ttl: 1440,
    maskLen: p.maskLen,
    action: 0,
    authoritative: false,
    mapVersion: 0,
    eid: k ? wrapWireguardKey(eid, k) : eid,
    locators: [{ priority: 1, weight: 100, mPriority: 255, mWeight: 0, local: false, probed: false, reachable: true, address: { afi: 'ipv4', address: rloc } }],
  };
}

/** A database of registrations, each with the control address it registered from. */
function source(entries: Array<[string, MappingRecord, string]>, pushWaitMs = 500): MappingSource {
  const db = new MappingDatabase<{ record: MappingRecord; controlAddress: string }>();
  for (const [p, r, c] of entries) db.set(parseEidPrefix(p), { record: r, controlAddress: c });
  return {
    lookup: (iid: number, afi: IpFamily, a: string) => db.lookupValue(iid, afi, a),
    negative: (iid: number, afi: IpFamily, a: string) => ({ ...record(`${a}/${afi === 'ipv4' ? 16 : 48}`, '0.0.0.0'), locators: [], action: 1, ttl: 15 }),
    pushWaitMs: () => pushWaitMs,
  };
}

const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function start(src: MappingSource) {
  const server = await GrpcMapResolver.start(src, { address: '::', port: 0, log });
  cleanup.push(() => server.close());
  const client = (address: string) => {
    const c = new GrpcControlClient({ server: { address, port: server.port }, log });
    cleanup.push(() => c.close());
    return c;
  };
  return { server, client };
}

describe('gRPC mapping conversion', () => {
  it('round-trips a record with a WireGuard key and a plain one', () => {
    for (const r of [record('198.19.2.0/24', '198.18.0.2', key(7)), record('[5]2001:db8:2::/48', '198.18.0.2')]) {
      const back = mappingToRecord(recordToMapping(r));
      expect(back).toEqual(r);
    }
  });

  it('reads addresses from the wire in the canonical text a Map-Reply decodes to', () => {
    const m = recordToMapping(record('2001:db8:2::/48', '198.18.0.2'));
    const back = mappingToRecord({ ...m, prefix: { ...m.prefix!, address: '2001:0DB8:2:0::' }, locators: [{ ...m.locators[0]!, address: '2001:DB8:0::2' }] });
    expect(back.eid).toEqual(record('2001:db8:2::/48', '198.18.0.2').eid);
    expect(back.locators.map((l) => l.address)).toEqual([{ afi: 'ipv6', address: '2001:db8::2' }]);
    expect(() => mappingToRecord({ ...m, prefix: { ...m.prefix!, address: '2001:db8::/48' } })).toThrow(/without a valid EID prefix/);
    expect(() => mappingToRecord({ ...m, locators: [{ ...m.locators[0]!, address: 'rloc' }] })).toThrow(/locator 'rloc' is not an IP address/);
  });

  it('reads peer addresses as grpc-js writes them', () => {
    expect(peerAddress('ipv4:100.100.0.2:4711')).toBe('100.100.0.2');
    expect(peerAddress('ipv6:[2001:db8::2]:4711')).toBe('2001:db8::2');
    expect(peerAddress('ipv6:[::ffff:127.0.0.1]:4711')).toBe('127.0.0.1');
    expect(peerAddress('::ffff:127.0.0.1:42438')).toBe('127.0.0.1');
    expect(peerAddress('::1:56200')).toBe('::1');
    expect(peerAddress('100.100.0.2:4711')).toBe('100.100.0.2');
  });
});

describe('GrpcMapResolver + GrpcControlClient', () => {
  it('resolves a mapping with its key, and a negative one', async () => {
    const { client } = await start(source([['198.19.2.0/24', record('198.19.2.0/24', '198.18.0.2', key(2)), '127.0.0.1']]));
    const c = client('127.0.0.1');
    await c.ready();
    const r = await c.resolve('198.19.2.9');
    expect(r.records).toHaveLength(1);
    expect(recordKey(r.records[0]!)).toEqual(key(2));
    expect(r.records[0]!.locators[0]!.address).toEqual({ afi: 'ipv4', address: '198.18.0.2' });
    expect(r.rttMs).toBeGreaterThan(0);
    const neg = await c.resolve('198.20.0.1');
    expect(neg.records[0]).toMatchObject({ locators: [], action: 1 });
    await expect(c.resolve('not-an-ip')).rejects.toMatchObject({ code: 'GRPC_RESOLVE', message: expect.stringContaining('not an IP address') });
  });

  it("pushes the requester's mapping to the destination's Watch stream before replying", async () => {
    // the requester (at ::1) owns 198.19.1.0/24; the destination (at 127.0.0.1) owns 198.19.2.0/24
    const src = source([
      ['198.19.1.0/24', record('198.19.1.0/24', '198.18.0.1', key(1)), '::1'],
      ['198.19.2.0/24', record('198.19.2.0/24', '198.18.0.2', key(2)), '127.0.0.1'],
    ]);
    const { server, client } = await start(src);
    const dest = client('127.0.0.1');
    const pushed: Array<{ record: MappingRecord; t: number }> = [];
    dest.watch(async (r) => {
      await new Promise((res) => setTimeout(res, 30)); // installing the peer
      pushed.push({ record: r, t: performance.now() });
    });
    await dest.ready();
    for (let i = 0; i < 50 && server.stats.watchers === 0; i++) await new Promise((r) => setTimeout(r, 10));
    const requester = client('::1');
    const r = await requester.resolve('198.19.2.1', { sourceEid: '198.19.1.1' });
    expect(pushed).toHaveLength(1);
    expect(recordKey(pushed[0]!.record)).toEqual(key(1)); // the requester's key reached the destination...
    expect(pushed[0]!.t).toBeLessThan(r.t); // ...and was installed before the requester got its reply
    expect(recordKey(r.records[0]!)).toEqual(key(2));
    expect(server.stats).toMatchObject({ pushes: 1, pushAcked: 1, pushTimedOut: 0 });

    // a caller naming an EID that is not its own pushes nothing
    await client('127.0.0.1').resolve('198.19.2.1', { sourceEid: '198.19.1.1' });
    expect(server.stats.pushes).toBe(1);
  });
});
