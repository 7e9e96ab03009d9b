/**
 * Which site a WireGuard public key belongs to. A key is one site's: listed in its
 * `wireguard-keys` (the config refuses a key listed twice), or bound by the first registration
 * that carries it and held from then on, also while no registration carries it, so another site
 * can never register it and have its mapping (its RLOC) answered under that key. A site holds at
 * most as many bound keys as it may hold registrations (`max-registrations`); when it needs
 * another (an xTR restarted with a fresh key), the keys none of its registrations carries any
 * more are let go first. Each binding counts the registrations that carry it, so that costs no
 * scan of the registry.
 */
import type { Site } from './sites.js';

export type BindResult = 'ok' | 'other-site' | 'site-full';

interface Binding {
  site: string;
  /** Registrations carrying the key now. */
  uses: number;
}

/** Told of each binding made and let go (the store journals them). */
export interface BindingHooks {
  bound(key: string, site: string): void;
  unbound(key: string): void;
}

export class KeyBindings {
  hooks: BindingHooks | undefined;
  private configured = new Map<string, string>();
  private readonly bound = new Map<string, Binding>();
  private readonly bySite = new Map<string, Set<string>>();

  get size(): number {
    return this.bound.size;
  }

  /** Takes the keys the sites list; forgets bindings of sites that are gone or keys now listed by another. */
  configure(sites: Iterable<Site>): void {
    this.configured = new Map();
    const names = new Set<string>();
    for (const s of sites) {
      names.add(s.name);
      for (const k of s.wireguardKeys ?? []) this.configured.set(k, s.name);
    }
    for (const [key, b] of this.bound) {
      const listed = this.configured.get(key);
      if (!names.has(b.site) || (listed !== undefined && listed !== b.site)) this.unbind(key, b.site);
    }
  }

  /** Whether `site` holds a bound key (it registers with WireGuard keys). */
  holds(site: string): boolean {
    return this.bySite.has(site);
  }

  /** Whether a site's configuration lists `key` (rather than a registration bound it). */
  listed(key: string): boolean {
    return this.configured.has(key);
  }

  /** The site that owns `key`, if any. */
  ownerOf(key: string): string | undefined {
    return this.configured.get(key) ?? this.bound.get(key)?.site;
  }

  /** May `site` register `key`? Binds it to the site when no one owns it (up to `limit` keys a site). */
  bind(site: string, key: string, limit: number): BindResult {
    const owner = this.ownerOf(key);
    if (owner !== undefined) {
      if (owner !== site) return 'other-site';
      if (!this.bound.has(key)) this.add(site, key); // a listed key: counted like the others
      return 'ok';
    }
    const keys = this.bySite.get(site);
    if (keys && keys.size >= limit) {
      for (const k of [...keys]) if (this.bound.get(k)!.uses === 0) this.unbind(k, site);
      if (keys.size >= limit) return 'site-full';
    }
    this.add(site, key);
    return 'ok';
  }

  /** Puts back a binding the store held (the caller checked that the site may hold it). */
  restore(site: string, key: string): void {
    if (!this.bound.has(key)) this.add(site, key, false);
  }

  /** Lets `key` go when another replica did, unless a registration here still carries it. */
  forget(key: string): void {
    const b = this.bound.get(key);
    if (b && b.uses === 0) this.unbind(key, b.site);
  }

  /** Every binding: key -> site. */
  *entries(): IterableIterator<[string, string]> {
    for (const [key, b] of this.bound) yield [key, b.site];
  }

  /** A registration now carries `key` (bound before with `bind`). */
  use(key: string): void {
    const b = this.bound.get(key);
    if (b) b.uses++;
  }

  /** A registration no longer carries `key` (the binding is held). */
  release(key: string): void {
    const b = this.bound.get(key);
    if (b && b.uses > 0) b.uses--;
  }

  private add(site: string, key: string, tell = true): void {
    this.bound.set(key, { site, uses: 0 });
    if (tell) this.hooks?.bound(key, site);
    let keys = this.bySite.get(site);
    if (!keys) this.bySite.set(site, (keys = new Set()));
    keys.add(key);
  }

  private unbind(key: string, site: string): void {
    this.bound.delete(key);
    this.hooks?.unbound(key);
    const keys = this.bySite.get(site);
    keys?.delete(key);
    if (keys && !keys.size) this.bySite.delete(site);
  }
}
