/**
 * Which site a WireGuard public key belongs to. A key is one site's: listed in its
 * `wireguard-keys` (the config refuses a key listed twice), or bound by the first registration
 * that carries it and held from then on, so another site can never register it and have its
 * mapping (its RLOC) answered under that key. A site holds at most `perSite` bound keys; when it
 * needs another (an xTR restarted with a fresh key), the keys none of its registrations carries
 * any more are let go first.
 */
import type { Site } from './sites.js';

export type BindResult = 'ok' | 'other-site' | 'site-full';

export class KeyBindings {
  private configured = new Map<string, string>();
  private readonly owner = new Map<string, string>();
  private readonly bySite = new Map<string, Set<string>>();

  constructor(private readonly perSite: number) {}

  get size(): number {
    return this.owner.size;
  }

  /** Takes the keys the sites list; forgets bindings of sites that are gone or keys now listed by another. */
  configure(sites: Iterable<Site>): void {
    this.configured = new Map();
    const names = new Set<string>();
    for (const s of sites) {
      names.add(s.name);
      for (const k of s.wireguardKeys ?? []) this.configured.set(k, s.name);
    }
    for (const [key, site] of this.owner) {
      const listed = this.configured.get(key);
      if (!names.has(site) || (listed !== undefined && listed !== site)) this.unbind(key, site);
    }
  }

  /** The site that owns `key`, if any. */
  ownerOf(key: string): string | undefined {
    return this.configured.get(key) ?? this.owner.get(key);
  }

  /**
   * Binds `key` to `site` unless another site owns it. `inUse` lists the keys the site's current
   * registrations carry (asked only when the site is at its limit).
   */
  bind(site: string, key: string, inUse: () => ReadonlySet<string>): BindResult {
    const owner = this.ownerOf(key);
    if (owner !== undefined) return owner === site ? 'ok' : 'other-site';
    let keys = this.bySite.get(site);
    if (keys && keys.size >= this.perSite) {
      const used = inUse();
      for (const k of [...keys]) if (!used.has(k)) this.unbind(k, site);
      keys = this.bySite.get(site);
      if (keys && keys.size >= this.perSite) return 'site-full';
    }
    if (!keys) this.bySite.set(site, (keys = new Set()));
    keys.add(key);
    this.owner.set(key, site);
    return 'ok';
  }

  private unbind(key: string, site: string): void {
    this.owner.delete(key);
    const keys = this.bySite.get(site);
    keys?.delete(key);
    if (keys && !keys.size) this.bySite.delete(site);
  }
}
