/**
 * What the control client acts on: only the Map-Server's address, only the configured key ID,
 * each push once (retransmissions acked again, replays refused), monotonic Map-Register nonces.
 * A fake Map-Server on loopback (a plain UDP socket) sends what the test wants.
 */
import dgram from 'node:dgram';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { decodeMessage, eidAddress, encodeMessage, signMessage, wrapWireguardKey, type MappingRecord } from '../lisp/index.js';
import { MonotonicNonces } from '../lisp/nonce.js';
import { createLogger } from '../util/log.js';
import { ControlClient, type MappingEvent } from './client.js';

const quiet = createLogger({}, { level: 'error' });
const SITE_KEY = 'site-secret';
const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  vi.useRealTimers();
  for (const f of cleanup.splice(0).reverse()) await f();
});

function record(eid: string, rloc: string): MappingRecord {
  return {
    ttl: 10,
    maskLen: 32,
    action: 0,
    authoritative: true,
    mapVersion: 0,
    eid: wrapWireguardKey(eidAddress(eid), Uint8Array.from({ length: 32 }, (_, i) => i + 7)),
    locators: [{ priority: 1, weight: 100, mPriority: 255, mWeight: 0, local: false, probed: false, reachable: true, address: { afi: 'ipv4', address: rloc } }],
  };
}

/** A UDP socket on `address` that records what it receives. */
async function udp(address: string): Promise<{ socket: dgram.Socket; port: number; received: Buffer[] }> {
  const socket = dgram.createSocket('udp4');
  const received: Buffer[] = [];
  socket.on('message', (m) => received.push(m));
  await new Promise<void>((r) => socket.bind(0, address, () => r()));
  cleanup.push(() => new Promise<void>((r) => socket.close(() => r())));
  return { socket, port: socket.address().port, received };
}

async function setUp(keyId: 1 | 2 = 1) {
  const ms = await udp('127.0.0.1');
  const client = await ControlClient.open({ mapServer: { address: '127.0.0.1', port: ms.port }, localAddress: '127.0.0.1', site: { key: SITE_KEY, keyId }, registerRetryMs: 100, logger: quiet });
  cleanup.push(() => client.close());
  const mappings: MappingEvent[] = [];
  client.on('mapping', (e) => mappings.push(e));
  const push = (nonce: bigint, eid = '198.18.100.2', o: { keyId?: 1 | 2; from?: dgram.Socket } = {}) => {
    const bytes = signMessage({ type: 'map-notify', nonce, keyId: o.keyId ?? keyId, authData: new Uint8Array(0), records: [record(eid, '198.18.2.2')] }, o.keyId ?? keyId, SITE_KEY);
    return new Promise<void>((r) => (o.from ?? ms.socket).send(bytes, client.local.port, '127.0.0.1', () => r()));
  };
  const acks = () => ms.received.map((b) => decodeMessage(b)).filter((m) => m.type === 'map-notify-ack').map((m) => m.nonce);
  return { ms, client, mappings, push, acks };
}

const settle = () => new Promise((r) => setTimeout(r, 30));

describe('control client: what it acts on', () => {
  it('ignores a correctly signed push and a Map-Reply that do not come from the Map-Server address', async () => {
    const { client, ms, mappings, push, acks } = await setUp();
    const other = await udp('127.0.0.2');
    const nonces = new MonotonicNonces();
    await push(nonces.next(), '198.18.100.2', { from: other.socket });
    await settle();
    expect(mappings).toEqual([]);
    expect(other.received).toEqual([]); // not even acked
    expect(client.drops['wrong-source']).toBe(1);
    // a Map-Reply for our pending request: from elsewhere dropped, from the Map-Server taken
    const resolving = client.resolve('198.18.100.3', { retries: 0, timeoutMs: 2000 });
    await settle();
    const req = decodeMessage(ms.received.at(-1)!);
    const nonce = req.type === 'ecm' && req.message.type === 'map-request' ? req.message.nonce : -1n;
    const reply = encodeMessage({ type: 'map-reply', probe: false, echoNonceCapable: false, security: false, nonce, records: [record('198.18.100.3', '198.18.2.3')] });
    other.socket.send(reply, client.local.port, '127.0.0.1');
    await settle();
    expect(client.drops['wrong-source']).toBe(2);
    ms.socket.send(reply, client.local.port, '127.0.0.1');
    expect((await resolving).records).toHaveLength(1);
    // the same push from the Map-Server is applied
    await push(nonces.next());
    await settle();
    expect(mappings).toHaveLength(1);
    expect(acks()).toHaveLength(1);
  });

  it('refuses a Map-Notify signed with a key ID other than the configured one', async () => {
    const { client, mappings, push, acks } = await setUp(2);
    const nonces = new MonotonicNonces();
    await push(nonces.next(), '198.18.100.2', { keyId: 1 }); // the right key, HMAC-SHA-1-96
    await settle();
    expect(mappings).toEqual([]);
    expect(acks()).toEqual([]);
    expect(client.drops['wrong-key-id']).toBe(1);
    await push(nonces.next(), '198.18.100.2', { keyId: 2 });
    await settle();
    expect(mappings).toHaveLength(1);
  });
});

