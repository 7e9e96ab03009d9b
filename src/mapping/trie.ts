/**
 * A path-compressed binary trie (Patricia) over 32-bit (IPv4) or 128-bit (IPv6) keys, for
 * longest-prefix match, with an exact-match hash index per stored prefix so that a lookup costs
 * one probe per distinct prefix length instead of one memory access per trie level. Nodes live in one typed array, not in objects: a node costs 16 bytes
 * (IPv4) or 28 bytes (IPv6), a million prefixes fit in some 40 MB, and a lookup walks at most
 * one node per distinct prefix length on its path without allocating.
 *
 * Invariants: node 0 is the root (prefix /0, present even when empty); every other node either
 * holds a value or has two children (a "glue" node), so the trie has fewer than 2N nodes.
 */

const NONE = 0; // child index 0 means "no child" (the root is never anyone's child)
const HAS_VALUE = 0x100; // flag in a node's meta word, so a walk reads no value slot

export interface TrieMatch<V> {
  value: V;
  /** Prefix length of the matching entry. */
  maskLen: number;
  /** Key words of the matching entry (a copy). */
  words: Uint32Array;
}

/**
 * Exact-match index of the stored prefixes: (masked key, length) -> node, in an open-addressing
 * hash table held in one Int32Array (slot: tag = length + 1 (0 empty, -1 deleted), node, key
 * words, and two ints of payload the owner may attach). Longest-prefix match then costs one probe
 * per distinct prefix length present, not one memory access per trie level: with a million random
 * prefixes the trie is some 20 levels deep, each a cache and TLB miss, while a table holds the few
 * lengths a mapping system really has. The payload lets a hot path answer from the slot alone.
 */
class ExactIndex {
  slots: Int32Array;
  private mask: number;
  private used = 0; // live + deleted slots
  private live = 0;
  readonly stride: number;

  constructor(private readonly words: number) {
    this.stride = words + 4;
    this.slots = new Int32Array(16 * this.stride);
    this.mask = 15;
  }

  private static hash(k: ArrayLike<number>, words: number, len: number): number {
    let h = Math.imul(len + 1, 0x9e3779b1);
    for (let w = 0; w < words; w++) {
      h = Math.imul(h ^ k[w]!, 0x85ebca6b);
      h ^= h >>> 13;
    }
    h = Math.imul(h ^ (h >>> 16), 0xc2b2ae35);
    return (h ^ (h >>> 16)) >>> 0;
  }

  /** Base offset of the slot of key `k` (already masked to `len`), or -1. */
  find(k: ArrayLike<number>, len: number): number {
    const S = this.stride;
    const W = this.words;
    const slots = this.slots;
    let i = ExactIndex.hash(k, W, len) & this.mask;
    for (;;) {
      const base = i * S;
      const tag = slots[base]!;
      if (tag === 0) return -1;
      if (tag === len + 1) {
        let w = 0;
        while (w < W && slots[base + 2 + w] === (k[w]! | 0)) w++;
        if (w === W) return base;
      }
      i = (i + 1) & this.mask;
    }
  }

  /** Adds (or re-points) the entry; a new entry's payload is (-1, -1). */
  set(k: ArrayLike<number>, len: number, node: number, payloadA = -1, payloadB = -1): void {
    if ((this.used + 1) * 2 > this.mask + 1) this.rehash(this.live * 4 > this.mask + 1 ? (this.mask + 1) * 2 : this.mask + 1);
    const S = this.stride;
    const W = this.words;
    let i = ExactIndex.hash(k, W, len) & this.mask;
    let free = -1;
    for (;;) {
      const base = i * S;
      const tag = this.slots[base]!;
      if (tag === 0) break;
      if (tag === -1) {
        if (free < 0) free = i;
      } else if (tag === len + 1 && this.sameKey(base, k)) {
        this.slots[base + 1] = node;
        return;
      }
      i = (i + 1) & this.mask;
    }
    if (free >= 0) i = free;
    else this.used++;
    const base = i * S;
    this.slots[base] = len + 1;
    this.slots[base + 1] = node;
    for (let w = 0; w < W; w++) this.slots[base + 2 + w] = k[w]! | 0;
    this.slots[base + 2 + W] = payloadA;
    this.slots[base + 3 + W] = payloadB;
    this.live++;
  }

  delete(k: ArrayLike<number>, len: number): void {
    const base = this.find(k, len);
    if (base < 0) return;
    this.slots[base] = -1;
    this.live--;
  }

