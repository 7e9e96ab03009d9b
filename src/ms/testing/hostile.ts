/**
 * Hostile input for the Map-Server's robustness test: random bytes, truncated and bit-flipped
 * messages, Map-Registers for a victim's prefix signed with a wrong key (or none, or the wrong
 * length), forged Map-Notify-Acks, ECMs with broken inner headers, unexpected message types.
 * Deterministic for a seed. And a flood from many source addresses (every address of 127/8 is
 * local on Linux: a socket bound to each is a source a random-source attacker would spoof).
 * Test tooling, not part of the product.
 */
import { createHmac } from 'node:crypto';
import dgram from 'node:dgram';
import { eidAddress, encodeMessage, signMessage, type LispMessage, type MappingRecord } from '../../lisp/index.js';
import { rng } from '../../util/random.js';

export interface HostilePacket {
  kind: string;
  bytes: Buffer;
}

/**
 * `count` hostile packets aimed at `prefix`/`maskLen` (the victim's registration); Map-Requests
 * among them name `itrRloc` (the attacker itself) as where replies go. With `sourceEid` (another
 * site's EID), one packet in 20 is a well-formed ECM Map-Request for the victim's EID naming that
 * EID as its source: believed, it would push that site's key to the victim and subscribe both.
 */
export function* hostilePackets(count: number, o: { prefix: string; maskLen: number; seed: number; itrRloc: string; sourceEid?: string }): Generator<HostilePacket> {
  const r = rng(o.seed);
  const int = (n: number) => Math.floor(r() * n);
  const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => int(256)));
  const record = (rloc: string): MappingRecord => ({
    ttl: 1440,
    maskLen: o.maskLen,
    action: 0,
    authoritative: true,
    mapVersion: 0,
    eid: eidAddress(o.prefix),
    locators: [{ priority: 1, weight: 100, mPriority: 255, mWeight: 0, local: true, probed: false, reachable: true, address: { afi: 'ipv4', address: rloc } }],
  });
  const forged = (): Buffer =>
    signMessage(
      { type: 'map-register', proxyReply: true, security: false, rtr: false, wantMapNotify: true, nonce: BigInt(int(2 ** 32)), keyId: 1, authData: new Uint8Array(0), records: [record('198.18.0.66')] },
      1 + int(2) as 1 | 2,
      'not-the-site-key-' + int(1000),
    );
  const valid: LispMessage[] = [
    { type: 'map-request', authoritative: false, mapDataPresent: false, probe: false, smr: false, pitr: false, smrInvoked: false, nonce: 1n, sourceEid: eidAddress(o.prefix), itrRlocs: [{ afi: 'ipv4', address: o.itrRloc }], records: [{ maskLen: 32, eid: eidAddress(o.prefix) }] },
    { type: 'map-notify-ack', nonce: 7n, keyId: 1, authData: new Uint8Array(20), records: [record('198.18.0.66')] },
    { type: 'map-reply', probe: false, echoNonceCapable: false, security: false, nonce: 3n, records: [record('198.18.0.66')] },
    { type: 'map-notify', nonce: 9n, keyId: 1, authData: new Uint8Array(20), records: [record('198.18.0.66')] },
  ];
  const validBytes = [...valid.map((m) => encodeMessage(m)), forged()];
  for (let i = 0; i < count; i++) {
    switch (i % 10) {
      case 0:
        yield { kind: 'random', bytes: bytes(int(600)) };
        break;
      case 1: {
        const v = validBytes[int(validBytes.length)]!;
        yield { kind: 'truncated', bytes: Buffer.from(v.subarray(0, int(v.length))) };
        break;
      }
      case 2: {
        const v = Buffer.from(validBytes[int(validBytes.length)]!);
        for (let f = 1 + int(4); f > 0; f--) v[int(v.length)] ^= 1 << int(8);
        yield { kind: 'bit-flipped', bytes: v };
        break;
      }
      case 3:
      case 4:
        yield { kind: 'forged-register', bytes: forged() };
        break;
      case 5: {
        // the victim's prefix, key ID 0 / a wrong Authentication Data length
        const v = Buffer.from(forged());
        if (r() < 0.5) v.writeUInt16BE(0, 12);
        else v.writeUInt16BE(int(64), 14);
        yield { kind: 'bad-auth-field', bytes: v };
        break;
      }
      case 6: {
        // a Map-Notify-Ack with a random nonce and an HMAC of nothing in particular
        const ack = encodeMessage({ type: 'map-notify-ack', nonce: BigInt(int(2 ** 32)) << 16n, keyId: 1, authData: bytes(20), records: [record('198.18.0.66')] });
        yield { kind: 'forged-ack', bytes: ack };
        break;
      }
      case 7: {
        // an ECM whose inner header lies about its version or lengths
        const req = encodeMessage(valid[0]!);
        const ecm = Buffer.concat([Buffer.from([0x80, 0, 0, 0]), bytes(28), req]);
        ecm[4] = [0x45, 0x60, 0x00, 0x4f][int(4)]!;
        yield { kind: 'bad-ecm', bytes: ecm };
        break;
      }
      case 8:
        if (o.sourceEid && i % 20 === 8) {
          const message: LispMessage = { ...(valid[0] as Extract<LispMessage, { type: 'map-request' }>), nonce: BigInt(i + 1), sourceEid: eidAddress(o.sourceEid) };
          const inner = { source: o.itrRloc, destination: o.prefix, sourcePort: 4342, destinationPort: 4342, ttl: 64 };
          yield { kind: 'spoofed-source-eid', bytes: encodeMessage({ type: 'ecm', security: false, ddt: false, inner, message }) };
        } else yield { kind: 'unexpected-type', bytes: Buffer.from(validBytes[2 + int(2)]!) };
        break;
      default: {
        // a Map-Register header claiming 255 records, followed by junk, HMAC'd with a guess
        const v = Buffer.concat([Buffer.from([0x38, 0x00, 0x01, 0xff]), bytes(8), Buffer.from([0, 1, 0, 20]), Buffer.alloc(20), bytes(int(1200))]);
        createHmac('sha1', 'guess').update(v).digest().copy(v, 16);
        yield { kind: 'lying-register', bytes: v };
      }
    }
  }
}

