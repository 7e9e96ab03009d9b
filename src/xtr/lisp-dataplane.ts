/**
 * The plain LISP data plane of the agent (`data-plane: lisp`, the paper's OOR baseline): packets
 * routed into the TUN are encapsulated in userspace (LispDataPlane's worker, UDP 4341) to the
 * best RLOC of their map-cache entry; records carry no key. A negative entry is a mapping without
 * locators in the worker (its packets are dropped). Misses come from the worker, which applies
 * `miss-policy` itself (drop as OOR, or buffer).
 *
 * Mobility (RFC 9301 section 6.1): after our RLOC changed and the Map-Server acknowledged the
 * new registration, a Solicit-Map-Request goes to every RLOC in the map-cache (after the SMR
 * hold-down, as OOR); an SMR received makes the core ask the Map-Server again for its source EID
 * (never trusting the SMR itself). RLOC probes to our underlay locators (OOR sends them every
 * 30 s by default and marks an unanswered locator down) are answered on the same port with the
 * site's record (smr.ts; `limits.probe-replies` per second).
 */
import { LispDataPlane } from '../dataplane/lisp/dataplane.js';
import { ENCAP_OVERHEAD_IPV4, ENCAP_OVERHEAD_IPV6 } from '../dataplane/lisp/packet.js';
import { SmrEndpoint } from '../dataplane/lisp/smr.js';
import type { TunDevice } from '../dataplane/tun/tun.js';
import { eidPrefixText, type EidPrefix } from '../mapping/eid.js';
import { familyBits, familyOf } from '../ip/ip.js';
import type { Rtnetlink } from '../net/rtnetlink.js';
import type { Logger } from '../util/log.js';
import type { AgentConfig } from './config.js';
import type { DataPlane, DataPlaneHost, Mapping, MappingOrigin } from './dataplane.js';
import type { Plan } from './plan.js';
import type { LispStatusPart } from './show.js';
import { openMissTun, type Rloc } from './site.js';
import type { StateFile } from './state.js';


export interface PlainLispDataPlaneOptions {
  config: AgentConfig;
  plan: Plan;
  state: StateFile;
  rt: Rtnetlink;
  log: Logger;
}

export class PlainLispDataPlane implements DataPlane {
  readonly kind = 'lisp' as const;
  readonly needsKey = false;
  readonly registrationKey = undefined;
  private host!: DataPlaneHost;
  private tun: TunDevice | undefined;
  private dp: LispDataPlane | undefined;
  private smr: SmrEndpoint | undefined;
  private smrTimer: NodeJS.Timeout | undefined;
  /** Our RLOCs as of the last registration after a move (SMRs carry the first). */
  private rlocsNow: readonly Rloc[] = [];
  /** Mappings sent to the worker and not yet reported in its table, by prefix. */
  private readonly installing = new Map<string, { rloc: string; source: MappingOrigin; missAt: number | undefined }>();
  private readonly ownEids: string[];

  constructor(private readonly o: PlainLispDataPlaneOptions) {
    const seen = new Set<string>();
    this.ownEids = [];
    for (const e of o.config.eidPrefixes) {
      const fam = e.prefix.family;
      if (seen.has(String(fam))) continue;
      seen.add(String(fam));
      this.ownEids.push(e.address ?? e.prefix.address);
    }
  }

  async open(host: DataPlaneHost): Promise<void> {
    const { config: c, plan: p, state, rt, log } = this.o;
    this.host = host;
    // the TUN holds the EID space (and, on a mobile node, its EIDs); what enters it is encapsulated
    const mtu = 1500 - (c.mapServer.address.includes(':') ? ENCAP_OVERHEAD_IPV6 : ENCAP_OVERHEAD_IPV4);
    const addresses = c.mode === 'mn' ? c.eidPrefixes.flatMap((e) => (e.address ? [`${e.address}/${familyBits(e.prefix.family)}`] : [])) : [];
    this.tun = openMissTun(c, p, state, rt, mtu, addresses);
    this.dp = await LispDataPlane.start({
      tun: this.tun,
      instanceId: c.instanceId,
      missPolicy: c.missPolicy,
      buffer: { maxPackets: c.missBuffer.packets, maxBytes: c.missBuffer.bytes, maxDestinations: c.missBuffer.destinations, maxAgeMs: c.missBuffer.maxAgeMs },
      missReportTable: c.limits.smrHoldDown,
      onMiss: (dst) => void host.miss(dst),
      onMapped: (prefix, rloc, at) => this.onMapped(prefix, rloc, at),
      onError: (e) => host.fault('data plane', e),
      log,
    });
    this.smr = await SmrEndpoint.open({ holdDownEntries: c.limits.smrHoldDown, records: () => host.records(), probeRepliesPerSecond: c.limits.probeReplies, log });
    this.smr.onSmr((e) => this.onSmr(e.eid, e.from.address));
  }

