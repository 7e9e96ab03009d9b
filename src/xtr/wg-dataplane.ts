/**
 * The WireGuard data plane of the agent (the paper's design, Fig. 4): a WireGuard data interface
 * whose peers are the resolved sites, and a TUN holding the route for the EID space.
 *
 * - Miss: a packet read from the TUN has no map-cache entry: it is buffered (bounded) and the
 *   core resolves its destination. Once the mapping is installed (peer, then a route more
 *   specific than the TUN's) the buffered packets are written back into the TUN: the kernel now
 *   routes them into WireGuard.
 * - A packet still coming to the TUN for an installed prefix was queued before the route went
 *   in; past ROUTE_RACE_MS the route must have gone missing: it is put back.
 * - Peer upkeep (wg-timers.ts): idle peers are removed, a peer sent to that stays silent is
 *   re-resolved (double jump), a first handshake that does not complete re-creates the peer.
 */
import { TunDevice } from '../dataplane/tun/tun.js';
import { ipDestination } from '../dataplane/ip.js';
import { PacketBuffer } from '../dataplane/packet-buffer.js';
import { eidPrefixText, type EidPrefix } from '../mapping/eid.js';
import { familyBits, familyOf } from '../ip/ip.js';
import { prefixOf } from '../mapping/database.js';
import type { Rtnetlink } from '../net/rtnetlink.js';
import type { Logger } from '../util/log.js';
import { openWireGuard, type WgDevice } from '../wg/wireguard.js';
import { keyToBase64, keyToHex } from '../wg/keys.js';
import type { AgentConfig } from './config.js';
import { InstallRefused, type DataPlane, type DataPlaneHost, type Mapping } from './dataplane.js';
import { Installer } from './install.js';
import { loadOrCreateKey, type AgentKey } from './key-source.js';
import type { Plan } from './plan.js';
import type { PeerStatus, WireGuardStatusPart } from './show.js';
import { openMissTun } from './site.js';
import type { StateFile } from './state.js';
import { PeerTimers } from './wg-timers.js';

/** Re-creations of a peer whose first handshake does not complete (see watchHandshake). */
const HANDSHAKE_RETRIES = 3;
/** A packet for an installed prefix still arriving on the TUN this long after install: the route is gone. */
const ROUTE_RACE_MS = 1000;
const round = (v: number) => Math.round(v * 1000) / 1000;

export interface WireGuardDataPlaneOptions {
  config: AgentConfig;
  plan: Plan;
  state: StateFile;
  rt: Rtnetlink;
  log: Logger;
}

export class WireGuardDataPlane implements DataPlane {
  readonly kind = 'wireguard' as const;
  readonly needsKey = true;
  private key!: AgentKey;
  private host!: DataPlaneHost;
  private data: WgDevice | undefined;
  private tun: TunDevice | undefined;
  private installer!: Installer;
  private readonly buffer: PacketBuffer;
  private readonly timers: PeerTimers;
  /** Installed prefixes: when their peer and route went in (performance.now()). */
  private readonly installedAt = new Map<string, number>();
  private closed = false;

  constructor(private readonly o: WireGuardDataPlaneOptions) {
    const c = o.config;
    this.buffer = new PacketBuffer({ maxPackets: c.missBuffer.packets, maxBytes: c.missBuffer.bytes, maxDestinations: c.missBuffer.destinations, maxAgeMs: c.missBuffer.maxAgeMs });
    this.timers = new PeerTimers(c.timers);
  }

  get registrationKey(): Uint8Array {
    return this.key.publicKey;
  }

  async open(host: DataPlaneHost): Promise<void> {
    const { config: c, plan: p, state, rt, log } = this.o;
    this.host = host;
    this.key = await loadOrCreateKey(c.data.privateKey, 'data');
    if (this.key.generated) log.info('generated the data key', { file: 'file' in c.data.privateKey ? (c.data.privateKey as { file: string }).file : undefined });
    const dataIf = p.interfaces.find((i) => i.role === 'data')!;
    state.addInterface(dataIf.name);
    this.data = await openWireGuard({ name: dataIf.name, privateKey: this.key.privateKey, listenPort: c.data.port, addresses: dataIf.addresses, backend: c.wireguard.backend, log: log.child({ wg: dataIf.name }) });
    this.installer = new Installer(this.data, rt, { dataInterface: dataIf.name, port: c.data.port, table: c.table, src: p.install.src, maxPeers: c.limits.peers });
    this.data.onRestart(() => {
      log.warn('the data interface was re-created: putting its routes back');
      this.installer.reinstallRoutes();
    });
    // as the data interface: what is released must fit into it
    this.tun = openMissTun(c, p, state, rt, 1420);
    this.tun.onPacket(
      (pkt) => {
        try {
          this.onTunPacket(pkt);
        } catch (e) {
          host.fault('packet from the TUN', e);
        }
      },
      (e) => host.fault('reading the TUN', e),
    );
  }

