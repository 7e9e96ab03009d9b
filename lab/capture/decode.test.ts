import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeDataHeader, encodeMessage } from '../../src/lisp/index.js';
import { LinkType, pcapGlobalHeader, pcapRecord, writePcap } from '../../src/pcap/pcap.js';
import { sampleMapRequest } from '../../src/lisp/samples.js';
import { decodeFrame } from './decode.js';
import { readPcap } from './pcap.js';

const dir = mkdtempSync(join(tmpdir(), 'lispwg-decode-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** An IPv4 header + payload (checksums are not verified by the reader). */
function ipv4(src: number[], dst: number[], proto: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(20);
  h[0] = 0x45;
  h.writeUInt16BE(20 + payload.length, 2);
  h[8] = 64;
  h[9] = proto;
  h.set(src, 12);
  h.set(dst, 16);
  return Buffer.concat([h, payload]);
}
const echo = (type: number, id: number, seq: number) => Buffer.from([type, 0, 0, 0, id >> 8, id & 255, seq >> 8, seq & 255, 1, 2, 3, 4]);
const eth = (ip: Buffer) => Buffer.concat([Buffer.from('020000000002020000000001', 'hex'), Buffer.from([0x08, 0x00]), ip]);
const udp = (sport: number, dport: number, payload: Buffer) => {
  const u = Buffer.alloc(8);
  u.writeUInt16BE(sport, 0);
  u.writeUInt16BE(dport, 2);
  u.writeUInt16BE(8 + payload.length, 4);
  return Buffer.concat([u, payload]);
};
const wg = (type: number, len: number) => {
  const b = Buffer.alloc(len);
  b[0] = type;
  b.writeUInt32LE(0x11223344, 4);
  return b;
};

describe('capture decoding', () => {
  it('decodes a LISP Map-Request written by src/lisp, through a pcap file and pcap-parser', async () => {
    const req = sampleMapRequest();
    const file = join(dir, 'lisp.pcap');
    const start = Date.UTC(2021, 6, 19);
    writeFileSync(file, writePcap([{ source: '100.100.0.2', destination: '100.100.0.1', sourcePort: 4342, destinationPort: 4342, payload: encodeMessage(req) }], start));
    const [ev] = await readPcap(file);
    expect(ev).toMatchObject({ kind: 'lisp-control', type: 1, name: 'Map-Request', src: '100.100.0.2', dst: '100.100.0.1', timeUs: start * 1000 });
    expect(ev!.kind === 'lisp-control' && ev!.message).toEqual(req);
  });

  it('decodes ICMP echo, WireGuard message types on any port, LISP data with its inner packet, plain UDP', async () => {
    const a = [198, 18, 0, 11];
    const b = [198, 18, 0, 12];
    const frames = [
      eth(ipv4(a, b, 1, echo(8, 77, 1))),
      eth(ipv4(b, a, 1, echo(0, 77, 1))),
      eth(ipv4(a, b, 17, udp(40000, 51821, wg(1, 148)))),
      eth(ipv4(b, a, 17, udp(51821, 40000, wg(2, 92)))),
      eth(ipv4(b, a, 17, udp(51821, 40000, wg(3, 64)))),
      eth(ipv4(a, b, 17, udp(40000, 51821, wg(4, 32 + 96)))),
      eth(ipv4(a, b, 17, udp(5000, 4341, Buffer.concat([encodeDataHeader({ nonce: 0xabcdef, instanceId: 7, echoNonce: false }), ipv4([198, 19, 1, 1], [198, 19, 2, 1], 1, echo(8, 5, 9))])))),
      eth(ipv4(a, b, 17, udp(5000, 5001, wg(4, 33)))),
    ];
    const file = join(dir, 'mixed.pcap');
    writeFileSync(file, Buffer.concat([pcapGlobalHeader(LinkType.Ethernet), ...frames.map((f, i) => pcapRecord(f, 1000 + i))]));
    const ev = await readPcap(file);
    expect(ev.map((e) => e.kind)).toEqual(['icmp', 'icmp', 'wireguard', 'wireguard', 'wireguard', 'wireguard', 'lisp-data', 'udp']);
    expect(ev[0]).toMatchObject({ type: 'echo-request', id: 77, seq: 1, src: '198.18.0.11', dst: '198.18.0.12', timeUs: 1_000_000 });
    expect(ev[1]).toMatchObject({ type: 'echo-reply', id: 77, seq: 1 });
    expect(ev.slice(2, 6).map((e) => (e.kind === 'wireguard' ? e.message : ''))).toEqual(['handshake-initiation', 'handshake-response', 'cookie-reply', 'transport']);
    const data = ev[6]!;
    expect(data.kind === 'lisp-data' && data.header).toMatchObject({ nonce: 0xabcdef, instanceId: 7 });
    expect(data.kind === 'lisp-data' && data.inner).toMatchObject({ kind: 'icmp', type: 'echo-request', src: '198.19.1.1', dst: '198.19.2.1', seq: 9 });
  });

  it('reads Linux cooked and raw-IP link types; odd frames become other, never a throw', () => {
    const ip = ipv4([198, 18, 0, 1], [198, 18, 0, 2], 1, echo(8, 1, 2));
    const sll = Buffer.concat([Buffer.alloc(14), Buffer.from([0x08, 0x00]), ip]);
    expect(decodeFrame(LinkType.LinuxSll, sll, 0)).toMatchObject({ kind: 'icmp', seq: 2 });
    expect(decodeFrame(LinkType.Raw, ip, 0)).toMatchObject({ kind: 'icmp', seq: 2 });
    for (const n of [0, 1, 10, 20, 25, 30]) expect(decodeFrame(LinkType.Ethernet, eth(ip).subarray(0, n), 0).kind).toMatch(/other|icmp/);
    expect(decodeFrame(LinkType.Ethernet, eth(ipv4([1, 1, 1, 1], [2, 2, 2, 2], 17, udp(4342, 4342, Buffer.from([0x10, 0])))), 0)).toMatchObject({ kind: 'lisp-control', name: 'Map-Request', decodeError: expect.any(String) });
  });

  it('names a file that is not pcap', async () => {
    const file = join(dir, 'not.pcap');
    writeFileSync(file, 'hello, this is not a capture at all');
    await expect(readPcap(file)).rejects.toThrow(/cannot read .*not\.pcap as pcap: unknown magic number/);
  });
});