  async install(m: Mapping): Promise<void> {
    const rloc = this.dp!.setMapping(m.prefix, m.locators);
    // 'mapping-installed' when the worker has it in its table (onMapped), not when it was sent there
    if (rloc) this.installing.set(m.text, { rloc: rloc.address, source: m.source, missAt: m.missAt });
  }

  negative(prefix: EidPrefix): void {
    this.installing.delete(eidPrefixText(prefix));
    this.dp!.setMapping(prefix, []);
  }

  async remove(prefix: EidPrefix): Promise<void> {
    this.installing.delete(eidPrefixText(prefix));
    this.dp!.deleteMapping(prefix);
  }

  async revokeKey(): Promise<string[]> {
    return []; // plain records carry no key
  }

  /** The worker buffers (and ages out) its own misses. */
  unresolved(): number {
    return 0;
  }

  /** The worker keeps no per-mapping activity: entries live for their TTL, then a miss asks again. */
  lastActive(): number | undefined {
    return undefined;
  }

  /** No tunnel to be alive: a plain LISP mapping is not served stale. */
  lastReceived(): number | undefined {
    return undefined;
  }

  /** The data plane has a mapping in its forwarding table: usable from `at` (performance.now() scale). */
  private onMapped(prefix: EidPrefix, rloc: string, at: number): void {
    const text = eidPrefixText(prefix);
    const p = this.installing.get(text);
    if (!p || p.rloc !== rloc) return; // a tunnel reconnected (our RLOC changed): nothing new installed
    this.installing.delete(text);
    this.host.emit('mapping-installed', { prefix: text, rloc, source: p.source }, at);
    if (p.missAt !== undefined) this.host.missToInstalled(at - p.missAt);
  }

  // --- mobility ----------------------------------------------------------------------------------

  /** Encapsulated packets leave from the new address from now on. */
  async moved(): Promise<void> {
    this.dp!.localRlocChanged();
  }

  registeredAfterMove(rlocs: readonly Rloc[]): void {
    this.rlocsNow = rlocs;
    // OOR holds its SMRs back (4 s compiled in); a move meanwhile restarts the wait
    clearTimeout(this.smrTimer);
    const hold = this.o.config.timers.smrHoldDownMs;
    if (hold > 0) this.smrTimer = setTimeout(() => this.solicit(), hold);
    else this.solicit();
  }

  /** SMRs to every RLOC in the map-cache, from each of our EIDs (RFC 9301 6.1). */
  private solicit(): void {
    const rloc = this.rlocsNow[0]?.address;
    if (!rloc || !this.smr) return;
    const peers: Array<{ rloc: string; prefix: EidPrefix }> = [];
    for (const e of this.host.positives()) for (const r of e.rlocs.slice(0, 1)) peers.push({ rloc: r, prefix: e.prefix });
    for (const eid of this.ownEids) {
      const n = this.smr.solicit(peers.filter((p) => familyOf(p.rloc) === familyOf(rloc)), eid, this.o.config.instanceId, rloc);
      if (n) this.host.emit('smr-sent', { eid, to: peers.map((p) => p.rloc), rloc });
    }
  }


  /** An SMR: ask the Map-Server again for its source EID, if we cache a mapping for it. */
  private onSmr(eid: string, from: string): void {
    const entry = this.host.lookup(eid);
    this.host.emit('smr-received', { eid, from, cached: entry !== undefined });
    if (!entry) return this.host.count('smr-for-uncached-eid');
    this.host.resolve(`${eid}/${familyBits(familyOf(eid))}`);
  }

  async upkeep(): Promise<void> {}

  async flush(): Promise<void> {
    this.installing.clear();
  }

  async status(): Promise<LispStatusPart> {
    const dp = this.dp!.counters();
    return {
      dataPlane: 'lisp',
      interfaces: { tun: this.o.config.tun.interface, dataPort: this.dp!.port },
      buffer: { buffered: dp.missBuffered - dp.bufferReleased - dp.bufferDropped, destinations: 0, released: dp.bufferReleased, dropped: { policy: dp.missDropped, unresolved: dp.bufferDropped, negative: dp.negativeDropped } },
      counters: {
        ...Object.fromEntries(Object.entries(dp).map(([k, v]) => [`dataplane-${k}`, v])),
        ...Object.fromEntries(Object.entries(this.smr!.stats).map(([k, v]) => [`smr-${k}`, v])),
        ...this.smr!.probeStats,
      },
    };
  }

  async close(): Promise<void> {
    clearTimeout(this.smrTimer);
    this.smr?.close();
    const errors: unknown[] = [];
    for (const f of [() => this.dp?.close(), () => this.tun?.close()]) {
      try {
        await f();
      } catch (e) {
        errors.push(e);
      }
    }
    if (errors.length) throw errors[0];
  }
}