  // --- miss path --------------------------------------------------------------------------------

  private onTunPacket(pkt: Buffer): void {
    const dst = ipDestination(pkt);
    if (!dst) return this.host.count('tun-not-ip');
    const entry = this.host.lookup(dst);
    const policy = this.o.config.missPolicy;
    if (entry?.kind === 'negative') return this.buffer.dropUnbuffered('negative');
    if (entry) {
      const key = eidPrefixText(entry.prefix);
      const at = this.installedAt.get(key);
      if (at === undefined) {
        // being installed: wait with the others
        if (policy === 'buffer') this.buffer.push(key, pkt);
        else this.buffer.dropUnbuffered('policy');
        return;
      }
      // installed: a packet that was queued on the TUN before the route went in; past the race
      // window the route must have gone missing: put it back
      if (performance.now() - at > ROUTE_RACE_MS) {
        this.host.count('route-repaired');
        this.installer.repairRoute(key);
        this.installedAt.set(key, performance.now());
      }
      this.tun!.write(pkt);
      this.host.count('rerouted');
      return;
    }
    if (!this.host.miss(dst, pkt.length)) return;
    if (policy === 'buffer') this.buffer.push(`${dst}/${familyBits(familyOf(dst))}`, pkt);
    else this.buffer.dropUnbuffered('policy');
  }

  // --- install ----------------------------------------------------------------------------------

  async install(m: Mapping, onReady?: () => void): Promise<void> {
    const key = m.key!;
    const rloc = m.locators[0]!.address;
    const c = this.o.config;
    const id = keyToHex(key);
    const known = this.installedAt.has(m.text) && this.installer.peerOf(m.text)?.publicKey.equals(Buffer.from(key)) === true;
    const installed = this.installedAt.get(m.text);
    // a new key for the prefix: what arrives meanwhile waits for it
    if (!known) this.installedAt.delete(m.text);
    let timing;
    try {
      timing = await this.installer.install(m.text, key, rloc, m.source, onReady);
    } catch (e) {
      // refused: nothing changed, what the prefix had stays (the core drops what waited)
      if (e instanceof InstallRefused) {
        if (installed !== undefined) this.installedAt.set(m.text, installed);
        throw e;
      }
      this.installedAt.delete(m.text);
      this.unresolved(m.text);
      throw e;
    }
    if (timing.change !== 'none' || !known) {
      const ev = timing.change === 'endpoint' ? 'peer-updated' : 'peer-installed';
      this.host.emit(ev, { prefix: m.text, rloc, endpointPort: c.data.port, source: m.source, change: timing.change, publicKey: keyToBase64(key), wgSetMs: round(timing.peerAt - timing.requestedAt) }, timing.peerAt);
      if (timing.routeAt !== undefined) this.host.emit('route-installed', { prefix: m.text, dev: c.data.interface }, timing.routeAt);
      if (timing.change === 'endpoint') this.timers.endpointChanged(id);
    }
    // a push means its site is about to send to us: restart the idle clock, or an upkeep round
    // could remove the peer in the few ms before that site's handshake arrives
    if (m.source === 'map-notify') this.timers.pushed(id);
    if (!known) this.installedAt.set(m.text, timing.peerAt);
    if (m.silent && timing.change === 'none' && (await this.installer.reset(key))) {
      // same key, same RLOC, and still silent: the peer lost our session (it restarted); a
      // fresh handshake brings it back (WireGuard alone would wait for its 15-s rekey timeout)
      this.host.emit('peer-reset', { prefix: m.text, rloc });
    }
    if (m.missAt !== undefined && timing.change !== 'none') this.host.missToInstalled((timing.routeAt ?? timing.peerAt) - m.missAt);
    const released = this.release(m.prefix);
    if (released.length && timing.change === 'new-peer') this.watchHandshake(key, released, 1);
  }

