import { describe, expect, it } from 'vitest';
import { PrefixTrie } from './trie.js';
import { MappingDatabase } from './database.js';
import { MapCache, refreshDue } from './map-cache.js';
import { parseEidPrefix, formatEidPrefix, eidPrefixContains, makeEidPrefix } from './eid.js';
import { rng } from '../util/random.js';

type Key = number[];
const W = (bits: number) => bits / 32;

function bit(k: Key, i: number): number {
  return (k[i >>> 5]! >>> (31 - (i & 31))) & 1;
}
function mask(k: Key, len: number): Key {
  return k.map((w, i) => {
    const keep = len - i * 32;
    return keep >= 32 ? w : keep <= 0 ? 0 : (w & (0xffffffff << (32 - keep))) >>> 0;
  });
}
/** Brute force: does prefix p/len contain key k? */
function contains(p: Key, len: number, k: Key): boolean {
  for (let i = 0; i < len; i++) if (bit(p, i) !== bit(k, i)) return false;
  return true;
}
function cpl(a: Key, b: Key, limit: number): number {
  let i = 0;
  while (i < limit && bit(a, i) === bit(b, i)) i++;
  return i;
}

/** Random keys clustered around a few bases so prefixes nest and collide often. */
function randomKey(r: () => number, bits: number, bases: Key[]): Key {
  const base = bases[Math.floor(r() * bases.length)]!;
  const k = base.slice();
  const flips = Math.floor(r() * 6);
  for (let f = 0; f < flips; f++) {
    const i = Math.floor(r() * bits);
    k[i >>> 5] = (k[i >>> 5]! ^ (1 << (31 - (i & 31)))) >>> 0;
  }
  return k;
}

for (const [bits, lengthSet] of [
  [32, undefined],
  [128, undefined],
  [32, [8, 24, 32]], // few lengths: lookups go through the exact-match index
  [128, [48, 64, 128]],
] as const) {
  describe(`PrefixTrie ${bits}-bit against a brute-force reference${lengthSet ? ` (lengths ${lengthSet.join(', ')})` : ''}`, () => {
    it('insert, longest-prefix match, exact get, delete, holes', () => {
      const r = rng(bits);
      const bases: Key[] = Array.from({ length: 4 }, () => Array.from({ length: W(bits) }, () => (r() * 2 ** 32) >>> 0));
      const trie = new PrefixTrie<string>(bits, 2);
      const ref = new Map<string, { k: Key; len: number; v: string }>();
      const id = (k: Key, len: number) => `${k.join('.')}/${len}`;
      for (let round = 0; round < 2000; round++) {
        const len = lengthSet ? lengthSet[Math.floor(r() * lengthSet.length)]! : r() < 0.05 ? 0 : Math.floor(r() * (bits + 1));
        const k = mask(randomKey(r, bits, bases), len);
        if (r() < 0.7) {
          const v = `v${round}`;
          const prev = trie.insert(k, len, v);
          expect(prev).toBe(ref.get(id(k, len))?.v);
          ref.set(id(k, len), { k, len, v });
        } else {
          const prev = trie.delete(k, len);
          expect(prev).toBe(ref.get(id(k, len))?.v);
          ref.delete(id(k, len));
        }
        expect(trie.size).toBe(ref.size);
        if (round % 20 !== 0) continue;
        // probe addresses
        for (let q = 0; q < 20; q++) {
          const a = randomKey(r, bits, bases);
          let best: { k: Key; len: number; v: string } | undefined;
          let hole = 0;
          for (const e of ref.values()) {
            if (contains(e.k, e.len, a)) {
              if (!best || e.len > best.len) best = e;
            } else hole = Math.max(hole, cpl(e.k, a, e.len) + 1);
          }
          const m = trie.match(a);
          expect(m?.value).toBe(best?.v);
          if (best) expect(m?.maskLen).toBe(best.len);
          expect(trie.holeLen(a)).toBe(hole);
          // the hole really is empty of stored prefixes not containing a
          const h = trie.holeLen(a);
          const within = [...ref.values()].some((e) => e.len >= h && contains(a, h, e.k));
          expect(trie.hasWithin(mask(a, h), h)).toBe(within);
        }
        // every stored prefix is found exactly
        if (round % 200 === 0) for (const e of ref.values()) expect(trie.get(e.k, e.len)).toBe(e.v);
      }
      // invariant: fewer than 2N + 1 nodes
      expect(trie.nodeCount).toBeLessThanOrEqual(2 * ref.size + 1);
      expect([...trie.entries()].length).toBe(ref.size);
      for (const e of ref.values()) trie.delete(e.k, e.len);
      expect(trie.size).toBe(0);
      expect(trie.nodeCount).toBe(1);
    });
  });
}

