/**
 * Installs resolved mappings into the data plane: for an EID prefix, a WireGuard peer on the
 * data interface (its public key, allowed-ips = the prefix, endpoint = RLOC:data-port) and a
 * route for the prefix through the data interface, more specific than the TUN's route for the
 * EID space. No process is spawned: the peer goes over the persistent UAPI (or netlink)
 * connection of the WgDevice, the route over rtnetlink.
 *
 * It owns the prefix -> peer table: a peer can hold several prefixes (an xTR with several EID
 * prefixes under one key); a prefix belongs to one peer, the last one it was given to.
 *
 * A key is not borrowed: a peer remembers the prefixes it was installed for, and a record for
 * another prefix carrying its key joins it (widening its allowed-ips) only when the record's RLOC
 * is the peer's endpoint already (the same xTR: its IPv4 and IPv6 prefixes). Otherwise a site
 * that registered another site's key would move that site's peer to its own RLOC and take its
 * traffic: the record is refused (InstallRefused 'peer-key-conflict') and the peer untouched. A
 * record for one of the peer's own prefixes may move it (mobility). New peers beyond `maxPeers`
 * are refused ('limit-peers'); none is evicted, since any may carry traffic.
 */
import type { WgDevice } from '../wg/types.js';
import type { Rtnetlink } from '../net/rtnetlink.js';
import { keyToHex } from '../wg/keys.js';
import type { IpFamily } from '../ip/ip.js';
import { InstallRefused } from './dataplane.js';

export interface InstalledPeer {
  publicKey: Buffer;
  /** EID prefixes (canonical CIDR text) routed to the peer. */
  prefixes: Set<string>;
  /** The RLOC the endpoint was last set to (WireGuard may have roamed since). */
  rloc?: string;
  source: 'map-reply' | 'map-notify';
  installedAt: number;
}

export interface InstallTiming {
  /** When the peer was asked for, set, and then the route (performance.now(); route: only for a new prefix). */
  requestedAt: number;
  peerAt: number;
  routeAt?: number;
  /** What changed: a new peer, a new prefix on a known peer, a new endpoint, or nothing. */
  change: 'new-peer' | 'new-prefix' | 'endpoint' | 'none';
}

export interface InstallerOptions {
  dataInterface: string;
  port: number;
  table: number;
  /** Preferred source per family (mn mode: the node's EID). */
  src: Partial<Record<IpFamily, string>>;
  /** Peers installed at most (limits.peers). */
  maxPeers: number;
}

export class Installer {
  private readonly peers = new Map<string, InstalledPeer>();
  private readonly prefixOwner = new Map<string, string>();
  /** The data interface's index: routes name it, which spares a lookup per route. */
  private ifindex: number;

  constructor(
    private readonly wg: WgDevice,
    private readonly rt: Rtnetlink,
    private readonly opts: InstallerOptions,
  ) {
    this.ifindex = rt.linkIndex(opts.dataInterface);
  }

  /**
   * Adds or updates the peer for `prefix`; resolves once peer and route are both in place.
   * `onPeerSet`: called as soon as WireGuard holds the peer, before the route is added.
   */
  async install(prefix: string, publicKey: Uint8Array, rloc: string | undefined, source: InstalledPeer['source'], onPeerSet?: () => void): Promise<InstallTiming> {
    const id = keyToHex(publicKey);
    let peer = this.peers.get(id);
    const previousOwner = this.prefixOwner.get(prefix);
    const newPeer = !peer;
    const newPrefix = !peer?.prefixes.has(prefix);
    const newEndpoint = rloc !== undefined && peer?.rloc !== rloc;
    if (!newPeer && !newPrefix && !newEndpoint) return { requestedAt: performance.now(), peerAt: performance.now(), change: 'none' };
    if (peer && newPrefix && newEndpoint) {
      throw new InstallRefused('peer-key-conflict', `a record for ${prefix} carries the key of the peer of ${[...peer.prefixes].join(', ')} at ${peer.rloc}, with another RLOC ${rloc}: refused, the peer is left as it is`);
    }
    if (!peer && this.peers.size >= this.opts.maxPeers) throw new InstallRefused('limit-peers', `${this.peers.size} peers installed (limits.peers): no new peer for ${prefix}`);

    if (!peer) {
      peer = { publicKey: Buffer.from(publicKey), prefixes: new Set(), source, installedAt: Date.now() };
      this.peers.set(id, peer);
    }
    peer.prefixes.add(prefix);
    if (rloc !== undefined) peer.rloc = rloc;
    this.prefixOwner.set(prefix, id);
    // peer first, route second: until the route is in, packets keep coming to the TUN and queue
    // behind the buffered ones, so that releasing them right after keeps the flow in order
    const requestedAt = performance.now();
    try {
      await this.wg.setPeer({
        publicKey,
        allowedIps: [prefix],
        ...(rloc !== undefined ? { endpoint: { address: rloc, port: this.opts.port } } : {}),
      });
    } catch (e) {
      this.forgetPrefix(prefix, id);
      throw e;
    }
    const peerAt = performance.now();
    onPeerSet?.();
    let routeAt: number | undefined;
    if (newPrefix) {
      this.setRoute(prefix);
      routeAt = performance.now();
    }
    // the prefix moved from another key (a re-keyed site): WireGuard moved it; drop an empty peer
    if (previousOwner && previousOwner !== id) await this.dropIfEmpty(previousOwner, prefix);
    return { requestedAt, peerAt, ...(routeAt !== undefined ? { routeAt } : {}), change: newPeer ? 'new-peer' : newPrefix ? 'new-prefix' : 'endpoint' };
  }

