/**
 * The underlay addresses of plain sites (no control tunnel): where each registration came from
 * and the RLOCs it names. A Map-Request from one of them is taken as that site's xTR speaking (or one
 * of the sites', when several share an address): it may name the site's EIDs as source EID (a
 * push, a subscription) and have its reply sent to another of these addresses. This is all a plain site has (the issue's limit, see the README): a sender
 * that spoofs a plain site's RLOC speaks for that site as far as Map-Requests go.
 */
import { eidPrefixKey, type EidPrefix } from '../mapping/eid.js';

export class SiteAddresses {
  /** prefix key -> [site, addresses] of the registration */
  private readonly byPrefix = new Map<string, { site: string; addresses: string[] }>();
  /** address -> site -> registrations naming it */
  private readonly byAddress = new Map<string, Map<string, number>>();

  get size(): number {
    return this.byAddress.size;
  }

  /** Records (or replaces) the addresses of one registration. */
  set(prefix: EidPrefix, site: string, addresses: Iterable<string>): void {
    this.delete(prefix);
    const list = [...new Set(addresses)];
    this.byPrefix.set(eidPrefixKey(prefix), { site, addresses: list });
    for (const a of list) {
      let m = this.byAddress.get(a);
      if (!m) this.byAddress.set(a, (m = new Map()));
      m.set(site, (m.get(site) ?? 0) + 1);
    }
  }

  delete(prefix: EidPrefix): void {
    const k = eidPrefixKey(prefix);
    const e = this.byPrefix.get(k);
    if (!e) return;
    this.byPrefix.delete(k);
    for (const a of e.addresses) {
      const m = this.byAddress.get(a)!;
      const n = m.get(e.site)! - 1;
      if (n) m.set(e.site, n);
      else m.delete(e.site);
      if (!m.size) this.byAddress.delete(a);
    }
  }

  /** Whether some site registered from or names `address`. */
  known(address: string): boolean {
    return this.byAddress.has(address);
  }

  /** The sites that registered from or name `address`. */
  sitesAt(address: string): Iterable<string> {
    return this.byAddress.get(address)?.keys() ?? [];
  }

  /** Whether one site has both addresses. */
  shareSite(a: string, b: string): boolean {
    const ma = this.byAddress.get(a);
    const mb = this.byAddress.get(b);
    if (!ma || !mb) return false;
    for (const site of ma.keys()) if (mb.has(site)) return true;
    return false;
  }

  /** Whether `address` is one of `site`'s. */
  has(site: string, address: string): boolean {
    return this.byAddress.get(address)?.has(site) ?? false;
  }
}