describe('MappingDatabase', () => {
  it('keeps instance IDs and families apart, with overlapping prefixes', () => {
    const db = new MappingDatabase<string>();
    db.set(parseEidPrefix('198.18.0.0/16'), 'iid0-16');
    db.set(parseEidPrefix('[7]198.18.0.0/16'), 'iid7-16');
    db.set(parseEidPrefix('[7]198.18.1.0/24'), 'iid7-24');
    db.set(parseEidPrefix('2001:db8::/32'), 'v6-32');
    db.set(parseEidPrefix('[7]2001:db8:1::/48'), 'iid7-v6-48');
    expect(db.lookup(0, 'ipv4', '198.18.1.5')?.value).toBe('iid0-16');
    expect(db.lookup(7, 'ipv4', '198.18.1.5')?.value).toBe('iid7-24');
    expect(db.lookup(7, 'ipv4', '198.18.2.5')?.value).toBe('iid7-16');
    expect(db.lookup(8, 'ipv4', '198.18.1.5')).toBeUndefined();
    expect(db.lookup(0, 'ipv6', '2001:db8:1::1')?.value).toBe('v6-32');
    expect(db.lookup(7, 'ipv6', '2001:db8:1::1')?.value).toBe('iid7-v6-48');
    expect(db.lookup(7, 'ipv6', '2001:db8:2::1')).toBeUndefined();
    expect(formatEidPrefix(db.lookup(7, 'ipv6', '2001:db8:1::1')!.prefix)).toBe('[7]2001:db8:1::/48');
    // a hole next to [7]198.18.1.0/24 inside [7]198.18.0.0/16
    expect(db.holeLen(7, 'ipv4', '198.18.200.1')).toBe(17);
    expect(db.holeLen(0, 'ipv4', '10.0.0.1')).toBe(1);
    expect(db.holeLen(9, 'ipv4', '10.0.0.1')).toBe(0);
    expect(db.size).toBe(5);
    expect(db.delete(parseEidPrefix('[7]198.18.1.0/24'))).toBe('iid7-24');
    expect(db.lookup(7, 'ipv4', '198.18.1.5')?.value).toBe('iid7-16');
  });
});

