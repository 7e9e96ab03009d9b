/**
 * `lispwg decode`: prints the LISP messages in a hex string, a file of raw bytes, or a pcap
 * (UDP 4342 control messages; UDP 4341 data packets as their LISP header and inner IP header),
 * compactly like `tshark -V`: one block per message, records, locators and LCAFs nested, keys in
 * base64. `--json` prints one JSON object per message instead (bigints as strings, WireGuard keys
 * in base64, other bytes in hex). A malformed message prints its error code and offset; in a
 * pcap, decoding goes on with the next packet.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Readable } from 'node:stream';
import type { EventEmitter } from 'node:events';
import { LispwgError } from '../util/errors.js';
import {
  CIPHER_SUITE_EC25519_CHACHA20_POLY1305,
  decodeDataHeader,
  decodeMessage,
  eidOf,
  LispDecodeError,
  LISP_CONTROL_PORT,
  LISP_DATA_PORT,
  type Address,
  type DataHeader,
  type LispMessage,
  type Locator,
  type MappingRecord,
} from '../lisp/index.js';
import { readIpHeader } from '../lisp/ip.js';
import { knownLinkType, udpOfFrame, type CapturedUdp } from '../pcap/pcap.js';

const USAGE = `usage: lispwg decode [--json] <hex | file>
       lispwg decode [--json] --file <file>

Prints the LISP messages in:
  a hex string        e.g. 10000001...  (spaces, ':' and a leading 0x are ignored)
  a file of bytes     one control message (raw bytes, or hex text)
  a pcap file         every UDP packet to or from port ${LISP_CONTROL_PORT} (control) or ${LISP_DATA_PORT} (data plane);
                      Ethernet, Linux cooked (v1, v2) and raw IP captures, IPv4 and IPv6

options:
  --json          one JSON object per message (bigints as strings, keys base64, bytes hex)
  --file <file>   read this file (a path given alone works too)
  -h, --help      this help`;

export interface DecodeIo {
  out: (text: string) => void;
  err: (text: string) => void;
}

const stdio: DecodeIo = { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) };

// ---------------------------------------------------------------------------------------------
// Human-readable rendering

const KEY_IDS: Record<number, string> = { 0: 'none', 1: 'HMAC-SHA-1-96', 2: 'HMAC-SHA-256-128' };
const ACTIONS = ['no-action', 'natively-forward', 'send-map-request', 'drop'];
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');
const nonceHex = (n: bigint) => '0x' + n.toString(16).padStart(16, '0');
const flags = (pairs: [string, boolean][]) => pairs.filter(([, on]) => on).map(([name]) => name).join(' ') || 'none';
const endpoint = (address: string, port: number) => (address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`);

function addressLines(a: Address, indent: string): string[] {
  switch (a.afi) {
    case 'ipv4':
      return [`${indent}IPv4 ${a.address}`];
    case 'ipv6':
      return [`${indent}IPv6 ${a.address}`];
    case 'none':
      return [`${indent}(no address, AFI 0)`];
    case 'mac':
      return [`${indent}MAC ${a.address}`];
    case 'lcaf': {
      const l = a.lcaf;
      const inner = indent + '  ';
      switch (l.type) {
        case 'instance-id':
          return [`${indent}Instance ID LCAF: IID ${l.instanceId}, mask-len ${l.iidMaskLen}`, ...addressLines(l.address, inner)];
        case 'afi-list':
          return [`${indent}AFI List LCAF: ${l.addresses.length} addresses`, ...l.addresses.flatMap((x) => addressLines(x, inner))];
        case 'security-key': {
          const alg = l.algorithm === CIPHER_SUITE_EC25519_CHACHA20_POLY1305 ? ' (EC25519 + ChaCha20-Poly1305)' : '';
          return [
            `${indent}Security Key LCAF: algorithm ${l.algorithm}${alg}, ${l.keys.length} key${l.keys.length === 1 ? '' : 's'}${l.revoke ? ', REVOKED' : ''}`,
            ...l.keys.map((k, i) => `${inner}key ${i + 1}: ${b64(k)} (${k.length} bytes)`),
            ...addressLines(l.address, inner),
          ];
        }
        case 'unknown':
          return [`${indent}LCAF type ${l.lcafType} (not interpreted): flags 0x${l.flags.toString(16).padStart(2, '0')}, rsvd2 ${l.rsvd2}, ${l.body.length} bytes ${hex(l.body)}`];
      }
    }
  }
}

/** The EID prefix in one phrase: "[iid 7] 198.18.10.1/32", or its shape when not an IP. */
function eidText(a: Address, maskLen: number): string {
  const e = eidOf(a);
  if (!e) return a.afi === 'none' ? `(none)/${maskLen}` : `(${a.afi === 'lcaf' ? a.lcaf.type : a.afi})/${maskLen}`;
  return `${e.instanceId ? `[iid ${e.instanceId}] ` : ''}${e.address}/${maskLen}`;
}