  /**
   * We initiate the handshake of a peer we resolved. If the destination did not hold our key yet
   * when our initiation arrived (its push came late), WireGuard drops it silently and retries only
   * after 5 s. So: no handshake completed after `handshake-retry` (doubling, a few times) -> the
   * peer is re-created, which makes the next packet start a new handshake, and the released
   * packets (none of which could have been delivered without a session) are released again.
   */
  private watchHandshake(key: Uint8Array, packets: Uint8Array[], attempt: number): void {
    const id = keyToHex(key);
    if (this.closed) return;
    this.timers.watchHandshake(id, attempt, (wait) => {
      void (async () => {
        if (this.closed) return;
        const s = (await this.data!.peers()).find((p) => keyToHex(p.publicKey) === id);
        if (!s || s.lastHandshake) return;
        if (attempt > HANDSHAKE_RETRIES) {
          this.host.emit('handshake-gave-up', { publicKey: keyToBase64(key), attempts: attempt - 1 });
          return;
        }
        if (!(await this.installer.reset(key))) return;
        this.host.count('handshake-retries');
        this.host.emit('handshake-retry', { publicKey: keyToBase64(key), attempt, afterMs: wait, packets: packets.length });
        for (const p of packets) this.tun!.write(p);
        this.watchHandshake(key, packets, attempt + 1);
      })().catch((e: unknown) => this.host.fault('handshake watch', e));
    });
  }

  /** Writes the packets buffered for destinations inside `prefix` back into the TUN; returns them. */
  private release(prefix: EidPrefix): Uint8Array[] {
    const all: Uint8Array[] = [];
    let first = true;
    for (const k of this.bufferedIn(prefix)) {
      const pkts = this.buffer.take(k);
      for (const p of pkts) {
        this.tun!.write(p);
        if (first) {
          this.host.emit('first-packet-released', { prefix: eidPrefixText(prefix), eid: k });
          first = false;
        }
      }
      if (pkts.length) this.host.emit('packets-released', { prefix: eidPrefixText(prefix), eid: k, packets: pkts.length });
      all.push(...pkts);
    }
    return all;
  }

  /** Buffer keys ("address/len") inside `prefix`. */
  private bufferedIn(prefix: EidPrefix): string[] {
    return [...this.buffer.keys()].filter((k) => {
      const slash = k.lastIndexOf('/');
      const address = k.slice(0, slash);
      return familyOf(address) === prefix.afi && Number(k.slice(slash + 1)) >= prefix.maskLen && prefixOf(prefix.iid, prefix.afi, address, prefix.maskLen).address === prefix.address;
    });
  }

  negative(prefix: EidPrefix): void {
    for (const k of this.bufferedIn(prefix)) this.buffer.discard(k, 'negative');
  }

  unresolved(dest: string): number {
    const slash = dest.lastIndexOf('/');
    const address = dest.slice(0, slash);
    const prefix = prefixOf(this.o.config.instanceId, familyOf(address), address, Number(dest.slice(slash + 1)));
    let dropped = 0;
    for (const k of this.bufferedIn(prefix)) dropped += this.buffer.discard(k, 'unresolved');
    return dropped;
  }

  async remove(prefix: EidPrefix, why: string): Promise<void> {
    const text = eidPrefixText(prefix);
    this.installedAt.delete(text);
    const peer = await this.installer.remove(text);
    if (!peer) return;
    this.host.emit('peer-removed', { prefix: text, why, publicKey: keyToBase64(peer.publicKey), peerGone: peer.prefixes.size === 0 });
    if (peer.prefixes.size === 0) this.timers.forget(keyToHex(peer.publicKey));
  }

  async revokeKey(key: Uint8Array): Promise<string[]> {
    const removed = await this.installer.removePeer(key);
    for (const p of removed) this.installedAt.delete(p);
    this.timers.forget(keyToHex(key));
    return removed;
  }

  lastActive(prefix: EidPrefix): number | undefined {
    const peer = this.installer.peerOf(eidPrefixText(prefix));
    return peer && this.timers.lastActive(keyToHex(peer.publicKey));
  }