  private sameKey(base: number, k: ArrayLike<number>): boolean {
    for (let w = 0; w < this.words; w++) if (this.slots[base + 2 + w] !== (k[w]! | 0)) return false;
    return true;
  }

  private rehash(capacity: number): void {
    const old = this.slots;
    const S = this.stride;
    const W = this.words;
    this.slots = new Int32Array(capacity * S);
    this.mask = capacity - 1;
    this.used = 0;
    this.live = 0;
    const key = new Int32Array(W);
    for (let base = 0; base < old.length; base += S) {
      if (old[base]! <= 0) continue;
      for (let w = 0; w < W; w++) key[w] = old[base + 2 + w]!;
      this.set(key, old[base]! - 1, old[base + 1]!, old[base + 2 + W]!, old[base + 3 + W]!);
    }
  }

  get byteLength(): number {
    return this.slots.byteLength;
  }
}

/** Above this many distinct prefix lengths, longest-prefix match walks the trie instead. */
const MAX_INDEXED_LENGTHS = 12;

export class PrefixTrie<V> {
  /** Words per key: 1 for 32-bit keys, 4 for 128-bit keys. */
  readonly wordCount: number;
  readonly bits: number;
  /**
   * All nodes in one Int32Array, `stride` words each: key words, meta (prefix length | HAS_VALUE),
   * child 0, child 1. One node is one cache line or less, so a lookup costs one memory access per
   * level: with a million entries the nodes no longer fit in the CPU caches and that is what counts.
   */
  private nodes: Int32Array;
  private readonly stride: number;
  private readonly metaOff: number;
  private vals: (V | undefined)[] = [undefined];
  private freeList: number[] = [];
  private next = 1; // first never-used node index
  private count = 0;
  private readonly path = new Int32Array(130);
  private readonly index: ExactIndex;
  /** Count of stored prefixes per length, and the lengths present, longest first. */
  private readonly lengthCount = new Map<number, number>();
  private lengthsDesc: number[] = [];
  private readonly masked: Uint32Array;

  constructor(bits: 32 | 128, initialCapacity = 64) {
    this.bits = bits;
    this.wordCount = bits / 32;
    this.stride = this.wordCount + 3;
    this.metaOff = this.wordCount;
    this.nodes = new Int32Array(Math.max(2, initialCapacity) * this.stride);
    this.index = new ExactIndex(this.wordCount);
    this.masked = new Uint32Array(this.wordCount);
  }

  /** Number of stored prefixes. */
  get size(): number {
    return this.count;
  }

  /** Nodes in use (stored prefixes + glue + root), for memory accounting. */
  get nodeCount(): number {
    return this.next - this.freeList.length;
  }

  /** Approximate bytes held by the node array and value slots (not the values themselves). */
  get byteLength(): number {
    return this.nodes.byteLength + this.vals.length * 8 + this.index.byteLength;
  }

  // --- node fields ----------------------------------------------------------------------------

  private lenOf(n: number): number {
    return this.nodes[n * this.stride + this.metaOff]! & 0xff;
  }

  private kid(n: number, b: number): number {
    return this.nodes[n * this.stride + this.metaOff + 1 + b]!;
  }

  private setKid(n: number, b: number, c: number): void {
    this.nodes[n * this.stride + this.metaOff + 1 + b] = c;
  }

  private setHasValue(n: number, has: boolean): void {
    const i = n * this.stride + this.metaOff;
    this.nodes[i] = has ? this.nodes[i]! | HAS_VALUE : this.nodes[i]! & ~HAS_VALUE;
  }

  /** Bit `i` (0 = most significant) of key `k`. */
  private static bitOf(k: ArrayLike<number>, i: number): number {
    return (k[i >>> 5]! >>> (31 - (i & 31))) & 1;
  }

  /** Bit `i` of node `n`'s key. */
  private nodeBit(n: number, i: number): number {
    return (this.nodes[n * this.stride + (i >>> 5)]! >>> (31 - (i & 31))) & 1;
  }

  /** Length of the common prefix of key `k` and node `n`'s key, at most `limit` bits. */
  private commonLen(k: ArrayLike<number>, n: number, limit: number): number {
    const base = n * this.stride;
    let len = 0;
    for (let w = 0; w < this.wordCount && len < limit; w++) {
      const x = k[w]! ^ this.nodes[base + w]!;
      if (x === 0) {
        len += 32;
        continue;
      }
      len += Math.clz32(x);
      break;
    }
    return len < limit ? len : limit;
  }