function locatorLines(l: Locator, i: number, indent: string): string[] {
  const f = flags([
    ['L', l.local],
    ['p', l.probed],
    ['R', l.reachable],
  ]);
  const head = `${indent}locator ${i + 1}: priority ${l.priority}, weight ${l.weight}, M priority ${l.mPriority}, M weight ${l.mWeight}, flags ${f}`;
  const addr = addressLines(l.address, indent + '  ');
  return addr.length === 1 ? [`${head}, ${addr[0]!.trim()}`] : [head, ...addr];
}

function recordLines(r: MappingRecord, i: number, indent: string): string[] {
  const act = `ACT ${r.action} (${ACTIONS[r.action] ?? 'reserved'})`;
  const ttl = r.ttl === 0xffffffff ? 'TTL forever' : `TTL ${r.ttl} min`;
  return [
    `${indent}record ${i + 1}: ${eidText(r.eid, r.maskLen)}, ${ttl}, ${act}${r.authoritative ? ', authoritative' : ''}, map-version ${r.mapVersion}, ${r.locators.length} locator${r.locators.length === 1 ? '' : 's'}`,
    `${indent}  EID:`,
    ...addressLines(r.eid, indent + '    '),
    ...r.locators.flatMap((l, j) => locatorLines(l, j, indent + '  ')),
  ];
}

/** The lines describing a decoded message (no trailing newline). */
function describeMessage(m: LispMessage, indent = ''): string[] {
  const i2 = indent + '  ';
  switch (m.type) {
    case 'map-request':
      return [
        `${indent}Map-Request, nonce ${nonceHex(m.nonce)}, flags ${flags([
          ['A', m.authoritative],
          ['M', m.mapDataPresent],
          ['P', m.probe],
          ['S', m.smr],
          ['p', m.pitr],
          ['s', m.smrInvoked],
        ])}`,
        `${i2}source EID:`,
        ...addressLines(m.sourceEid, i2 + '  '),
        ...m.itrRlocs.flatMap((a, i) => [`${i2}ITR-RLOC ${i + 1}:`, ...addressLines(a, i2 + '  ')]),
        ...m.records.flatMap((r, i) => [`${i2}EID record ${i + 1}: ${eidText(r.eid, r.maskLen)}`, ...addressLines(r.eid, i2 + '  ')]),
        ...(m.mapReply ? [`${i2}Map-Reply record (M bit):`, ...recordLines(m.mapReply, 0, i2 + '  ')] : []),
      ];
    case 'map-reply':
      return [
        `${indent}Map-Reply, nonce ${nonceHex(m.nonce)}, flags ${flags([
          ['P', m.probe],
          ['E', m.echoNonceCapable],
          ['S', m.security],
        ])}, ${m.records.length} record${m.records.length === 1 ? '' : 's'}`,
        ...m.records.flatMap((r, i) => recordLines(r, i, i2)),
      ];
    case 'map-register':
    case 'map-notify':
    case 'map-notify-ack': {
      const name = { 'map-register': 'Map-Register', 'map-notify': 'Map-Notify', 'map-notify-ack': 'Map-Notify-Ack' }[m.type];
      const f =
        m.type === 'map-register'
          ? flags([
              ['P', m.proxyReply],
              ['S', m.security],
              ['I', m.xtrId !== undefined],
              ['R', m.rtr],
              ['M', m.wantMapNotify],
            ])
          : flags([['I', m.xtrId !== undefined]]);
      return [
        `${indent}${name}, nonce ${nonceHex(m.nonce)}, flags ${f}, ${m.records.length} record${m.records.length === 1 ? '' : 's'}`,
        `${i2}authentication: key ID ${m.keyId} (${KEY_IDS[m.keyId] ?? 'unknown'}), ${m.authData.length} bytes${m.authData.length ? ' ' + hex(m.authData) : ''}`,
        ...m.records.flatMap((r, i) => recordLines(r, i, i2)),
        ...(m.xtrId ? [`${i2}xTR-ID ${hex(m.xtrId)}, Site-ID ${m.siteId ?? 0n}`] : []),
      ];
    }
    case 'ecm':
      return [
        `${indent}Encapsulated Control Message, flags ${flags([
          ['S', m.security],
          ['D', m.ddt],
        ])}, inner ${endpoint(m.inner.source, m.inner.sourcePort)} -> ${endpoint(m.inner.destination, m.inner.destinationPort)}, TTL ${m.inner.ttl}`,
        ...describeMessage(m.message, i2),
      ];
  }
}

