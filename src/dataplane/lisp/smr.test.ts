import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeMessage, eidAddress, encodeMessage, type MapReply, type MappingRecord, type MapRequest } from '../../lisp/index.js';
import { parseEidPrefix } from '../../mapping/eid.js';
import { createLogger } from '../../util/log.js';
import { probeReply, SmrEndpoint, smrMessage, type SmrEvent, type SmrEndpointOptions } from './smr.js';

const log = createLogger({}, { level: 'warn' });

const open: SmrEndpoint[] = [];
afterEach(() => {
  for (const e of open.splice(0)) e.close();
});

async function endpoint(holdDownMs = 1000, holdDownEntries?: number, more: Partial<SmrEndpointOptions> = {}): Promise<{ ep: SmrEndpoint; port: number; events: SmrEvent[] }> {
  // a free port: SMRs go to the same port at every RLOC, so the endpoint solicits itself on loopback
  const probe = dgram.createSocket('udp4');
  const port = await new Promise<number>((r) => probe.bind(0, '127.0.0.1', () => r(probe.address().port)));
  probe.close();
  const ep = await SmrEndpoint.open({ listen: ['127.0.0.1'], port, holdDownMs, ...(holdDownEntries ? { holdDownEntries } : {}), ...more, log });
  open.push(ep);
  const events: SmrEvent[] = [];
  ep.onSmr((e) => events.push(e));
  return { ep, port, events };
}

const until = async (f: () => boolean) => {
  for (let i = 0; i < 100 && !f(); i++) await new Promise((r) => setTimeout(r, 10));
};

describe('Solicit-Map-Request', () => {
  it('is a Map-Request with the S bit, our EID as source, the peer prefix as record, our RLOC as ITR-RLOC', () => {
    const m = decodeMessage(encodeMessage(smrMessage('198.19.1.1', 0, '198.18.0.9', parseEidPrefix('198.19.2.0/24')))) as MapRequest;
    expect(m).toMatchObject({
      type: 'map-request',
      smr: true,
      smrInvoked: false,
      probe: false,
      sourceEid: { afi: 'ipv4', address: '198.19.1.1' },
      itrRlocs: [{ afi: 'ipv4', address: '198.18.0.9' }],
      records: [{ maskLen: 24, eid: { afi: 'ipv4', address: '198.19.2.0' } }],
    });
    const iid = decodeMessage(encodeMessage(smrMessage('2001:db8::1', 7, '198.18.0.9', parseEidPrefix('[7]2001:db8:2::/48')))) as MapRequest;
    expect(iid.sourceEid).toMatchObject({ afi: 'lcaf', lcaf: { type: 'instance-id', instanceId: 7 } });
  });

  it('reaches the peer, which passes the source EID on once per hold-down', async () => {
    const { ep, events } = await endpoint(200);
    const peers = [{ rloc: '127.0.0.1', prefix: parseEidPrefix('198.19.2.0/24') }];
    expect(ep.solicit(peers, '198.19.1.1', 0, '127.0.0.1')).toBe(1);
    await until(() => events.length === 1);
    expect(events).toEqual([expect.objectContaining({ eid: '198.19.1.1', instanceId: 0, from: expect.objectContaining({ address: '127.0.0.1' }) })]);
    ep.solicit(peers, '198.19.1.1', 0, '127.0.0.1'); // within the hold-down: counted, not passed on
    ep.solicit(peers, '198.19.9.9', 0, '127.0.0.1'); // another EID: passed on
    await until(() => ep.stats.received === 3);
    expect(events.map((e) => e.eid)).toEqual(['198.19.1.1', '198.19.9.9']);
    expect(ep.stats).toMatchObject({ received: 3, passed: 2, held: 1, sent: 3 });
    await new Promise((r) => setTimeout(r, 220));
    ep.solicit(peers, '198.19.1.1', 0, '127.0.0.1'); // after it: passed on again
    await until(() => events.length === 3);
    expect(events.length).toBe(3);
  });

  it('a full hold-down drops SMRs for new EIDs and keeps holding the others (no clearing that lets them all through)', async () => {
    const { ep, events } = await endpoint(10_000, 2);
    const peers = [{ rloc: '127.0.0.1', prefix: parseEidPrefix('198.19.2.0/24') }];
    for (const eid of ['198.19.1.1', '198.19.1.2', '198.19.1.3', '198.19.1.4', '198.19.1.1', '198.19.1.2']) ep.solicit(peers, eid, 0, '127.0.0.1');
    await until(() => ep.stats.received === 6);
    expect(events.map((e) => e.eid)).toEqual(['198.19.1.1', '198.19.1.2']);
    expect(ep.stats).toMatchObject({ received: 6, passed: 2, full: 2, held: 2 });
  });

  it('ignores what is not an SMR: garbage, a plain Map-Request', async () => {
    const { ep, port, events } = await endpoint();
    const s = dgram.createSocket('udp4');
    const plain = { ...smrMessage('198.19.1.1', 0, '127.0.0.1', parseEidPrefix('198.19.2.0/24')), smr: false };
    for (const m of [Buffer.from('not lisp'), encodeMessage(plain)]) s.send(m, port, '127.0.0.1');
    await until(() => ep.stats.ignored === 2);
    s.close();
    expect(ep.stats.ignored).toBe(2);
    expect(events).toEqual([]);
  });

  it('names the port when it is taken', async () => {
    const { port } = await endpoint();
    await expect(SmrEndpoint.open({ listen: ['127.0.0.1'], port, log })).rejects.toMatchObject({ code: 'CONTROL_PORT_IN_USE' });
  });
});

