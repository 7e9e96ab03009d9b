/**
 * Cross-check with a real peer's decoder: every message we encode (and the bytes OOR and lig
 * build) goes into a pcap, tshark 4.x dissects it, and the fields it shows must be, in order,
 * the fields our decoder reads. tshark must also find our checksums good and see nothing
 * malformed; its only complaint allowed is "Not dissected yet" for the LCAF bodies it does not
 * know (Security Key, Application Data), after which everything must still line up.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../util/exec.js';
import { decodeMessage, encodeMessage, signMessage, type Address, type Lcaf, type LispMessage, type MappingRecord } from './index.js';
import { address as addressCodec } from './address.js';
import { writePcap } from '../pcap/pcap.js';
import { allSamples } from './samples.js';
import { ligEcmMapRequest, oorMapRegister } from './testing/foreign.js';

type Field = [name: string, show: string];

interface Packet {
  name: string;
  bytes: Buffer;
  /** Built by lispwg's encoder (checksums ours to get right); false for the OOR/lig bytes. */
  ours: boolean;
}

const packets: Packet[] = [];
for (const [name, msg] of Object.entries(allSamples())) {
  const bytes =
    msg.type === 'map-register' || msg.type === 'map-notify' || msg.type === 'map-notify-ack'
      ? signMessage(msg, name.endsWith('Xtr') ? 2 : 1, 'secret')
      : encodeMessage(msg);
  packets.push({ name, bytes, ours: true });
}
packets.push({ name: 'OOR Map-Register', bytes: oorMapRegister(), ours: false });
packets.push({ name: 'lig ECM Map-Request', bytes: ligEcmMapRequest(), ours: false }); // inner IPv4 checksum 0, as lig sends it

let dissected: Field[][] = [];
const dir = mkdtempSync(join(tmpdir(), 'lispwg-tshark-'));

function unescapeXml(s: string): string {
  return s.replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

/** PDML -> per packet, every field and proto as [name, show] in document order. */
function parsePdml(xml: string): Field[][] {
  return xml
    .split('<packet>')
    .slice(1)
    .map((p) => {
      const fields: Field[] = [];
      for (const m of p.matchAll(/<(?:field|proto) ([^>]*)>/g)) {
        const attrs = m[1]!;
        const name = /(?:^| )name="([^"]*)"/.exec(attrs)?.[1] ?? '';
        const show = /(?:^| )show="([^"]*)"/.exec(attrs)?.[1] ?? '';
        if (name) fields.push([name, unescapeXml(show)]);
      }
      return fields;
    });
}