  private alloc(k: ArrayLike<number>, len: number, value: V | undefined): number {
    let n = this.freeList.pop();
    if (n === undefined) {
      n = this.next++;
      if ((n + 1) * this.stride > this.nodes.length) {
        const grown = new Int32Array(this.nodes.length * 2);
        grown.set(this.nodes);
        this.nodes = grown;
      }
    }
    const base = n * this.stride;
    // the key is stored masked to len so that glue nodes compare cleanly
    for (let w = 0; w < this.wordCount; w++) {
      const keep = len - w * 32;
      const word = k[w]! | 0;
      this.nodes[base + w] = keep >= 32 ? word : keep <= 0 ? 0 : word & (0xffffffff << (32 - keep));
    }
    this.nodes[base + this.metaOff] = len | (value !== undefined ? HAS_VALUE : 0);
    this.nodes[base + this.metaOff + 1] = NONE;
    this.nodes[base + this.metaOff + 2] = NONE;
    this.vals[n] = value;
    return n;
  }

  /** A prefix got its first value at node n: index it. */
  private added(n: number): void {
    const len = this.lenOf(n);
    this.index.set(this.nodes.subarray(n * this.stride, n * this.stride + this.wordCount), len, n);
    const c = this.lengthCount.get(len) ?? 0;
    this.lengthCount.set(len, c + 1);
    if (c === 0) this.lengthsDesc = [...this.lengthCount.keys()].sort((a, b) => b - a);
    this.count++;
  }

  /** The prefix at node n lost its value. */
  private removed(n: number): void {
    const len = this.lenOf(n);
    this.index.delete(this.nodes.subarray(n * this.stride, n * this.stride + this.wordCount), len);
    const c = this.lengthCount.get(len)! - 1;
    if (c === 0) {
      this.lengthCount.delete(len);
      this.lengthsDesc = [...this.lengthCount.keys()].sort((a, b) => b - a);
    } else this.lengthCount.set(len, c);
    this.count--;
  }

  private release(n: number): void {
    this.vals[n] = undefined;
    this.freeList.push(n);
  }

  // --- operations -----------------------------------------------------------------------------

  /** Stores `value` at prefix k/len; returns the value it replaced. */
  insert(k: ArrayLike<number>, len: number, value: V): V | undefined {
    if (len < 0 || len > this.bits) throw new RangeError(`prefix length ${len} outside 0..${this.bits}`);
    let n = 0;
    for (;;) {
      const nlen = this.lenOf(n);
      if (nlen === len) {
        const old = this.vals[n];
        this.vals[n] = value;
        this.setHasValue(n, true);
        if (old === undefined) this.added(n);
        return old;
      }
      const b = PrefixTrie.bitOf(k, nlen);
      const c = this.kid(n, b);
      if (c === NONE) {
        const leaf = this.alloc(k, len, value); // may grow (replace) the node array: link after
        this.setKid(n, b, leaf);
        this.added(leaf);
        return undefined;
      }
      const clen = this.lenOf(c);
      const m = this.commonLen(k, c, Math.min(len, clen));
      if (m === clen) {
        n = c; // c's prefix contains ours (or equals it: handled at the top)
        continue;
      }
      // our key leaves c's path at bit m (< clen): a new node at length m takes c's place
      if (m === len) {
        const x = this.alloc(k, len, value);
        this.setKid(x, this.nodeBit(c, len), c);
        this.setKid(n, b, x);
        this.added(x);
      } else {
        const g = this.alloc(k, m, undefined);
        const leaf = this.alloc(k, len, value);
        this.setKid(g, PrefixTrie.bitOf(k, m), leaf);
        this.setKid(g, this.nodeBit(c, m), c);
        this.setKid(n, b, g);
        this.added(leaf);
      }
      return undefined;
    }
  }

  /** True when node `n`'s prefix contains key `k` (the first len(n) bits agree). */
  private covers(k: ArrayLike<number>, n: number, len: number): boolean {
    const base = n * this.stride;
    let rest = len;
    for (let w = 0; rest > 0; w++, rest -= 32) {
      const x = k[w]! ^ this.nodes[base + w]!;
      if (rest >= 32) {
        if (x !== 0) return false;
      } else if ((x & (0xffffffff << (32 - rest))) !== 0) return false;
    }
    return true;
  }

