/**
 * The data plane's copy of the map-cache: EID prefix -> the RLOC packets are encapsulated to,
 * longest-prefix match straight from a packet's destination bytes (no string, no allocation).
 * The agent owns the real map-cache (TTLs, resolution) and mirrors each change here; one table
 * serves one virtual network (instance ID), so it is keyed by family and prefix only.
 */
import { PrefixTrie } from '../../mapping/trie.js';
import { formatWords, ipWords, maskWords, type IpFamily } from '../../ip/ip.js';
import type { EidPrefix } from '../../mapping/eid.js';
import { destinationWords } from './packet.js';

/** Where encapsulated packets for a prefix go: an RLOC and the LISP data port there. */
export interface Rloc {
  address: string;
  family: 4 | 6;
  port: number;
}

/** A table entry: an RLOC, or null for a negative entry (drop, do not ask again until it expires). */
export type ForwardingEntry = Rloc | null;

/** EID prefix -> V (where packets go), or null for a negative entry. */
export class ForwardingTable<V> {
  private readonly v4 = new PrefixTrie<V | null>(32);
  private readonly v6 = new PrefixTrie<V | null>(128);
  private readonly k4 = new Uint32Array(1);
  private readonly k6 = new Uint32Array(4);

  private trie(afi: IpFamily): PrefixTrie<V | null> {
    return afi === 'ipv4' ? this.v4 : this.v6;
  }

  get size(): number {
    return this.v4.size + this.v6.size;
  }

  set(prefix: EidPrefix, entry: V | null): void {
    this.trie(prefix.afi).insert(maskWords(ipWords(prefix.afi, prefix.address), prefix.maskLen), prefix.maskLen, entry);
  }

  delete(prefix: EidPrefix): boolean {
    return this.trie(prefix.afi).delete(maskWords(ipWords(prefix.afi, prefix.address), prefix.maskLen), prefix.maskLen) !== undefined;
  }

  /**
   * The entry for the IP packet at buf[off..off+len): a value, null (negative entry), or
   * undefined (a map-cache miss, or not an IP packet: see `lastFamily`).
   */
  lookupPacket(buf: Uint8Array, off: number, len: number): V | null | undefined {
    const v = destinationWords(buf, off, len, this.k4, this.k6);
    this.lastFamily = v;
    if (v === 4) {
      const n = this.v4.matchNode(this.k4);
      return n < 0 ? undefined : this.v4.valueAt(n);
    }
    if (v === 6) {
      const n = this.v6.matchNode(this.k6);
      return n < 0 ? undefined : this.v6.valueAt(n);
    }
    return undefined;
  }

  /** The IP version of the packet last looked up (0: not IP). */
  lastFamily: 0 | 4 | 6 = 0;

  /** The destination address of the packet last looked up, as text (the miss path's key). */
  lastDestination(): string {
    return this.lastFamily === 4 ? formatWords('ipv4', this.k4) : formatWords('ipv6', this.k6);
  }

  /** The entry covering an address given as text (for buffered packets and tests). */
  lookupAddress(afi: IpFamily, address: string): V | null | undefined {
    const t = this.trie(afi);
    const n = t.matchNode(ipWords(afi, address));
    return n < 0 ? undefined : t.valueAt(n);
  }
}