describe('control client: pushes are applied once', () => {
  it('acks a retransmission again without applying it again; refuses the push replayed after 2 000 others', async () => {
    vi.useFakeTimers({ toFake: ['Date', 'performance'] });
    const { client, mappings, push, acks } = await setUp();
    const nonces = new MonotonicNonces();
    const first = nonces.next();
    await push(first, '198.18.100.2');
    await push(first, '198.18.100.2'); // the Map-Server did not get our Ack: it sends again
    await settle();
    expect(mappings).toHaveLength(1);
    expect(acks()).toEqual([first, first]);
    for (let i = 0; i < 2000; i++) {
      await push(nonces.next(), '198.18.100.9');
      if (i % 50 === 49) await settle(); // within the socket buffers
    }
    await settle();
    expect(mappings).toHaveLength(2001);
    // soon after: taken for a retransmission (acked, not applied); later: refused, not even acked
    await push(first, '198.18.100.2');
    await settle();
    expect(mappings).toHaveLength(2001);
    vi.advanceTimersByTime(31_000);
    await push(first, '198.18.100.2');
    await settle();
    expect(mappings).toHaveLength(2001);
    expect(client.drops.stale).toBe(1); // 2 000 behind the newest: beyond the window
    expect(acks().filter((n) => n === first)).toHaveLength(3);
  });

  it('accepts reordered pushes; refuses one seen before (after the retransmission time), one too old or from the future', async () => {
    vi.useFakeTimers({ toFake: ['Date', 'performance'] });
    const { client, mappings, push } = await setUp();
    const nonces = new MonotonicNonces();
    const [a, b, c] = [nonces.next(), nonces.next(), nonces.next()];
    await push(c);
    await push(a);
    await push(b);
    await settle();
    expect(mappings).toHaveLength(3);
    vi.advanceTimersByTime(31_000); // no longer a retransmission
    await push(b);
    await settle();
    expect(mappings).toHaveLength(3);
    expect(client.drops.replayed).toBe(1);
    const old = BigInt(Date.now() - 120_000) << 20n;
    const future = BigInt(Date.now() + 120_000) << 20n;
    await push(old);
    await push(future);
    await settle();
    expect(mappings).toHaveLength(3);
    expect(client.drops).toMatchObject({ stale: 1, future: 1 });
  });

  it('sends Map-Registers with growing nonces that carry the time', async () => {
    const { client, ms } = await setUp();
    void client.register([record('198.18.100.1', '198.18.1.2')]).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 350)); // the first Map-Register and two retransmissions
    const nonces = ms.received.map((b) => decodeMessage(b)).filter((m) => m.type === 'map-register').map((m) => m.nonce);
    expect(nonces.length).toBeGreaterThanOrEqual(2);
    for (let i = 1; i < nonces.length; i++) expect(nonces[i]!).toBeGreaterThan(nonces[i - 1]!);
    expect(Math.abs(Number(nonces[0]! >> 20n) - Date.now())).toBeLessThan(2000);
  });

  it('calls the Map-Server silent from the third unanswered Map-Register, with when the last one went; resendTo sends one more at once', async () => {
    const { client, ms } = await setUp();
    const silent: Array<{ at: number; sentAt: number }> = [];
    const sent: number[] = [];
    ms.socket.on('message', () => sent.push(Date.now()));
    client.on('silent', (e) => silent.push({ at: e.at, sentAt: e.sentAt }));
    void client.register([record('198.18.100.1', '198.18.1.2')]).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 250)); // sent at 0, 100 (retry 100 ms) and 300 ms
    expect(silent).toEqual([]); // two unanswered are not yet a sign (a move's first finds no route)
    await new Promise((r) => setTimeout(r, 100));
    expect(silent).toHaveLength(1);
    // the Map-Register it reports unanswered is the one of 100 ms, not the one sent right after
    expect(Math.abs(silent[0]!.sentAt - sent[1]!)).toBeLessThan(15);
    const before = ms.received.length;
    client.resendTo('127.0.0.1');
    client.resendTo('127.0.0.2'); // not a Map-Server of ours: nothing
    await settle();
    expect(ms.received.length).toBe(before + 1);
  });
});

