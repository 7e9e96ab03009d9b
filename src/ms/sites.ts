/**
 * The configured LISP sites: who may register which EID prefixes, with which shared key, from
 * which control addresses, with which WireGuard keys. Built from the config, replaced whole on
 * reload.
 */
import { MappingDatabase } from '../mapping/database.js';
import { eidPrefixContains, type EidPrefix } from '../mapping/eid.js';
import type { IpFamily } from '../ip/ip.js';
import type { ReplayProtection, SiteConfig, SitePrefixConfig } from './config.js';

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
  /**
   * Control addresses of its xTRs. Non-empty: a tunnel site, heard only through the control
   * tunnel from these addresses. Empty: a plain site (OOR), heard on the underlay.
   */
  readonly controlAddresses: ReadonlySet<string>;
  /** Plain sites: how their Map-Registers are protected against replay. */
  readonly replayProtection: ReplayProtection;
}

export interface SitePrefixMatch {
  site: Site;
  sitePrefix: SitePrefixConfig;
}

export class SiteTable {
  private readonly byNameMap = new Map<string, Site>();
  private readonly byControlAddress = new Map<string, Site>();
  private readonly prefixes = new MappingDatabase<SitePrefixMatch>();
  private readonly delegated: Array<{ prefix: EidPrefix; site: Site }> = [];

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
        replayProtection: c.replayProtection,
      };
      this.byNameMap.set(site.name, site);
      for (const a of site.controlAddresses) this.byControlAddress.set(a, site);
      for (const p of c.prefixes) {
        this.prefixes.set(p.prefix, { site, sitePrefix: p });
        if (p.delegatedBy !== undefined) this.delegated.push({ prefix: p.prefix, site });
      }
    }
  }

  /** True when some site prefix lies inside another site's (config checks that it was delegated). */
  get hasDelegations(): boolean {
    return this.delegated.length > 0;
  }

  /**
   * A configured prefix of another site that lies inside `prefix` (a registration of it would
   * capture that site's EIDs). Only delegated prefixes can: the config forbids any other nesting.
   */
  foreignWithin(prefix: EidPrefix, site: Site): EidPrefix | undefined {
    for (const d of this.delegated) if (d.site !== site && eidPrefixContains(prefix, d.prefix)) return d.prefix;
    return undefined;
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