export interface SourceFlood {
  sent: number;
  /** Datagrams that came back to the flooding sockets (replies to what the server served). */
  replies: number;
  sources: number;
  seconds: number;
}

/**
 * Sends `perSource` packets from each of `sources` IPv4 source addresses counted up from `base`
 * (e.g. 127.1.0.0), `concurrency` sockets at a time, each kept open a moment to hear replies
 * (source addresses are taken as given: on 127/8 up to 16 million).
 * `packet(source, i)` builds the i-th packet of a source (undefined: none).
 */
export async function floodFromSources(o: {
  to: { address: string; port: number };
  base: string;
  sources: number;
  perSource: number;
  packet: (source: string, i: number) => Uint8Array | undefined;
  concurrency?: number;
  /** Pause after each packet of every socket of a batch (default: one event-loop turn). */
  pauseMs?: number;
}): Promise<SourceFlood> {
  const base = o.base.split('.').reduce((n, x) => n * 256 + Number(x), 0);
  const address = (k: number) => [24, 16, 8, 0].map((sh) => ((base + k) >>> sh) & 255).join('.');
  const concurrency = o.concurrency ?? 256;
  let sent = 0;
  let replies = 0;
  const start = performance.now();
  for (let k0 = 0; k0 < o.sources; k0 += concurrency) {
    const batch: dgram.Socket[] = [];
    for (let k = k0; k < Math.min(o.sources, k0 + concurrency); k++) {
      const sock = dgram.createSocket('udp4');
      await new Promise<void>((r) => sock.bind(0, address(k), () => r()));
      sock.on('message', () => replies++);
      sock.on('error', () => undefined);
      batch.push(sock);
    }
    for (let i = 0; i < o.perSource; i++) {
      batch.forEach((sock, j) => {
        const bytes = o.packet(address(k0 + j), i);
        if (!bytes) return;
        sock.send(bytes, o.to.port, o.to.address);
        sent++;
      });
      // let the receiver drain its socket instead of the kernel dropping
      await new Promise((r) => (o.pauseMs ? setTimeout(r, o.pauseMs) : setImmediate(r)));
    }
    await new Promise((r) => setTimeout(r, 5));
    for (const sock of batch) sock.close();
  }
  return { sent, replies, sources: o.sources, seconds: (performance.now() - start) / 1000 };
}