function describeDataHeader(h: DataHeader): string {
  const parts: string[] = [];
  if (h.nonce !== undefined) parts.push(`nonce 0x${h.nonce.toString(16).padStart(6, '0')}`);
  if (h.mapVersion) parts.push(`map-versions ${h.mapVersion.source}/${h.mapVersion.dest}`);
  if (h.instanceId !== undefined) parts.push(`IID ${h.instanceId}`);
  if (h.lsb !== undefined) parts.push(`LSBs 0x${h.lsb.toString(16)}`);
  if (h.echoNonce) parts.push('echo-nonce');
  return parts.join(', ') || 'no fields';
}

// ---------------------------------------------------------------------------------------------
// JSON rendering

/** A JSON-safe copy: bigint -> decimal string, Security Key keys -> base64, other bytes -> hex. */
function toJson(value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array) return hex(value);
  if (Array.isArray(value)) return value.map(toJson);
  if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(o)) {
      out[k] = o.type === 'security-key' && k === 'keys' && Array.isArray(v) ? v.map((x) => b64(x as Uint8Array)) : toJson(v);
    }
    return out;
  }
  return value;
}

function errorJson(e: LispDecodeError): Record<string, unknown> {
  return { code: e.code, offset: e.offset, message: e.message };
}

// ---------------------------------------------------------------------------------------------
// Inputs

/** Bytes from hex text (whitespace, ':' separators and a leading 0x ignored), or undefined. */
function parseHex(text: string): Uint8Array | undefined {
  const t = text.trim().replace(/^0x/i, '').replace(/[\s:]/g, '');
  if (t.length === 0 || t.length % 2 !== 0 || !/^[0-9a-fA-F]+$/.test(t)) return undefined;
  return Buffer.from(t, 'hex');
}

const PCAP_MAGICS = new Set(['a1b2c3d4', 'd4c3b2a1']);
const PCAP_NS_MAGICS = new Set(['a1b23c4d', '4d3cb2a1']);
const PCAPNG_MAGIC = '0a0d0d0a';

interface PcapPacket {
  header: { timestampSeconds: number; timestampMicroseconds: number; capturedLength: number; originalLength: number };
  data: Buffer;
}

interface PcapParser {
  parse(input: string | NodeJS.ReadableStream): EventEmitter;
}

function decodeOne(bytes: Uint8Array, json: boolean, io: DecodeIo, context: Record<string, unknown> = {}, indent = ''): boolean {
  try {
    const m = decodeMessage(bytes);
    if (json) io.out(JSON.stringify({ ...context, length: bytes.length, message: toJson(m) }) + '\n');
    else io.out(describeMessage(m, indent).join('\n') + '\n');
    return true;
  } catch (e) {
    if (!(e instanceof LispDecodeError)) throw e;
    if (json) io.out(JSON.stringify({ ...context, length: bytes.length, error: errorJson(e) }) + '\n');
    else io.out(`${indent}malformed ${bytes.length}-byte message: ${e.code}: ${e.message}\n`);
    return false;
  }
}

function decodeData(payload: Uint8Array, json: boolean, io: DecodeIo, context: Record<string, unknown>, indent: string): boolean {
  try {
    const h = decodeDataHeader(payload);
    const ip = readIpHeader(payload, 8, payload.length);
    const inner = { family: ip.family, source: ip.source, destination: ip.destination, protocol: ip.protocol, length: payload.length - 8 };
    if (json) io.out(JSON.stringify({ ...context, length: payload.length, dataHeader: h, inner }) + '\n');
    else io.out(`${indent}LISP data: ${describeDataHeader(h)}; inner ${ip.family === 'ipv4' ? 'IPv4' : 'IPv6'} ${ip.source} -> ${ip.destination}, protocol ${ip.protocol}, ${inner.length} bytes\n`);
    return true;
  } catch (e) {
    if (!(e instanceof LispDecodeError)) throw e;
    if (json) io.out(JSON.stringify({ ...context, length: payload.length, error: errorJson(e) }) + '\n');
    else io.out(`${indent}malformed LISP data packet: ${e.code}: ${e.message}\n`);
    return false;
  }
}