  lastReceived(prefix: EidPrefix): number | undefined {
    const peer = this.installer.peerOf(eidPrefixText(prefix));
    return peer && this.timers.lastReceived(keyToHex(peer.publicKey));
  }

  // --- upkeep -----------------------------------------------------------------------------------

  /** After a move every peer is given its endpoint again (wireguard-go pins the source address it last sent from). */
  async moved(): Promise<void> {
    if (this.installer.size() === 0) return;
    const port = this.o.config.data.port;
    const current = new Map((await this.data!.peers()).map((s) => [keyToHex(s.publicKey), s.endpoint]));
    for (const peer of this.installer.all()) {
      const ep = current.get(keyToHex(peer.publicKey)) ?? (peer.rloc ? { address: peer.rloc, port } : undefined);
      if (ep) await this.data!.setPeer({ publicKey: peer.publicKey, endpoint: ep, allowedIps: [] });
    }
  }

  async upkeep(): Promise<void> {
    this.buffer.expire();
    if (this.installer.size() === 0) return;
    const byKey = new Map((await this.data!.peers()).map((s) => [keyToHex(s.publicKey), s]));
    for (const peer of [...this.installer.all()]) {
      const id = keyToHex(peer.publicKey);
      const s = byKey.get(id);
      if (!s) continue;
      const v = this.timers.sample(id, s);
      if (v.silentMs !== undefined) {
        this.host.emit('peer-silent', { publicKey: keyToBase64(peer.publicKey), prefixes: [...peer.prefixes], silentMs: Math.round(v.silentMs) });
        this.host.silent([...peer.prefixes]);
      }
      if (v.idleMs !== undefined) {
        this.host.emit('peer-idle', { publicKey: keyToBase64(peer.publicKey), prefixes: [...peer.prefixes], idleS: Math.round(v.idleMs / 1000) });
        await this.host.idle([...peer.prefixes]);
      }
    }
  }

  async flush(): Promise<void> {
    for (const p of [...this.installer.all()]) await this.installer.removePeer(p.publicKey);
    this.installedAt.clear();
    this.timers.clear();
    for (const k of [...this.buffer.keys()]) this.buffer.discard(k, 'unresolved');
  }

  async status(): Promise<WireGuardStatusPart> {
    const c = this.o.config;
    const stats = this.installer.size() > 0 ? await this.data!.peers() : [];
    const byKey = new Map(stats.map((s) => [keyToHex(s.publicKey), s]));
    const peers: PeerStatus[] = [...this.installer.all()].map((p) => {
      const s = byKey.get(keyToHex(p.publicKey));
      const ep = s?.endpoint ?? (p.rloc ? { address: p.rloc, port: c.data.port } : undefined);
      return {
        publicKey: keyToBase64(p.publicKey),
        eidPrefixes: [...p.prefixes],
        ...(ep ? { endpoint: ep.address.includes(':') ? `[${ep.address}]:${ep.port}` : `${ep.address}:${ep.port}` } : {}),
        ...(s?.lastHandshake ? { latestHandshakeS: (Date.now() - s.lastHandshake.getTime()) / 1000 } : {}),
        rxBytes: s?.rxBytes ?? 0,
        txBytes: s?.txBytes ?? 0,
        source: p.source,
        installedAgoS: (Date.now() - p.installedAt) / 1000,
      };
    });
    const b = this.buffer.stats();
    return {
      dataPlane: 'wireguard',
      wireguardBackend: this.data!.backend,
      interfaces: { data: c.data.interface, tun: c.tun.interface, dataPort: c.data.port, publicKey: keyToBase64(this.key.publicKey) },
      peers,
      buffer: { buffered: b.buffered, destinations: b.destinations, released: b.released, dropped: b.dropped },
      counters: {},
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.timers.clear();
    const errors: unknown[] = [];
    const attempt = async (f: () => unknown) => {
      try {
        await f();
      } catch (e) {
        errors.push(e);
      }
    };
    if (this.installer) await attempt(async () => {
      const errs = await this.installer.clear();
      if (errs.length) throw errs[0];
    });
    if (this.tun) await attempt(() => this.tun!.close());
    if (this.data) await attempt(() => this.data!.close());
    if (errors.length) throw errors[0];
  }
}