describe('EID prefixes', () => {
  it('parses, masks and formats', () => {
    expect(formatEidPrefix(parseEidPrefix('198.18.1.7/24'))).toBe('198.18.1.0/24');
    expect(formatEidPrefix(parseEidPrefix('[5]2001:DB8:0:0:1::/64'))).toBe('[5]2001:db8::/64');
    expect(formatEidPrefix(parseEidPrefix('2001:db8::1'))).toBe('2001:db8::1/128');
    expect(formatEidPrefix(parseEidPrefix('[3]::ffff:198.18.0.1'))).toBe('[3]::ffff:198.18.0.1/128');
    expect(formatEidPrefix(makeEidPrefix('ipv6', '::ffff:198.18.0.1', 120))).toBe('::ffff:198.18.0.0/120');
    expect(formatEidPrefix(parseEidPrefix(' [0]0.0.0.0/0 '))).toBe('0.0.0.0/0');
    expect(() => parseEidPrefix('198.18.1.0/33')).toThrow(/'198\.18\.1\.0\/33' is not an EID prefix \(prefix length \/33 is longer than an IPv4 address/);
    expect(() => parseEidPrefix('nonsense')).toThrow(/'nonsense' is not an EID prefix \('nonsense' is not an IPv4 or IPv6 address\)/);
    expect(() => parseEidPrefix('[x]198.18.1.0/24')).toThrow(/not an EID prefix/);
    expect(() => parseEidPrefix('fe80::1%eth0')).toThrow(/not an EID prefix/);
    expect(() => makeEidPrefix('ipv4', '::1', 32)).toThrow(expect.objectContaining({ code: 'BAD_ADDRESS' }));
    expect(eidPrefixContains(parseEidPrefix('198.18.0.0/16'), parseEidPrefix('198.18.3.0/24'))).toBe(true);
    expect(eidPrefixContains(parseEidPrefix('198.18.0.0/16'), parseEidPrefix('198.0.0.0/8'))).toBe(false);
    expect(eidPrefixContains(parseEidPrefix('198.18.0.0/16'), parseEidPrefix('[1]198.18.3.0/24'))).toBe(false);
    expect(eidPrefixContains(parseEidPrefix('::/0'), parseEidPrefix('198.18.3.0/24'))).toBe(false);
  });
});

describe('MapCache', () => {
  it('expires entries by TTL and falls back to a shorter live prefix', () => {
    let t = 0;
    const cache = new MapCache<string>({ now: () => t });
    cache.set(parseEidPrefix('198.18.0.0/16'), 'wide', 10_000);
    cache.set(parseEidPrefix('198.18.1.0/24'), 'narrow', 1_000);
    expect(cache.lookup(0, 'ipv4', '198.18.1.1')?.value).toBe('narrow');
    t = 1_500;
    expect(cache.lookup(0, 'ipv4', '198.18.1.1')?.value).toBe('wide');
    expect(cache.size).toBe(1);
    expect(cache.nextExpiry()).toBe(10_000);
    t = 20_000;
    expect(cache.expire().map((e) => e.value)).toEqual(['wide']);
    expect(cache.size).toBe(0);
  });

  it('an entry is due for refresh only when used inside its refresh window', () => {
    let t = 0;
    const cache = new MapCache<string>({ now: () => t });
    const min = 60_000;
    // the defaults: records live 10 min, refreshed when used in their last 10 s
    const e = cache.set(parseEidPrefix('198.18.1.0/24'), 'x', 10 * min)!;
    t = 9 * min;
    expect(refreshDue(e, 9 * min, t, 10_000)).toBe(false); // in use, but not yet in the window
    t = 10 * min - 5_000;
    expect(refreshDue(e, 10 * min - 11_000, t, 10_000)).toBe(false); // its traffic stopped before the window
    expect(refreshDue(e, undefined, t, 10_000)).toBe(false); // never used
    expect(refreshDue(e, 10 * min - 9_000, t, 10_000)).toBe(true);
    // the integration test's timers (597 s before a 600-s expiry: a window from 3 s after install):
    // 1 s of traffic right after install refreshes nothing 3 s later, however recent the install
    t = 0;
    const f = cache.set(parseEidPrefix('198.18.2.0/24'), 'y', 10 * min)!;
    t = 3_100;
    expect(refreshDue(f, 1_000, t, 597_000)).toBe(false);
    expect(refreshDue(f, 3_050, t, 597_000)).toBe(true);
    expect(refreshDue(f, 3_050, 2_900, 597_000)).toBe(false); // (a clock before the window)
    // a window as long as the entry's life: any use since the install counts
    expect(refreshDue(f, 1_000, t, 20 * min)).toBe(true);
  });
});

describe('covering prefixes', () => {
  it('finds the longest stored prefix no longer than a bound', () => {
    const db = new MappingDatabase<string>();
    db.set(parseEidPrefix('198.18.0.0/16'), 'a');
    db.set(parseEidPrefix('198.18.1.0/24'), 'b');
    expect(db.covering(parseEidPrefix('198.18.1.128/25'))?.value).toBe('b');
    expect(db.covering(parseEidPrefix('198.18.1.0/24'))?.value).toBe('b');
    expect(db.covering(parseEidPrefix('198.18.0.0/23'))?.value).toBe('a');
    expect(db.covering(parseEidPrefix('198.0.0.0/8'))).toBeUndefined();
  });
});
