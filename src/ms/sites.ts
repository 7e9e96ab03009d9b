/**
 * The configured LISP sites: who may register which EID prefixes, with which shared key, from
 * which control addresses, with which WireGuard keys. Built from the config, replaced whole on
 * reload.
 */
import { MappingDatabase } from '../mapping/database.js';
import type { EidPrefix } from '../mapping/eid.js';
import type { IpFamily } from '../ip/ip.js';
import type { SiteConfig, SitePrefixConfig } from './config.js';

export interface Site {
  readonly name: string;
  /** Shared secret of Map-Register / Map-Notify. */
  readonly key: string;
  readonly keyId: 1 | 2;
  readonly prefixes: readonly SitePrefixConfig[];
  /** Registrations it may hold at once. */
  readonly maxRegistrations: number;
  /** When set, the only WireGuard public keys (base64) the site may register. */
  readonly wireguardKeys?: ReadonlySet<string>;
  /** Control addresses of its xTRs (empty: any source may register for it). */
  readonly controlAddresses: ReadonlySet<string>;
}

export interface SitePrefixMatch {
  site: Site;
  sitePrefix: SitePrefixConfig;
}

export class SiteTable {
  private readonly byNameMap = new Map<string, Site>();
  private readonly byControlAddress = new Map<string, Site>();
  private readonly prefixes = new MappingDatabase<SitePrefixMatch>();

  constructor(configs: readonly SiteConfig[]) {
    for (const c of configs) {
      const site: Site = {
        name: c.name,
        key: c.key,
        keyId: c.keyId,
        prefixes: c.prefixes,
        maxRegistrations: c.maxRegistrations,
        ...(c.wireguardKeys ? { wireguardKeys: new Set(c.wireguardKeys) } : {}),
        controlAddresses: new Set(c.xtrs.map((x) => x.controlAddress)),
      };
      this.byNameMap.set(site.name, site);
      for (const a of site.controlAddresses) this.byControlAddress.set(a, site);
      for (const p of c.prefixes) this.prefixes.set(p.prefix, { site, sitePrefix: p });
    }
  }

  get size(): number {
    return this.byNameMap.size;
  }

  all(): IterableIterator<Site> {
    return this.byNameMap.values();
  }

  byName(name: string): Site | undefined {
    return this.byNameMap.get(name);
  }

  /** The site whose xTR owns this control address. */
  bySource(address: string): Site | undefined {
    return this.byControlAddress.get(address);
  }

  /** The most specific configured site prefix containing an EID address. */
  lookupAddress(iid: number, afi: IpFamily, address: string): SitePrefixMatch | undefined {
    return this.prefixes.lookupValue(iid, afi, address);
  }

  /**
   * The site allowed to register `prefix`: the most specific configured prefix that equals it,
   * or contains it and accepts more-specifics.
   */
  ownerOf(prefix: EidPrefix): SitePrefixMatch | undefined {
    const m = this.prefixes.covering(prefix);
    if (!m) return undefined;
    if (m.prefix.maskLen === prefix.maskLen || m.value.sitePrefix.acceptMoreSpecifics) return m.value;
    return undefined;
  }

  /** See MappingDatabase.holeLen: used to size negative replies around configured prefixes. */
  holeLen(iid: number, afi: IpFamily, address: string): number {
    return this.prefixes.holeLen(iid, afi, address);
  }
}