  /** Node index of the exact prefix k/len (with or without a value), or -1; fills `path` when tracking. */
  private find(k: ArrayLike<number>, len: number, track: boolean): { node: number; depth: number } {
    let n = 0;
    let depth = 0;
    for (;;) {
      if (track) this.path[depth++] = n;
      const nlen = this.lenOf(n);
      if (nlen === len) return { node: n, depth };
      const c = this.kid(n, PrefixTrie.bitOf(k, nlen));
      if (c === NONE) return { node: -1, depth };
      const clen = this.lenOf(c);
      if (clen > len || !this.covers(k, c, clen)) return { node: -1, depth };
      n = c;
    }
  }

  /** The value stored at exactly k/len. */
  get(k: ArrayLike<number>, len: number): V | undefined {
    const { node } = this.find(k, len, false);
    return node < 0 ? undefined : this.vals[node];
  }

  /** Removes the prefix k/len; returns its value. */
  delete(k: ArrayLike<number>, len: number): V | undefined {
    const { node, depth } = this.find(k, len, true);
    if (node < 0 || this.vals[node] === undefined) return undefined;
    const old = this.vals[node];
    this.removed(node);
    this.vals[node] = undefined;
    this.setHasValue(node, false);
    if (node === 0) return old; // the root stays
    this.prune(node, this.path[depth - 2]!, depth >= 3 ? this.path[depth - 3]! : -1);
    return old;
  }

  /** Restores the invariants after `n` lost its value: splice out valueless nodes with < 2 children. */
  private prune(n: number, parent: number, grand: number): void {
    const k0 = this.kid(n, 0);
    const k1 = this.kid(n, 1);
    if (k0 !== NONE && k1 !== NONE) return; // stays as glue
    const only = k0 !== NONE ? k0 : k1;
    this.setKid(parent, this.kid(parent, 0) === n ? 0 : 1, only); // NONE when n was a leaf
    this.release(n);
    // a valueless (glue) parent left with one child goes too
    if (only === NONE && parent !== 0 && this.vals[parent] === undefined && grand >= 0) {
      const sib = this.kid(parent, 0) !== NONE ? this.kid(parent, 0) : this.kid(parent, 1);
      this.setKid(grand, this.kid(grand, 0) === parent ? 0 : 1, sib);
      this.release(parent);
    }
  }

  /**
   * Longest-prefix match of a full-length key (an address), among prefixes no longer than
   * `maxLen`. Returns the node index of the match, or -1. Read it with valueAt / maskLenAt /
   * wordsAt (no allocation on this path).
   */
  matchNode(k: ArrayLike<number>, maxLen: number = this.bits): number {
    const lengths = this.lengthsDesc;
    if (maxLen === this.bits && lengths.length <= MAX_INDEXED_LENGTHS) {
      const m = this.masked;
      for (let i = 0; i < lengths.length; i++) {
        const len = lengths[i]!;
        for (let w = 0; w < m.length; w++) {
          const keep = len - w * 32;
          m[w] = keep >= 32 ? k[w]! : keep <= 0 ? 0 : k[w]! & (0xffffffff << (32 - keep));
        }
        const base = this.index.find(m, len);
        if (base >= 0) return this.index.slots[base + 1]!;
      }
      return -1;
    }
    return this.walk(k, maxLen);
  }

  /**
   * Attaches two ints to the stored prefix k/len (k masked to len), kept until the prefix is
   * removed; false when k/len is not stored.
   */
  setPayload(k: ArrayLike<number>, len: number, a: number, b: number): boolean {
    const m = this.masked;
    for (let w = 0; w < m.length; w++) {
      const keep = len - w * 32;
      m[w] = keep >= 32 ? k[w]! : keep <= 0 ? 0 : k[w]! & (0xffffffff << (32 - keep));
    }
    const base = this.index.find(m, len);
    if (base < 0 || this.vals[this.index.slots[base + 1]!] === undefined) return false;
    this.index.slots[base + 2 + this.wordCount] = a;
    this.index.slots[base + 3 + this.wordCount] = b;
    return true;
  }

