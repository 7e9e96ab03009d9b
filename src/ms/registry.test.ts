import { describe, expect, it } from 'vitest';
import { Registry, encodeReply } from './registry.js';
import { parseEidPrefix } from '../mapping/eid.js';
import { eidAddress, type MappingRecord } from '../lisp/index.js';

const rec = (eid: string, rloc: string, ttl = 10): MappingRecord => ({
  ttl,
  maskLen: 24,
  action: 0,
  authoritative: true,
  mapVersion: 0,
  eid: eidAddress(eid),
  locators: [{ priority: 1, weight: 100, mPriority: 255, mWeight: 0, local: true, probed: false, reachable: true, address: { afi: 'ipv4', address: rloc } }],
});

describe('Registry', () => {
  it('tells new, refreshed and changed apart, answers with the nonce, expires in refresh order', () => {
    let t = 0;
    const r = new Registry(1000, () => t);
    const p = parseEidPrefix('198.18.1.0/24');
    expect(r.upsert(p, 'a', encodeReply(rec('198.18.1.0', '198.19.0.1')), undefined).result).toBe('new');
    expect(r.upsert(p, 'a', encodeReply(rec('198.18.1.0', '198.19.0.1')), undefined).result).toBe('refreshed');
    const { reg, result } = r.upsert(p, 'a', encodeReply(rec('198.18.1.0', '198.19.0.2', 7)), undefined);
    expect(result).toBe('changed');
    expect(r.ttlOf(reg)).toBe(7);
    const answer = r.replyFor(0, 'ipv4', '198.18.1.77', 0x1122334455667788n)!;
    expect(answer.readBigUInt64BE(4)).toBe(0x1122334455667788n);
    expect(answer.subarray(12)).toEqual(r.replyOf(reg).subarray(12));
    expect(r.replyFor(0, 'ipv4', '198.18.7.1', 1n)).toBeUndefined();
    expect(r.recordOf(r.lookup(0, 'ipv4', '198.18.1.9')!).locators[0]!.address).toEqual({ afi: 'ipv4', address: '198.19.0.2' });
    const q = parseEidPrefix('198.18.2.0/24');
    t = 500;
    r.upsert(q, 'b', encodeReply(rec('198.18.2.0', '198.19.0.3')), undefined);
    r.upsert(parseEidPrefix('198.18.9.0/24'), undefined, encodeReply(rec('198.18.9.0', '198.19.0.9')), undefined); // static
    t = 1200;
    expect(r.expire().map((x) => x.siteName)).toEqual(['a']);
    t = 99_999;
    expect(r.expire().map((x) => x.siteName)).toEqual(['b']);
    expect(r.size).toBe(1);
  });

  it('keeps every reply intact across slab compactions', () => {
    const r = new Registry(60_000);
    const prefixes = Array.from({ length: 50 }, (_, i) => parseEidPrefix(`198.18.${i}.0/24`));
    // 125 000 changes of about 40 bytes: 5 MiB of garbage, so the store compacts (else 5 slabs)
    for (let round = 0; round < 2500; round++) {
      prefixes.forEach((p, i) => r.upsert(p, 's', encodeReply(rec(`198.18.${i}.0`, `198.19.${round % 250}.${i}`)), undefined));
    }
    expect(r.bytes.replies).toBeLessThanOrEqual(4 << 20);
    prefixes.forEach((p, i) => {
      expect(r.recordOf(r.get(p)!).locators[0]!.address).toEqual({ afi: 'ipv4', address: `198.19.${2499 % 250}.${i}` });
      // the index's payload follows the compaction too
      expect(r.replyFor(0, 'ipv4', `198.18.${i}.1`, 0n)!.subarray(12)).toEqual(r.replyOf(r.get(p)!).subarray(12));
    });
  });

  it('counts registrations per site through refresh, move, removal and expiry', () => {
    let t = 0;
    const r = new Registry(1000, () => t);
    const from = (address: string) => ({ address, port: 4342 });
    const p = (i: number) => parseEidPrefix(`198.18.${i}.0/24`);
    r.upsert(p(1), 'a', encodeReply(rec('198.18.1.0', '198.19.0.1')), from('198.19.0.1'));
    r.upsert(p(2), 'a', encodeReply(rec('198.18.2.0', '198.19.0.1')), from('198.19.0.1'));
    r.upsert(p(9), undefined, encodeReply(rec('198.18.9.0', '198.19.0.9')), undefined); // static: no site, no source
    expect(r.countOf('a')).toBe(2);
    r.upsert(p(1), 'a', encodeReply(rec('198.18.1.0', '198.19.0.1')), from('198.19.0.2')); // registers from a new address
    expect(r.countOf('a')).toBe(2);
    r.upsert(p(2), 'b', encodeReply(rec('198.18.2.0', '198.19.0.3')), from('198.19.0.3')); // another owner (a reload)
    expect([r.countOf('a'), r.countOf('b')]).toEqual([1, 1]);
    r.remove(p(1));
    expect(r.countOf('a')).toBe(0);
    t = 2000;
    r.expire();
    expect([r.countOf('b'), r.size]).toEqual([0, 1]);
  });
});
