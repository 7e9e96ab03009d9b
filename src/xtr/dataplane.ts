/**
 * The agent core (core.ts) drives a data plane through `DataPlane`; the data plane reaches back
 * through `DataPlaneHost`. Two implementations: WireGuard (wg-dataplane.ts: a peer and a route
 * per mapping, peer timers in wg-timers.ts) and plain LISP (lisp-dataplane.ts: the encapsulation
 * worker of src/dataplane/lisp, SMRs).
 *
 * The core owns the map-cache, resolution, registration and events; a data plane owns its
 * interfaces, what it installed, and the packets that wait for a mapping.
 */
import type { MappingRecord } from '../lisp/index.js';
import { LispwgError } from '../util/errors.js';
import type { EidPrefix } from '../mapping/eid.js';
import type { AgentEvent } from './events.js';
import type { LispStatusPart, WireGuardStatusPart } from './show.js';
import type { Rloc } from './site.js';

export type MappingOrigin = 'map-reply' | 'map-notify';

/**
 * A data plane refuses a mapping by its own rules, having changed nothing: `install` rejects with
 * it, and the core counts `reason`, keeps what it held and drops what waited for the prefix.
 */
export class InstallRefused extends LispwgError {
  constructor(
    /** 'peer-key-conflict': the record carries the key of a peer installed for other prefixes at another RLOC; 'limit-peers': limits.peers reached. */
    readonly reason: 'peer-key-conflict' | 'limit-peers',
    message: string,
  ) {
    super('INSTALL_REFUSED', message);
  }
}

/** A usable locator of a record (priority 255 and unreachable ones left out). */
export interface UsableLocator {
  address: string;
  priority: number;
  weight: number;
}

/** A mapping the core accepted, for the data plane to install. */
export interface Mapping {
  prefix: EidPrefix;
  /** The prefix as text ("198.18.100.2/32"): the data planes' key. */
  text: string;
  record: MappingRecord;
  /** The record's usable locators, best first (never empty). */
  locators: UsableLocator[];
  /** The WireGuard key of the record (Security Key LCAF); required when the data plane `needsKey`. */
  key: Uint8Array | undefined;
  source: MappingOrigin;
  /** When the resolution that was a miss started (performance.now()); undefined for a refresh or a push. */
  missAt: number | undefined;
  /** The entry was re-resolved because its peer went silent. */
  silent: boolean;
}

/** What the core offers a data plane. */
export interface DataPlaneHost {
  /** The map-cache entry covering `dst` (longest match), for a data plane that sees misses itself. */
  lookup(dst: string): { kind: 'positive' | 'negative'; prefix: EidPrefix } | undefined;
  /** A packet for `dst` found no map-cache entry: resolve it (one request in flight per destination); false: not resolved (`dst` is outside the EID space, or limits.resolutions are in flight): drop the packet. */
  miss(dst: string, bytes?: number): boolean;
  /** Asks again for a destination ("address/len") the data plane was told about (an SMR). */
  resolve(dest: string): void;
  /** The peer of these prefixes went silent: re-resolve them. */
  silent(prefixes: readonly string[]): void;
  /** These prefixes went idle: the core forgets them and asks the data plane to remove them. */
  idle(prefixes: readonly string[]): Promise<void>;
  /** The site's records with its RLOCs now, without key (an RLOC probe is answered with them). */
  records(): MappingRecord[];
  /** The positive entries of the map-cache (SMRs go to their RLOCs). */
  positives(): Array<{ prefix: EidPrefix; rlocs: string[] }>;
  /** A mapping asked for by a miss became usable `ms` after the miss (the resolver's `miss to installed`). */
  missToInstalled(ms: number): void;
  emit(event: AgentEvent, fields?: Record<string, unknown>, mono?: number): void;
  count(what: string): void;
  fault(where: string, e: unknown): void;
}

export interface DataPlane {
  readonly kind: 'wireguard' | 'lisp';
  /** Records without a WireGuard key cannot be installed (a resolution answered so is negative). */
  readonly needsKey: boolean;
  /** The key the site's registered records carry; undefined: plain records. */
  readonly registrationKey: Uint8Array | undefined;
  /** Brings the data plane up; `host` is how it reaches the core. */
  open(host: DataPlaneHost): Promise<void>;
  /** Installs or updates a mapping, then releases what waited for it; `onReady` as soon as traffic from its site is accepted (a push's Ack waits for it). Rejects with InstallRefused when its rules refuse it (nothing changed). */
  install(m: Mapping, onReady?: () => void): Promise<void>;
  /** A negative answer for `prefix`: what waits for destinations inside it is dropped. */
  negative(prefix: EidPrefix): void;
  /** Removes what was installed for `prefix` (nothing installed: no-op). */
  remove(prefix: EidPrefix, why: string): Promise<void>;
  /** A withdrawal named `key`: removes whatever still uses it; returns the prefixes removed. */
  revokeKey(key: Uint8Array): Promise<string[]>;
  /** The resolution of `dest` (or a mapping for this prefix) failed: drops what waits for destinations inside it; returns how many packets. */
  unresolved(dest: string): number;
  /** When traffic last used the mapping of `prefix` (performance.now()); undefined: unknown or never. */
  lastActive(prefix: EidPrefix): number | undefined;
  /** When the far end last sent us something on the mapping of `prefix` (its tunnel is alive); undefined: unknown. */
  lastReceived(prefix: EidPrefix): number | undefined;
  /** We moved: our RLOCs changed after others had been registered (before the new registration goes). */
  moved(rlocs: readonly Rloc[]): Promise<void>;
  /** Optional: the Map-Server acknowledged the registration that followed a move (plain LISP: SMRs). */
  registeredAfterMove?(rlocs: readonly Rloc[]): void;
  /** One upkeep round (peer counters, buffer expiry); called from the core's tick. */
  upkeep(): Promise<void>;
  /** Forgets everything installed (after the core removed every prefix). */
  flush(): Promise<void>;
  status(): Promise<WireGuardStatusPart | LispStatusPart>;
  /** Removes what it made; idempotent. */
  close(): Promise<void>;
}