  /**
   * Longest-prefix match of an address returning the match's payload in out[0], out[1] (and its
   * node), reading only the index: the hot path of a Map-Server answering from encoded replies.
   * Returns the node, or -1.
   */
  matchPayload(k: ArrayLike<number>, out: Int32Array): number {
    const lengths = this.lengthsDesc;
    const m = this.masked;
    const W = this.wordCount;
    if (lengths.length <= MAX_INDEXED_LENGTHS) {
      for (let i = 0; i < lengths.length; i++) {
        const len = lengths[i]!;
        for (let w = 0; w < W; w++) {
          const keep = len - w * 32;
          m[w] = keep >= 32 ? k[w]! : keep <= 0 ? 0 : k[w]! & (0xffffffff << (32 - keep));
        }
        const base = this.index.find(m, len);
        if (base >= 0) {
          const slots = this.index.slots;
          out[0] = slots[base + 2 + W]!;
          out[1] = slots[base + 3 + W]!;
          return slots[base + 1]!;
        }
      }
      return -1;
    }
    const n = this.walk(k, this.bits);
    if (n < 0) return -1;
    const base = this.index.find(this.nodes.subarray(n * this.stride, n * this.stride + W), this.lenOf(n));
    out[0] = this.index.slots[base + 2 + W]!;
    out[1] = this.index.slots[base + 3 + W]!;
    return n;
  }

  /** Longest-prefix match by walking the trie (many distinct lengths, or a length bound). */
  private walk(k: ArrayLike<number>, maxLen: number): number {
    const nodes = this.nodes;
    const S = this.stride;
    const M = this.metaOff;
    let n = 0;
    let meta = nodes[M]!;
    let best = meta & HAS_VALUE ? 0 : -1;
    for (;;) {
      const len = meta & 0xff;
      if (len >= maxLen) return best;
      const c = nodes[n * S + M + 1 + ((k[len >>> 5]! >>> (31 - (len & 31))) & 1)]!;
      if (c === NONE) return best;
      meta = nodes[c * S + M]!;
      if ((meta & 0xff) > maxLen || !this.covers(k, c, meta & 0xff)) return best;
      if (meta & HAS_VALUE) best = c;
      n = c;
    }
  }

  valueAt(node: number): V {
    return this.vals[node] as V;
  }

  maskLenAt(node: number): number {
    return this.lenOf(node);
  }

  wordsAt(node: number): Uint32Array {
    const base = node * this.stride;
    return new Uint32Array(this.nodes.subarray(base, base + this.wordCount));
  }

  /** Longest-prefix match of a full-length key. */
  match(k: ArrayLike<number>): TrieMatch<V> | undefined {
    const n = this.matchNode(k);
    if (n < 0) return undefined;
    return { value: this.vals[n] as V, maskLen: this.lenOf(n), words: this.wordsAt(n) };
  }

  /**
   * The length L of the shortest prefix k/L that contains no stored prefix, ignoring stored
   * prefixes that contain k itself (those are what match() finds). This is the prefix a negative
   * Map-Reply names: as wide as possible without hiding any registered more-specific.
   * Returns 0 when no stored prefix lies beside k (the whole space is free).
   */
  holeLen(k: ArrayLike<number>): number {
    let n = 0;
    let best = 0;
    for (;;) {
      const len = this.lenOf(n);
      if (len >= this.bits) return best;
      const b = PrefixTrie.bitOf(k, len);
      if (this.kid(n, 1 - b) !== NONE) best = len + 1;
      const c = this.kid(n, b);
      if (c === NONE) return best;
      const clen = this.lenOf(c);
      const m = this.commonLen(k, c, clen);
      if (m < clen) return Math.max(best, m + 1);
      n = c;
    }
  }

  /** True when some stored prefix lies inside k/len (including k/len itself). */
  hasWithin(k: ArrayLike<number>, len: number): boolean {
    let n = 0;
    for (;;) {
      const nlen = this.lenOf(n);
      if (nlen >= len) return this.vals[n] !== undefined || this.kid(n, 0) !== NONE || this.kid(n, 1) !== NONE;
      const c = this.kid(n, PrefixTrie.bitOf(k, nlen));
      if (c === NONE) return false;
      const lim = Math.min(len, this.lenOf(c));
      if (this.commonLen(k, c, lim) < lim) return false;
      n = c;
    }
  }

  /** Every stored prefix (depth-first, in key order). */
  *entries(): IterableIterator<TrieMatch<V>> {
    const stack: number[] = [0];
    while (stack.length) {
      const n = stack.pop()!;
      if (this.vals[n] !== undefined) yield { value: this.vals[n] as V, maskLen: this.lenOf(n), words: this.wordsAt(n) };
      const k1 = this.kid(n, 1);
      const k0 = this.kid(n, 0);
      if (k1 !== NONE) stack.push(k1);
      if (k0 !== NONE) stack.push(k0);
    }
  }
}