  /** Removes `prefix`: its route, and its peer when no other prefix uses it. */
  async remove(prefix: string): Promise<InstalledPeer | undefined> {
    const id = this.prefixOwner.get(prefix);
    if (!id) return undefined;
    const peer = this.peers.get(id)!;
    this.deleteRoute(prefix);
    this.forgetPrefix(prefix, id);
    if (peer.prefixes.size === 0) {
      this.peers.delete(id);
      await this.wg.removePeer(peer.publicKey);
    } else await this.wg.setPeer({ publicKey: peer.publicKey, allowedIps: [...peer.prefixes], replaceAllowedIps: true });
    return peer;
  }

  /** Removes every prefix routed to the peer with this key (idle peer, revoked key). */
  async removePeer(publicKey: Uint8Array): Promise<string[]> {
    const peer = this.peers.get(keyToHex(publicKey));
    if (!peer) return [];
    const prefixes = [...peer.prefixes];
    for (const p of prefixes) await this.remove(p);
    return prefixes;
  }

  /**
   * Removes and re-adds a peer, dropping its sessions: its next packet starts a new handshake.
   * For a peer that went silent although its mapping did not change (it restarted, lost our key).
   */
  async reset(publicKey: Uint8Array): Promise<boolean> {
    const peer = this.peers.get(keyToHex(publicKey));
    if (!peer) return false;
    await this.wg.removePeer(peer.publicKey);
    await this.wg.setPeer({
      publicKey: peer.publicKey,
      allowedIps: [...peer.prefixes],
      replaceAllowedIps: true,
      ...(peer.rloc !== undefined ? { endpoint: { address: peer.rloc, port: this.opts.port } } : {}),
    });
    return true;
  }

  /** The peer that holds `prefix`. */
  peerOf(prefix: string): InstalledPeer | undefined {
    const id = this.prefixOwner.get(prefix);
    return id ? this.peers.get(id) : undefined;
  }

  /** Number of peers installed. */
  size(): number {
    return this.peers.size;
  }

  all(): IterableIterator<InstalledPeer> {
    return this.peers.values();
  }

  /** Puts every route back (after wireguard-go was restarted: routes died with its interface). */
  reinstallRoutes(): void {
    this.ifindex = this.rt.linkIndex(this.opts.dataInterface);
    for (const prefix of this.prefixOwner.keys()) this.setRoute(prefix);
  }

  /** Removes every route and peer (shutdown); errors are collected, not thrown halfway. */
  async clear(): Promise<Error[]> {
    const errors: Error[] = [];
    for (const prefix of [...this.prefixOwner.keys()]) {
      try {
        await this.remove(prefix);
      } catch (e) {
        errors.push(e as Error);
      }
    }
    return errors;
  }

  /** Sets the route of an installed prefix again (it went missing). */
  repairRoute(prefix: string): void {
    if (this.prefixOwner.has(prefix)) this.setRoute(prefix);
  }

  private setRoute(prefix: string): void {
    const family = prefix.includes(':') ? 'ipv6' : 'ipv4';
    const src = this.opts.src[family];
    this.rt.replaceRoute({ dst: prefix, dev: this.ifindex, table: this.opts.table, ...(src ? { src } : {}) });
  }

  private deleteRoute(prefix: string): void {
    try {
      this.rt.delRoute({ dst: prefix, dev: this.ifindex, table: this.opts.table });
    } catch {
      // already gone (the interface was re-created, or someone removed it): nothing to undo
    }
  }

  private forgetPrefix(prefix: string, id: string): void {
    this.peers.get(id)?.prefixes.delete(prefix);
    if (this.prefixOwner.get(prefix) === id) this.prefixOwner.delete(prefix);
  }

  private async dropIfEmpty(id: string, prefix: string): Promise<void> {
    const old = this.peers.get(id);
    if (!old) return;
    old.prefixes.delete(prefix);
    if (old.prefixes.size === 0) {
      this.peers.delete(id);
      await this.wg.removePeer(old.publicKey);
    }
  }
}