beforeAll(async () => {
  const file = join(dir, 'messages.pcap');
  writeFileSync(
    file,
    writePcap(packets.map((p) => ({ source: '100.100.0.1', destination: '100.100.0.2', sourcePort: 4342, destinationPort: 4342, payload: p.bytes }))),
  );
  const { stdout } = await run(
    ['tshark', '-r', file, '-d', 'udp.port==4342,lisp', '-o', 'ip.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE', '-T', 'pdml'],
    { timeoutMs: 60_000 },
  );
  dissected = parsePdml(stdout);
}, 60_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

// ---------------------------------------------------------------------------------------------
// What tshark should show for a message, derived from our decoding of the same bytes.

const bit = (b: boolean): Field[1] => (b ? '1' : '0');
const colonHex = (b: Uint8Array): string => Buffer.from(b).toString('hex').replace(/(..)(?!$)/g, '$1:');
const nonceHex = (n: bigint): string => '0x' + n.toString(16).padStart(16, '0');
const AFI = { none: 0, ipv4: 1, ipv6: 2, lcaf: 16387, mac: 16389 } as const;

interface AddressKeys {
  afi: string;
  ipv4: string;
  ipv6: string;
  mac?: string;
}

/** Counts the LCAF bodies tshark 4.0 cannot dissect while generating the expectations. */
class Expectation {
  readonly fields: Field[] = [];
  undecoded = 0;

  add(name: string, show: string | number): void {
    this.fields.push([name, String(show)]);
  }

  address(a: Address, keys: AddressKeys): void {
    this.add(keys.afi, AFI[a.afi]);
    if (a.afi === 'ipv4') this.add(keys.ipv4, a.address);
    else if (a.afi === 'ipv6') this.add(keys.ipv6, a.address);
    else if (a.afi === 'mac' && keys.mac) this.add(keys.mac, a.address);
    else if (a.afi === 'lcaf') this.lcaf(a.lcaf, addressCodec.encodingLength(a) - 8);
  }

  lcaf(l: Lcaf, length: number): void {
    const type = { 'afi-list': 1, 'instance-id': 2, 'security-key': 11, unknown: l.type === 'unknown' ? l.lcafType : -1 }[l.type];
    this.add('lisp.lcaf.type', type);
    this.add('lisp.lcaf.length', length);
    switch (l.type) {
      case 'instance-id':
        this.add('lisp.lcaf.iid', l.instanceId);
        this.address(l.address, { afi: 'lisp.lcaf.iid.afi', ipv4: 'lisp.lcaf.iid.ipv4', ipv6: 'lisp.lcaf.iid.ipv6', mac: 'lisp.lcaf.iid.mac' });
        break;
      case 'afi-list':
        for (const a of l.addresses) this.address(a, { afi: 'lisp.lcaf.afi_list.afi', ipv4: 'lisp.lcaf.afi_list.ipv4', ipv6: 'lisp.lcaf.afi_list.ipv6' });
        break;
      case 'security-key':
        this.undecoded++; // tshark 4.0: "Not dissected yet", then skips by Length
        break;
      case 'unknown':
        if (l.lcafType === 4) this.undecoded++; // Application Data: not dissected by tshark 4.0 either
        break;
    }
  }

  record(r: MappingRecord): void {
    this.add('lisp.mapping.ttl', r.ttl);
    this.add('lisp.mapping.loccnt', r.locators.length);
    this.add('lisp.mapping.eid.masklen', r.maskLen);
    this.add('lisp.mapping.act', r.action);
    this.add('lisp.mapping.auth', bit(r.authoritative));
    this.add('lisp.mapping.ver', r.mapVersion);
    this.address(r.eid, { afi: 'lisp.mapping.eid.afi', ipv4: 'lisp.mapping.eid.ipv4', ipv6: 'lisp.mapping.eid.ipv6', mac: 'lisp.mapping.eid.mac' });
    for (const l of r.locators) {
      this.add('lisp.loc.priority', l.priority);
      this.add('lisp.loc.weight', l.weight);
      this.add('lisp.loc.multicast_priority', l.mPriority);
      this.add('lisp.loc.multicast_weight', l.mWeight);
      this.add('lisp.loc.flags.local', bit(l.local));
      this.add('lisp.loc.flags.probe', bit(l.probed));
      this.add('lisp.loc.flags.reach', bit(l.reachable));
      this.add('lisp.loc.afi', AFI[l.address.afi]);
      if (l.address.afi === 'ipv4' || l.address.afi === 'ipv6') this.add('lisp.loc.locator', l.address.address);
      else if (l.address.afi === 'lcaf') this.lcaf(l.address.lcaf, addressCodec.encodingLength(l.address) - 8);
    }
  }

  message(m: LispMessage): void {
    switch (m.type) {
      case 'map-request':
        this.add('lisp.type', 1);
        this.add('lisp.mreq.flags.auth', bit(m.authoritative));
        this.add('lisp.mreq.flags.mrp', bit(m.mapDataPresent));
        this.add('lisp.mreq.flags.probe', bit(m.probe));
        this.add('lisp.mreq.flags.smr', bit(m.smr));
        this.add('lisp.mreq.flags.pitr', bit(m.pitr));
        this.add('lisp.mreq.flags.smri', bit(m.smrInvoked));
        this.add('lisp.irc', m.itrRlocs.length - 1);
        this.add('lisp.records', m.records.length);
        this.add('lisp.nonce', nonceHex(m.nonce));
        this.address(m.sourceEid, { afi: 'lisp.mreq.srceid.afi', ipv4: 'lisp.mreq.srceid.ipv4', ipv6: 'lisp.mreq.srceid_ipv6', mac: 'lisp.mreq.srceid.mac' });
        for (const a of m.itrRlocs) this.address(a, { afi: 'lisp.mreq.itr_rloc.afi', ipv4: 'lisp.mreq.itr_rloc_ipv4', ipv6: 'lisp.mreq.itr_rloc_ipv6' });
        for (const r of m.records) {
          this.add('lisp.mreq.record.prefix.length', r.maskLen);
          this.address(r.eid, { afi: 'lisp.mreq.record.prefix.afi', ipv4: 'lisp.mreq.record.prefix.ipv4', ipv6: 'lisp.mreq.record.prefix.ipv6', mac: 'lisp.mreq.record.prefix.mac' });
        }
        if (m.mapReply) this.record(m.mapReply);
        break;
      case 'map-reply':
        this.add('lisp.type', 2);
        this.add('lisp.mrep.flags.probe', bit(m.probe));
        this.add('lisp.mrep.flags.enlr', bit(m.echoNonceCapable));
        this.add('lisp.mrep.flags.sec', bit(m.security));
        this.add('lisp.records', m.records.length);
        this.add('lisp.nonce', nonceHex(m.nonce));
        for (const r of m.records) this.record(r);
        break;
      case 'map-register':
      case 'map-notify':
        this.add('lisp.type', m.type === 'map-register' ? 3 : 4);
        if (m.type === 'map-register') {
          this.add('lisp.mreg.flags.pmr', bit(m.proxyReply));
          this.add('lisp.mreg.flags.sec', bit(m.security));
          this.add('lisp.mreg.flags.xtrid', bit(m.xtrId !== undefined));
          this.add('lisp.mreg.flags.rtr', bit(m.rtr));
          this.add('lisp.mreg.flags.wmn', bit(m.wantMapNotify));
        } else {
          this.add('lisp.mnot.flags.xtrid', bit(m.xtrId !== undefined));
        }
        this.add('lisp.records', m.records.length);
        this.add('lisp.nonce', nonceHex(m.nonce));
        this.add('lisp.keyid', '0x' + m.keyId.toString(16).padStart(4, '0'));
        this.add('lisp.authlen', m.authData.length);
        this.add('lisp.auth', colonHex(m.authData));
        for (const r of m.records) this.record(r);
        if (m.xtrId && m.siteId !== undefined) {
          this.add('lisp.xtrid', colonHex(m.xtrId));
          this.add('lisp.siteid', colonHex(Buffer.from(m.siteId.toString(16).padStart(16, '0'), 'hex')));
        }
        break;
      case 'map-notify-ack':
        this.add('lisp.type', 5); // tshark 4.0 knows no type 5: "Unknown LISP Control Packet"
        break;
      case 'ecm': {
        this.add('lisp.type', 8);
        this.add('lisp.ecm.flags.sec', bit(m.security));
        this.add('lisp.ecm.flags.ddt', bit(m.ddt));
        const v6 = m.inner.source.includes(':');
        this.add(v6 ? 'ipv6.hlim' : 'ip.ttl', m.inner.ttl);
        this.add(v6 ? 'ipv6.src' : 'ip.src', m.inner.source);
        this.add(v6 ? 'ipv6.dst' : 'ip.dst', m.inner.destination);
        this.add('udp.srcport', m.inner.sourcePort);
        this.add('udp.dstport', m.inner.destinationPort);
        this.message(m.message);
        break;
      }
    }
  }
}

/** tshark's fields from the (first) LISP layer on, inner IP/UDP of an ECM included. */
function lispFields(fields: Field[]): Field[] {
  const start = fields.findIndex(([n]) => n === 'lisp');
  return start < 0 ? [] : fields.slice(start);
}

/** Each expected field must come, in order, as the next field of that name tshark shows. */
function expectInOrder(actual: Field[], expected: Field[]): void {
  let i = 0;
  for (const [name, show] of expected) {
    const j = actual.findIndex(([n], k) => k >= i && n === name);
    if (j < 0) throw new Error(`tshark shows no ${name} (expected ${show}) after field #${i}`);
    expect(`${name} = ${actual[j]![1]}`).toBe(`${name} = ${show}`);
    i = j + 1;
  }
}

describe('tshark decodes what we encode', () => {
  packets.forEach((p, index) => {
    test(p.name, () => {
      const all = dissected[index];
      expect(all, `tshark dissected ${dissected.length} packets`).toBeDefined();
      const msg = decodeMessage(p.bytes);
      const e = new Expectation();
      e.message(msg);
      const fields = lispFields(all!);
      expectInOrder(fields, e.fields);
      // nothing malformed, every checksum good, and no expert info but the LCAFs tshark cannot read
      expect(all!.filter(([n]) => n === '_ws.malformed')).toEqual([]);
      const checksums = all!.filter(([n]) => n.endsWith('checksum.status')).map(([, s]) => s);
      if (p.ours) expect(checksums.every((s) => s === '1'), `checksum statuses ${checksums.join(',')}`).toBe(true);
      const experts = all!
        .filter(([n, s]) => n === '_ws.expert.message' && (p.ours || !s.startsWith('Bad checksum')))
        .map(([, s]) => s);
      expect(experts).toEqual(Array(e.undecoded).fill('Not dissected yet (report to wireshark.org)'));
    });
  });

  test('the content of an opaque LCAF reaches tshark intact (AS Number LCAF)', () => {
    const fields = lispFields(dissected[packets.findIndex((p) => p.name === 'mapReplyMixed')]!);
    expectInOrder(fields, [
      ['lisp.lcaf.asn', '64512'],
      ['lisp.lcaf.asn.ipv4', '198.18.0.6'],
    ]);
  });

  test('the Map-Register carrying a WireGuard key is 110 bytes, as in the thesis capture', () => {
    // thesis, appendix 4: "Map-Register for Security Key/32", 154-byte frames on a cooked (16 + 20 + 8) capture
    const reg = packets.find((p) => p.name === 'mapRegister')!;
    expect(reg.bytes.length).toBe(110);
    expect(dissected[packets.indexOf(reg)]!.some(([n]) => n === 'lisp')).toBe(true);
  });
});
