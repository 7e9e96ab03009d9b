import { afterAll, describe, expect, test } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from './decode.js';
import { encodeDataHeader, encodeMessage } from '../lisp/index.js';
import { ethernetUdpFrame, LinkType, pcapGlobalHeader, pcapRecord, writePcap } from '../pcap/pcap.js';
import { writeIpUdpHeaders } from '../lisp/ip.js';
import { sampleEcmV6, sampleMapReply, sampleMapRequest } from '../lisp/samples.js';

const dir = mkdtempSync(join(tmpdir(), 'lispwg-decode-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function decode(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (t) => (out += t), err: (t) => (err += t) });
  return { code, out, err };
}

function file(name: string, content: Uint8Array | string): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

const requestHex = encodeMessage(sampleMapRequest()).toString('hex');

/** An IPv4 packet (ICMP echo-like payload) behind a LISP data header with nonce and IID. */
function dataPayload(): Buffer {
  const inner = Buffer.alloc(28);
  inner.set([0x45, 0, 0, 28, 0, 0, 0, 0, 64, 1, 0, 0, 198, 18, 10, 1, 198, 18, 20, 1]);
  return Buffer.concat([encodeDataHeader({ nonce: 0xabcdef, instanceId: 7, echoNonce: false }), inner]);
}

describe('inputs', () => {
  test('a hex string, with spaces and 0x', async () => {
    const r = await decode('0x' + requestHex.slice(0, 24), requestHex.slice(24));
    expect(r.code).toBe(0);
    expect(r.out).toContain('Map-Request, nonce 0x0123456789abcdef');
    expect(r.out).toContain('EID record 1: 198.18.20.1/32');
  });

  test('--json: bigints as strings, WireGuard keys in base64', async () => {
    const r = await decode('--json', encodeMessage(sampleMapReply()).toString('hex'));
    const j = JSON.parse(r.out) as { message: { nonce: string; records: { eid: { lcaf: { keys: string[] } } }[] } };
    expect(j.message.nonce).toBe(BigInt('0x0123456789abcdef').toString());
    expect(j.message.records[0]!.eid.lcaf.keys[0]).toBe(Buffer.from(Array.from({ length: 32 }, (_, i) => i + 1)).toString('base64'));
  });

  test('a file of raw bytes, a file of hex text, --file', async () => {
    const raw = file('request.bin', encodeMessage(sampleEcmV6()));
    expect((await decode(raw)).out).toContain('inner [2001:db8:a::1]:4342 -> [2001:db8:b::1]:4342, TTL 255');
    expect((await decode('--file', file('request.hex', requestHex + '\n'))).out).toContain('Map-Request');
  });

  test('a malformed message: its code and offset, exit 1', async () => {
    const r = await decode(requestHex.slice(0, -4));
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/malformed 30-byte message: TRUNCATED: .* \(at byte 28\)/);
    const j = JSON.parse((await decode('--json', requestHex + '00')).out) as { error: { code: string; offset: number } };
    expect(j.error).toMatchObject({ code: 'TRAILING_BYTES', offset: 32 });
  });

  test('bad input says what is wrong', async () => {
    await expect(decode('xyz')).rejects.toThrow(/neither hex .* nor an existing file/);
    await expect(decode('abc')).rejects.toThrow(/neither hex/); // odd number of digits
    await expect(decode('--file', join(dir, 'missing.bin'))).rejects.toThrow(/cannot read .*missing\.bin/);
    await expect(decode(file('capture.pcapng', Buffer.from('0a0d0d0a00000000', 'hex')))).rejects.toThrow(/pcapng.*editcap/);
    await expect(decode('--bogus')).rejects.toThrow(/unknown option/);
    expect((await decode()).code).toBe(1);
  });
});

