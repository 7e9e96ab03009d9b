/**
 * Replay protection for the Map-Registers of sites without a control tunnel (a tunnel site's are
 * WireGuard's: a replayed tunnel packet never reaches us). Without it a captured Map-Register,
 * played back after a move, puts the old RLOC back and tells the subscribers; a captured
 * deregistration withdraws the mapping.
 *
 * - `timestamp` (lispwg's xTRs, src/lisp/nonce.ts): the nonce carries the sender's clock; it must
 *   lie within `freshMs` of ours and not have been accepted before (src/lisp/nonce.ts, per
 *   sender: the site and its xTR-ID, or its source address). A capture older than `freshMs` is refused even
 *   by a Map-Server that has just restarted; a younger one only once.
 * - `nonce-cache` (OOR: random nonces): a nonce seen among the site's last `NONCE_CACHE`
 *   Map-Registers is refused. Its limit: a capture older than that many registrations (at one a
 *   minute, about 68 hours) or taken before a restart of the Map-Server is accepted again, and an
 *   xTR that sends nonce 0 is not protected at all (counted `register-nonce-zero`).
 *
 * Senders are remembered in a table of `maxSenders` (least recently seen forgotten first: a
 * forgotten sender is still held to the freshness bound).
 */
import { ReplayWindow, type ReplayVerdict } from '../lisp/nonce.js';
import type { ReplayProtection } from './config.js';

export const NONCE_CACHE = 4096;
const WINDOW = 4096;

export class RegisterReplay {
  private readonly windows = new Map<string, ReplayWindow>();
  private readonly caches = new Map<string, Set<bigint>>();

  constructor(
    private readonly freshMs: number,
    private readonly maxSenders = 65_536,
    private readonly clock: () => number = Date.now,
  ) {}

  get size(): number {
    return this.windows.size + this.caches.size;
  }

  /** 'fresh' when the Map-Register may be applied; call `accept` once it was (after its HMAC). */
  check(mode: ReplayProtection, site: string, sender: string, nonce: bigint): ReplayVerdict {
    if (mode === 'nonce-cache') return this.caches.get(site)?.has(nonce) ? 'replayed' : 'fresh';
    const w = this.windows.get(`${site}|${sender}`);
    return (w ?? new ReplayWindow(WINDOW, this.freshMs, this.clock)).check(nonce);
  }

  accept(mode: ReplayProtection, site: string, sender: string, nonce: bigint): void {
    if (mode === 'nonce-cache') {
      let c = this.caches.get(site);
      if (!c) {
        this.evictIfFull(this.caches);
        this.caches.set(site, (c = new Set()));
      }
      c.add(nonce);
      if (c.size > NONCE_CACHE) c.delete(c.values().next().value!);
      return;
    }
    const key = `${site}|${sender}`;
    let w = this.windows.get(key);
    if (w) this.windows.delete(key); // re-inserted last: least recently seen first
    else this.evictIfFull(this.windows);
    w ??= new ReplayWindow(WINDOW, this.freshMs, this.clock);
    w.accept(nonce);
    this.windows.set(key, w);
  }

  /** Forgets what is known of sites no longer configured. */
  retain(sites: ReadonlySet<string>): void {
    for (const k of this.windows.keys()) if (!sites.has(k.slice(0, k.indexOf('|')))) this.windows.delete(k);
    for (const k of this.caches.keys()) if (!sites.has(k)) this.caches.delete(k);
  }

  private evictIfFull(m: Map<string, unknown>): void {
    if (m.size >= this.maxSenders) m.delete(m.keys().next().value!);
  }
}
