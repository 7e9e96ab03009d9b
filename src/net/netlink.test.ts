import { describe, expect, it } from 'vitest';
import { NLA_F_NESTED, NLM_F_REQUEST, NlWriter, parseAttrList, parseAttrs, parseMessages } from './netlink.js';

describe('NlWriter', () => {
  it('lays out header, fixed part and 4-byte aligned attributes as the kernel reads them', () => {
    const w = new NlWriter(24, NLM_F_REQUEST);
    w.u8(2).u8(24).u8(0).u8(0);
    w.attr(1, Buffer.from([198, 18, 0, 0]));
    w.attrString(3, 'ab'); // 3 bytes with NUL: padded to 4
    w.attrU8(7, 9);
    const m = w.finish(0x01020304);
    expect(m.toString('hex')).toBe(
      [
        '2c000000', '1800', '0100', '04030201', '00000000', // nlmsghdr: len 44, type 24, flags, seq, pid
        '02180000', // fixed header
        '0800', '0100', 'c6120000', // attr 1: 4 bytes
        '0700', '0300', '61620000', // attr 3: "ab\0" + 1 pad
        '0500', '0700', '09000000', // attr 7: u8 + 3 pad
      ].join(''),
    );
  });

  it('marks nests with NLA_F_NESTED and sizes them around their content', () => {
    const w = new NlWriter(16, 0);
    w.nest(8, () => w.nest(0, () => w.attrU16(6, 0x1234)));
    const m = w.finish(1);
    const [outer] = parseAttrList(m, 16);
    expect(outer!.type).toBe(8);
    expect(m.readUInt16LE(18) & NLA_F_NESTED).toBe(NLA_F_NESTED);
    expect(outer!.value.length).toBe(4 + 8);
    const [inner] = parseAttrList(outer!.value);
    expect(inner!.type).toBe(0);
    expect(parseAttrs(inner!.value).get(6)!.readUInt16LE(0)).toBe(0x1234);
  });

  it('grows past its initial buffer', () => {
    const w = new NlWriter(1, 0);
    for (let i = 0; i < 300; i++) w.attrU32(1, i);
    const m = w.finish(1);
    expect(m.readUInt32LE(0)).toBe(16 + 300 * 8);
    expect(parseAttrList(m, 16).map((a) => a.value.readUInt32LE(0))).toEqual(Array.from({ length: 300 }, (_, i) => i));
  });
});

describe('parsing', () => {
  it('splits a datagram into messages and refuses lengths that overrun it', () => {
    const a = new NlWriter(3, 2).u32(0).finish(7);
    const b = new NlWriter(2, 0).i32(-17).finish(8);
    const msgs = parseMessages(Buffer.concat([a, b]));
    expect(msgs.map((m) => [m.type, m.flags, m.seq])).toEqual([[3, 2, 7], [2, 0, 8]]);
    expect(msgs[1]!.payload.readInt32LE(0)).toBe(-17);
    const bad = Buffer.from(a);
    bad.writeUInt32LE(400, 0);
    expect(() => parseMessages(bad)).toThrow(expect.objectContaining({ code: 'NETLINK_MALFORMED' }));
  });

  it('stops at a truncated attribute instead of reading past the buffer', () => {
    const buf = Buffer.from('0800010001020304' + 'ff00020000', 'hex');
    expect(parseAttrList(buf).map((a) => a.type)).toEqual([1]);
  });
});