describe('pcap', () => {
  test('Ethernet: control (IPv4, IPv6), data plane, malformed, other UDP', async () => {
    const ok = encodeMessage(sampleMapRequest());
    const pcap = writePcap([
      { source: '198.18.0.1', destination: '198.18.0.2', sourcePort: 50000, destinationPort: 4342, payload: ok },
      { source: '2001:db8::1', destination: '2001:db8::2', sourcePort: 4342, destinationPort: 50001, payload: encodeMessage(sampleMapReply()) },
      { source: '198.18.0.1', destination: '198.18.0.2', sourcePort: 4341, destinationPort: 4341, payload: dataPayload() },
      { source: '198.18.0.1', destination: '198.18.0.2', sourcePort: 50000, destinationPort: 4342, payload: ok.subarray(0, 20) },
      { source: '198.18.0.1', destination: '198.18.0.2', sourcePort: 5353, destinationPort: 53, payload: Buffer.from('not lisp') },
      { source: '198.18.0.1', destination: '198.18.0.2', sourcePort: 50000, destinationPort: 4342, payload: ok },
    ]);
    const r = await decode(file('mixed.pcap', pcap));
    expect(r.code).toBe(0);
    expect(r.out).toContain('#1 0.000000 198.18.0.1:50000 -> 198.18.0.2:4342\n  Map-Request');
    expect(r.out).toContain('#2 0.001000 [2001:db8::1]:4342 -> [2001:db8::2]:50001\n  Map-Reply');
    expect(r.out).toContain('LISP data: nonce 0xabcdef, IID 7; inner IPv4 198.18.10.1 -> 198.18.20.1, protocol 1, 28 bytes');
    expect(r.out).toMatch(/#4 .*\n  malformed 20-byte message: TRUNCATED/);
    expect(r.out).toContain('#6 0.005000');
    expect(r.out).toContain('6 frames: 4 LISP control, 1 LISP data, 1 malformed, 1 other');
    const json = (await decode('--json', join(dir, 'mixed.pcap'))).out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(json.map((j) => j.frame)).toEqual([1, 2, 3, 4, 6]);
    expect(json[2]).toMatchObject({ dataHeader: { nonce: 0xabcdef, instanceId: 7 }, inner: { source: '198.18.10.1', protocol: 1 } });
    expect(json[3]).toMatchObject({ error: { code: 'TRUNCATED' } });
  });

  test('Linux cooked (v1 and v2), raw IP and BSD loopback captures', async () => {
    const payload = encodeMessage(sampleMapRequest());
    const ip = ethernetUdpFrame({ source: '198.18.0.1', destination: '198.18.0.2', sourcePort: 4342, destinationPort: 4342, payload }).subarray(14);
    const sll = Buffer.concat([Buffer.from('00000001000602000000000100000800', 'hex'), ip]);
    const sll2 = Buffer.concat([Buffer.from('0800000000000002000100000602000000000100', 'hex'), ip]);
    const loopback = Buffer.concat([Buffer.from('02000000', 'hex'), ip]);
    for (const [linkType, frame] of [
      [LinkType.LinuxSll, sll],
      [LinkType.LinuxSll2, sll2],
      [LinkType.Raw, ip],
      [LinkType.Null, loopback],
    ] as const) {
      const r = await decode(file(`link-${linkType}.pcap`, Buffer.concat([pcapGlobalHeader(linkType), pcapRecord(frame, 0)])));
      expect(r.out, `link type ${linkType}`).toContain('1 frame: 1 LISP control, 0 LISP data, 0 malformed, 0 other');
    }
  });

  test('an IPv6 packet behind a VLAN tag', async () => {
    const payload = encodeMessage(sampleMapRequest());
    const frame = Buffer.alloc(14 + 4 + 48 + payload.length);
    frame.writeUInt16BE(0x8100, 12);
    frame.writeUInt16BE(0x86dd, 16);
    payload.copy(frame, 18 + 48);
    writeIpUdpHeaders({ family: 'ipv6', source: '2001:db8::1', destination: '2001:db8::2', sourcePort: 4342, destinationPort: 4342, ttl: 64 }, frame, 18, payload.length);
    const r = await decode(file('vlan.pcap', Buffer.concat([pcapGlobalHeader(), pcapRecord(frame, 0)])));
    expect(r.out).toContain('[2001:db8::1]:4342 -> [2001:db8::2]:4342\n  Map-Request');
  });

  test('an unsupported link type is named', async () => {
    await expect(decode(file('usb.pcap', Buffer.concat([pcapGlobalHeader(189), pcapRecord(Buffer.alloc(10), 0)])))).rejects.toThrow(/link type 189 is not supported/);
  });
});