describe('control client: several Map-Servers (replicas)', () => {
  async function replicas() {
    const a = await udp('127.0.0.1');
    const b = await udp('127.0.0.2');
    const client = await ControlClient.open({
      mapServer: { address: '127.0.0.1', port: a.port },
      replicas: [{ address: '127.0.0.2', port: b.port }],
      localAddress: '127.0.0.1',
      site: { key: SITE_KEY, keyId: 1 },
      registerRetryMs: 50,
      logger: quiet,
    });
    cleanup.push(() => client.close());
    const of = (m: { received: Buffer[] }, type: string) => m.received.map((x) => decodeMessage(x)).filter((x) => x.type === type);
    /** `from` answers every Map-Register it got with its Map-Notify. */
    const answer = (from: { socket: dgram.Socket; received: Buffer[] }) => {
      for (const r of of(from, 'map-register')) {
        const reg = r as { nonce: bigint; records: MappingRecord[] };
        const bytes = signMessage({ type: 'map-notify', nonce: reg.nonce, keyId: 1, authData: new Uint8Array(0), records: reg.records }, 1, SITE_KEY);
        from.socket.send(bytes, client.local.port, '127.0.0.1');
      }
    };
    return { a, b, client, of, answer };
  }

  it('registers with every Map-Server: answered by the first Map-Notify, and retried to the one that has not answered', async () => {
    const { a, b, client, of, answer } = await replicas();
    const registered = client.register([record('198.18.100.1', '198.18.1.2')]);
    await settle();
    expect(of(a, 'map-register')).toHaveLength(1);
    expect(of(b, 'map-register')).toHaveLength(1);
    answer(b); // a is down
    const ev = await registered;
    expect(ev.records).toBe(1);
    await new Promise((r) => setTimeout(r, 300)); // backoff 50, 100, 200 ms: a gets the retries, b nothing more
    expect(of(a, 'map-register').length).toBeGreaterThanOrEqual(3);
    expect(of(b, 'map-register')).toHaveLength(1);
    answer(a);
    await settle();
    const n = of(a, 'map-register').length;
    await new Promise((r) => setTimeout(r, 300));
    expect(of(a, 'map-register')).toHaveLength(n); // both answered: the round is over
    expect(client.mapServers.map((m) => m.lastNotifyAgoMs !== undefined)).toEqual([true, true]);
  });

  it('fails a Map-Request over to the next Map-Server after one timeout, then asks the one that answered first', async () => {
    const { a, b, client, of } = await replicas();
    const reply = (from: { socket: dgram.Socket }, nonce: bigint) =>
      from.socket.send(encodeMessage({ type: 'map-reply', probe: false, echoNonceCapable: false, security: false, nonce, records: [record('198.18.100.2', '198.18.2.2')] }), client.local.port, '127.0.0.1');
    const first = client.resolve('198.18.100.2', { timeoutMs: 80, retries: 2 });
    await new Promise((r) => setTimeout(r, 40));
    expect(of(a, 'ecm')).toHaveLength(1); // the first Map-Server first
    expect(of(b, 'ecm')).toHaveLength(0);
    await new Promise((r) => setTimeout(r, 80)); // a did not answer within the timeout: the retry goes to b
    const ecm = of(b, 'ecm');
    expect(ecm).toHaveLength(1);
    reply(b, (ecm[0] as { message: { nonce: bigint } }).message.nonce);
    const r = await first;
    expect(r.attempts).toBe(2);
    expect(client.mapServers.find((m) => m.preferred)!.address).toBe('127.0.0.2');
    const second = client.resolve('198.18.100.2', { timeoutMs: 80 });
    await settle();
    expect(of(b, 'ecm')).toHaveLength(2); // straight to b now
    expect(of(a, 'ecm')).toHaveLength(1);
    reply(b, (of(b, 'ecm')[1] as { message: { nonce: bigint } }).message.nonce);
    await second;
  });

  it("takes pushes from each Map-Server with that server's own replay window; still nothing from any other address", async () => {
    const { a, b, client } = await replicas();
    const mappings: MappingEvent[] = [];
    client.on('mapping', (e) => mappings.push(e));
    const stranger = await udp('127.0.0.3');
    const nonce = new MonotonicNonces().next();
    const push = (from: dgram.Socket, eid: string) =>
      new Promise<void>((r) => from.send(signMessage({ type: 'map-notify', nonce, keyId: 1, authData: new Uint8Array(0), records: [record(eid, '198.18.2.2')] }, 1, SITE_KEY), client.local.port, '127.0.0.1', () => r()));
    await push(a.socket, '198.18.100.2');
    await push(b.socket, '198.18.100.3'); // the same nonce from the other server's clock: its own push
    await push(stranger.socket, '198.18.100.4');
    await settle();
    expect(mappings.map((m) => m.from.address).sort()).toEqual(['127.0.0.1', '127.0.0.2']);
    expect(client.drops['wrong-source']).toBe(1);
  });

  it('refuses the same Map-Server listed twice', async () => {
    await expect(ControlClient.open({ mapServer: { address: '127.0.0.1', port: 4342 }, replicas: [{ address: '127.0.0.1' }], localAddress: '127.0.0.1', logger: quiet })).rejects.toThrow(/a Map-Server is listed twice/);
  });
});