/** Our site as the agent registers it: 198.19.1.0/24 at one IPv4 and one IPv6 RLOC. */
const ours: MappingRecord = {
  ttl: 10,
  maskLen: 24,
  action: 0,
  authoritative: true,
  mapVersion: 0,
  eid: eidAddress('198.19.1.0'),
  locators: ['127.0.0.1', '2001:db8::1'].map((a) => ({ priority: 1, weight: 100, mPriority: 255, mWeight: 0, local: true, probed: false, reachable: true, address: a.includes(':') ? { afi: 'ipv6' as const, address: a } : { afi: 'ipv4' as const, address: a } })),
};

/** An RLOC probe as OOR sends it (tr_build_and_send_mreq_probe): no source EID, its RLOCs, the cached prefix. */
function probeMessage(prefix: string, nonce = 0x1122334455667788n, itr = ['127.0.0.1']): MapRequest {
  const p = parseEidPrefix(prefix);
  return {
    type: 'map-request',
    authoritative: false,
    mapDataPresent: false,
    probe: true,
    smr: false,
    pitr: false,
    smrInvoked: false,
    nonce,
    sourceEid: { afi: 'none' },
    itrRlocs: itr.map((a) => (a.includes(':') ? { afi: 'ipv6', address: a } : { afi: 'ipv4', address: a })),
    records: [{ maskLen: p.maskLen, eid: eidAddress(p.address, p.iid) }],
  };
}

describe('RLOC probes (RFC 9301 section 7.1)', () => {
  it('are answered with the P bit, the nonce, our record for the prefix asked and the probed locator marked', () => {
    const a = probeReply(probeMessage('198.19.1.0/24', 7n, ['2001:db8::9', '198.18.0.9']), [ours], 'ipv4');
    if (typeof a === 'string') throw new Error(a);
    const back = decodeMessage(encodeMessage(a)) as MapReply;
    expect(back).toMatchObject({ type: 'map-reply', probe: true, nonce: 7n, records: [{ maskLen: 24, eid: { afi: 'ipv4', address: '198.19.1.0' } }] });
    expect(back.records[0]!.locators.map((l) => [l.address, l.local, l.probed])).toEqual([
      [{ afi: 'ipv4', address: '127.0.0.1' }, true, true],
      [{ afi: 'ipv6', address: '2001:db8::1' }, true, false],
    ]);
    // a host EID inside our prefix gets the prefix's record
    expect(probeReply(probeMessage('198.19.1.7/32'), [ours], 'ipv4')).toMatchObject({ records: [{ maskLen: 24 }] });
  });

  it('are refused, by reason, for another prefix or several records', () => {
    expect(probeReply(probeMessage('198.19.2.0/24'), [ours], 'ipv4')).toBe('probe-unknown-eid');
    expect(probeReply(probeMessage('198.19.0.0/16'), [ours], 'ipv4')).toBe('probe-unknown-eid'); // wider than ours
    expect(probeReply(probeMessage('[5]198.19.1.0/24'), [ours], 'ipv4')).toBe('probe-unknown-eid'); // another instance
    const two = probeMessage('198.19.1.0/24');
    expect(probeReply({ ...two, records: [...two.records, ...two.records] }, [ours], 'ipv4')).toBe('probe-malformed');
  });

  it('a probe to the control port gets its reply at its UDP source, never at another ITR-RLOC it names; a flood is bounded and counted', async () => {
    const { ep, port, events } = await endpoint(1000, undefined, { records: () => [ours], probeRepliesPerSecond: 3 });
    const s = dgram.createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
    const replies: MapReply[] = [];
    s.on('message', (m) => replies.push(decodeMessage(m) as MapReply));
    // the ITR-RLOC names a third party: the reply still comes back to us
    for (let i = 0; i < 5; i++) s.send(encodeMessage(probeMessage('198.19.1.0/24', BigInt(100 + i), ['198.18.0.99'])), port, '127.0.0.1');
    s.send(encodeMessage(probeMessage('198.19.2.0/24')), port, '127.0.0.1');
    await until(() => ep.probeStats['probe-received'] === 6 && replies.length === 3);
    s.close();
    expect(replies.map((r) => [r.probe, r.nonce])).toEqual([
      [true, 100n],
      [true, 101n],
      [true, 102n],
    ]);
    expect(ep.probeStats).toMatchObject({ 'probe-received': 6, 'probe-answered': 3, 'probe-rate-limited': 3 });
    expect(events).toEqual([]); // a probe is no SMR
    expect(ep.stats.ignored).toBe(0);
  });
});