async function decodePcap(file: Buffer, path: string, json: boolean, io: DecodeIo): Promise<number> {
  const pcapParser = createRequire(import.meta.url)('pcap-parser') as PcapParser;
  const parser = pcapParser.parse(Readable.from([file]));
  let linkType = -1;
  let first: number | undefined;
  let frame = 0;
  const counts = { control: 0, data: 0, malformed: 0, other: 0 };
  await new Promise<void>((resolve, reject) => {
    let settled = false;
    parser.on('globalHeader', (h: { linkLayerType: number }) => {
      linkType = h.linkLayerType;
      if (!knownLinkType(linkType)) {
        settled = true;
        reject(new LispwgError('PCAP_LINK_TYPE', `${path}: link type ${linkType} is not supported (Ethernet, Linux cooked v1/v2, raw IP, BSD loopback)`));
      }
    });
    parser.on('packet', (p: PcapPacket) => {
      if (settled) return;
      frame++;
      const t = p.header.timestampSeconds + p.header.timestampMicroseconds / 1e6;
      first ??= t;
      let udp: CapturedUdp | undefined;
      try {
        udp = udpOfFrame(linkType, p.data);
      } catch (e) {
        if (!(e instanceof LispDecodeError)) throw e;
        udp = undefined;
      }
      const control = udp && (udp.destinationPort === LISP_CONTROL_PORT || udp.sourcePort === LISP_CONTROL_PORT);
      const data = udp && !control && (udp.destinationPort === LISP_DATA_PORT || udp.sourcePort === LISP_DATA_PORT);
      if (!udp || (!control && !data)) {
        counts.other++;
        return;
      }
      const context = {
        frame,
        time: Number((t - first).toFixed(6)),
        source: udp.ip.source,
        sourcePort: udp.sourcePort,
        destination: udp.ip.destination,
        destinationPort: udp.destinationPort,
        ...(p.header.capturedLength < p.header.originalLength ? { capturedLength: p.header.capturedLength, originalLength: p.header.originalLength } : {}),
      };
      if (!json) {
        const cut = p.header.capturedLength < p.header.originalLength ? ` (captured ${p.header.capturedLength} of ${p.header.originalLength} bytes)` : '';
        io.out(`#${frame} ${context.time.toFixed(6)} ${endpoint(udp.ip.source, udp.sourcePort)} -> ${endpoint(udp.ip.destination, udp.destinationPort)}${cut}\n`);
      }
      const ok = control ? decodeOne(udp.payload, json, io, context, '  ') : decodeData(udp.payload, json, io, context, '  ');
      if (control) counts.control++;
      else counts.data++;
      if (!ok) counts.malformed++;
    });
    parser.on('error', (e: Error) => {
      if (settled) return;
      settled = true;
      reject(new LispwgError('PCAP_READ', `${path}: not a readable pcap file: ${e.message}`));
    });
    parser.on('end', () => {
      if (settled) return;
      settled = true;
      resolve();
    });
  });
  if (!json) io.out(`${frame} frame${frame === 1 ? '' : 's'}: ${counts.control} LISP control, ${counts.data} LISP data, ${counts.malformed} malformed, ${counts.other} other\n`);
  return 0;
}

async function decodeFile(path: string, json: boolean, io: DecodeIo): Promise<number> {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new LispwgError('DECODE_INPUT', `cannot read ${path}: ${(e as Error).message}`);
  }
  const magic = bytes.subarray(0, 4).toString('hex');
  if (PCAP_MAGICS.has(magic)) return decodePcap(bytes, path, json, io);
  if (PCAP_NS_MAGICS.has(magic)) {
    throw new LispwgError('DECODE_INPUT', `${path} is a nanosecond pcap, which pcap-parser cannot read; convert it with: editcap -F pcap ${path} out.pcap`);
  }
  if (magic === PCAPNG_MAGIC) throw new LispwgError('DECODE_INPUT', `${path} is pcapng; convert it with: editcap -F pcap ${path} out.pcap`);
  if (bytes.length === 0) throw new LispwgError('DECODE_INPUT', `${path} is empty`);
  const asHex = parseHex(bytes.toString('latin1'));
  return decodeOne(asHex ?? bytes, json, io) ? 0 : 1;
}

export async function main(argv: string[], io: DecodeIo = stdio): Promise<number> {
  let json = false;
  let file: string | undefined;
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-h' || a === '--help') {
      io.out(USAGE + '\n');
      return 0;
    } else if (a === '--json') json = true;
    else if (a === '--file') {
      file = argv[++i];
      if (!file) throw new LispwgError('USAGE', '--file needs a path\n\n' + USAGE);
    } else if (a.startsWith('-') && a.length > 1 && parseHex(a) === undefined) {
      throw new LispwgError('USAGE', `unknown option '${a}'\n\n${USAGE}`);
    } else positional.push(a);
  }
  if (file !== undefined) {
    if (positional.length) throw new LispwgError('USAGE', `--file and '${positional[0]}' both given: decode one input at a time`);
    return decodeFile(file, json, io);
  }
  if (positional.length === 0) {
    io.err(USAGE + '\n');
    return 1;
  }
  const input = positional.join(' ');
  const bytes = parseHex(input);
  if (bytes) return decodeOne(bytes, json, io) ? 0 : 1;
  if (positional.length === 1 && existsSync(input)) return decodeFile(input, json, io);
  throw new LispwgError('DECODE_INPUT', `'${input.length > 40 ? input.slice(0, 40) + '...' : input}' is neither hex (an even number of 0-9a-f digits) nor an existing file`);
}
