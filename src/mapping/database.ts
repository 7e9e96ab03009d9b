/**
 * The mapping database: EID prefix -> value, longest-prefix match per instance ID and address
 * family. One PrefixTrie per (instance ID, family), so overlapping prefixes of two virtual
 * networks never meet.
 */
import { PrefixTrie } from './trie.js';
import { familyBits, formatWords, ipWords, maskWords, type IpFamily } from '../ip/ip.js';
import type { EidPrefix } from './eid.js';

export interface DatabaseMatch<V> {
  prefix: EidPrefix;
  value: V;
}

export class MappingDatabase<V> {
  private readonly tries = new Map<number, PrefixTrie<V>>(); // key: iid * 2 + (ipv6 ? 1 : 0)
  private readonly scratch4 = new Uint32Array(1);
  private readonly scratch6 = new Uint32Array(4);

  private trie(iid: number, afi: IpFamily, create: true): PrefixTrie<V>;
  private trie(iid: number, afi: IpFamily, create: false): PrefixTrie<V> | undefined;
  private trie(iid: number, afi: IpFamily, create: boolean): PrefixTrie<V> | undefined {
    const id = iid * 2 + (afi === 'ipv6' ? 1 : 0);
    let t = this.tries.get(id);
    if (!t && create) {
      t = new PrefixTrie<V>(afi === 'ipv4' ? 32 : 128);
      this.tries.set(id, t);
    }
    return t;
  }

  private words(afi: IpFamily, address: string): Uint32Array {
    return ipWords(afi, address, afi === 'ipv4' ? this.scratch4 : this.scratch6);
  }

  get size(): number {
    let n = 0;
    for (const t of this.tries.values()) n += t.size;
    return n;
  }

  /** Bytes held by the tries' node arrays (not the values). */
  get trieBytes(): number {
    let n = 0;
    for (const t of this.tries.values()) n += t.byteLength;
    return n;
  }

  set(prefix: EidPrefix, value: V): V | undefined {
    return this.trie(prefix.iid, prefix.afi, true).insert(this.words(prefix.afi, prefix.address), prefix.maskLen, value);
  }

  get(prefix: EidPrefix): V | undefined {
    return this.trie(prefix.iid, prefix.afi, false)?.get(this.words(prefix.afi, prefix.address), prefix.maskLen);
  }

  delete(prefix: EidPrefix): V | undefined {
    return this.trie(prefix.iid, prefix.afi, false)?.delete(this.words(prefix.afi, prefix.address), prefix.maskLen);
  }

  /** The value of the longest stored prefix that contains `address` (no allocation). */
  lookupValue(iid: number, afi: IpFamily, address: string, maxLen?: number): V | undefined {
    const t = this.trie(iid, afi, false);
    if (!t) return undefined;
    const n = t.matchNode(this.words(afi, address), maxLen);
    return n < 0 ? undefined : t.valueAt(n);
  }

  /** Attaches two ints to a stored prefix (see PrefixTrie.setPayload). */
  setPayload(prefix: EidPrefix, a: number, b: number): boolean {
    const t = this.trie(prefix.iid, prefix.afi, false);
    return t ? t.setPayload(this.words(prefix.afi, prefix.address), prefix.maskLen, a, b) : false;
  }

  /**
   * Longest-prefix match of an address that reads only the match's payload (into out[0], out[1]),
   * not its value: the hot path. False when nothing matches.
   */
  lookupPayload(iid: number, afi: IpFamily, address: string, out: Int32Array): boolean {
    const t = this.trie(iid, afi, false);
    return t ? t.matchPayload(this.words(afi, address), out) >= 0 : false;
  }

  /** Longest-prefix match of an address, among prefixes no longer than `maxLen`. */
  lookup(iid: number, afi: IpFamily, address: string, maxLen?: number): DatabaseMatch<V> | undefined {
    const t = this.trie(iid, afi, false);
    if (!t) return undefined;
    const n = t.matchNode(this.words(afi, address), maxLen);
    if (n < 0) return undefined;
    return { value: t.valueAt(n), prefix: { iid, afi, address: formatWords(afi, t.wordsAt(n)), maskLen: t.maskLenAt(n) } };
  }

  /** The longest stored prefix that contains `prefix` (itself included). */
  covering(prefix: EidPrefix): DatabaseMatch<V> | undefined {
    return this.lookup(prefix.iid, prefix.afi, prefix.address, prefix.maskLen);
  }

  /**
   * Length of the widest prefix around `address` that contains no stored prefix other than
   * those containing `address` itself (see PrefixTrie.holeLen).
   */
  holeLen(iid: number, afi: IpFamily, address: string): number {
    const t = this.trie(iid, afi, false);
    return t ? t.holeLen(this.words(afi, address)) : 0;
  }

  /** True when some stored prefix lies inside `prefix` (or is `prefix`). */
  hasWithin(prefix: EidPrefix): boolean {
    const t = this.trie(prefix.iid, prefix.afi, false);
    return t ? t.hasWithin(this.words(prefix.afi, prefix.address), prefix.maskLen) : false;
  }

  *entries(): IterableIterator<DatabaseMatch<V>> {
    for (const [id, t] of this.tries) {
      const iid = Math.floor(id / 2);
      const afi: IpFamily = id % 2 ? 'ipv6' : 'ipv4';
      for (const e of t.entries()) {
        yield { value: e.value, prefix: { iid, afi, address: formatWords(afi, e.words), maskLen: e.maskLen } };
      }
    }
  }

  clear(): void {
    this.tries.clear();
  }
}

/** The prefix `address`/`len` with host bits cleared. */
export function prefixOf(iid: number, afi: IpFamily, address: string, len: number): EidPrefix {
  const l = Math.min(len, familyBits(afi));
  return { iid, afi, address: formatWords(afi, maskWords(ipWords(afi, address), l)), maskLen: l };
}
