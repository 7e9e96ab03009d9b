/**
 * Which nodes should reach which, worked out from the model alone: L2 segments (links, switches,
 * APs and the stations now on them), connected subnets, static routes and default routes via
 * APs, and forwarding. `lab check` pings exactly these pairs, both ways of each must route.
 */
import { type Cidr, contains, ipText, networkOf } from './topology/addr.js';
import { BRIDGE, type LabModel, type NodeModel } from './topology/model.js';

export interface StationNow {
  ap: string;
  address?: Cidr;
  associated: boolean;
}

/** `node:iface` -> where a station is now (defaults to the model's initial association). */
export type Stations = Map<string, StationNow>;

interface Addr {
  node: string;
  iface: string;
  cidr: Cidr;
}

export interface ReachPair {
  from: string;
  to: string;
  /** The destination address pinged. */
  address: string;
  /** The interface of `to` that holds it. */
  iface: string;
}

export function initialStations(model: LabModel): Stations {
  const m: Stations = new Map();
  for (const n of model.nodes) for (const s of n.wifi) m.set(`${n.name}:${s.iface}`, { ap: s.ap, address: s.address, associated: s.associated });
  return m;
}

class Net {
  private readonly parent = new Map<string, string>();
  readonly addrs: Addr[] = [];
  private readonly byNode = new Map<string, NodeModel>();

  constructor(
    model: LabModel,
    private readonly stations: Stations,
  ) {
    for (const n of model.nodes) this.byNode.set(n.name, n);
    for (const l of model.links) {
      this.union(`${l.a.node}:${l.a.iface}`, `${l.b.node}:${l.b.iface}`);
      for (const e of [l.a, l.b]) {
        if (this.byNode.get(e.node)!.bridge === 'ports') this.union(`${e.node}:${e.iface}`, `${e.node}:${BRIDGE}`);
        for (const c of e.addresses) this.addrs.push({ node: e.node, iface: e.iface, cidr: c });
      }
    }
    for (const n of model.nodes) if (n.ap) this.addrs.push({ node: n.name, iface: BRIDGE, cidr: n.ap.gateway });
    for (const [key, st] of stations) {
      if (!st.associated || !st.address) continue;
      const [node, iface] = key.split(':') as [string, string];
      this.union(key, `${st.ap}:${BRIDGE}`);
      this.addrs.push({ node, iface, cidr: st.address });
    }
  }

  /** The L2 segment an interface is on (links joined by switches and APs). */
  segment(node: string, iface: string): string {
    return this.find(`${node}:${iface}`);
  }

  private find(k: string): string {
    let p = this.parent.get(k) ?? k;
    while (p !== (this.parent.get(p) ?? p)) p = this.parent.get(p) ?? p;
    return p;
  }

  private union(a: string, b: string): void {
    const ra = this.find(a);
    const rb = this.find(b);
    if (ra !== rb) this.parent.set(ra, rb);
  }

  /** The routes of a node, longest prefix first: connected, static, default via the AP. */
  private routes(node: string): { to: Cidr | 'default'; iface?: string; via?: Cidr }[] {
    const n = this.byNode.get(node)!;
    const out: { to: Cidr | 'default'; iface?: string; via?: Cidr }[] = this.addrs.filter((a) => a.node === node).map((a) => ({ to: networkOf(a.cidr), iface: a.iface }));
    for (const r of n.routes) out.push({ to: r.to, via: r.via });
    const families = new Set(n.routes.filter((r) => r.to === 'default').map((r) => r.family));
    for (const s of n.wifi) {
      const st = this.stations.get(`${node}:${s.iface}`);
      if (!st?.associated || !st.address || families.has(st.address.family)) continue;
      families.add(st.address.family);
      out.push({ to: 'default', via: this.byNode.get(st.ap)!.ap!.gateway, iface: s.iface });
    }
    return out;
  }

  private lookup(node: string, dst: Cidr): { iface: string; hop: Cidr } | undefined {
    let best: { len: number; iface: string; hop: Cidr } | undefined;
    for (const r of this.routes(node)) {
      const len = r.to === 'default' ? 0 : r.to.prefix;
      if (r.to !== 'default' ? !contains(r.to, dst) : r.via!.family !== dst.family) continue;
      if (best && best.len >= len) continue;
      const hop = r.via ?? dst;
      const iface = r.iface ?? this.addrs.find((a) => a.node === node && contains(networkOf(a.cidr), hop))?.iface;
      if (iface) best = { len, iface, hop };
    }
    return best;
  }

  /** Does a packet from `from` to `dst` arrive? Returns the egress source address too. */
  deliver(from: string, dst: Cidr): { ok: boolean; source?: Cidr } {
    let cur = from;
    let source: Cidr | undefined;
    for (let hops = 0; hops < 32; hops++) {
      if (this.addrs.some((a) => a.node === cur && a.cidr.value === dst.value && a.cidr.family === dst.family)) return { ok: true, ...(source ? { source } : {}) };
      if (cur !== from && !this.byNode.get(cur)!.forward) return { ok: false };
      const r = this.lookup(cur, dst);
      if (!r) return { ok: false };
      if (cur === from) source = this.addrs.find((a) => a.node === cur && a.iface === r.iface && a.cidr.family === dst.family)?.cidr;
      const seg = this.find(`${cur}:${r.iface}`);
      const next = this.addrs.find((a) => a.cidr.value === r.hop.value && a.cidr.family === r.hop.family && a.node !== cur && this.find(`${a.node}:${a.iface}`) === seg);
      if (!next) return { ok: false };
      cur = next.node;
    }
    return { ok: false };
  }
}

/** Every (node, address of another node) pair that should answer a ping, both ways routed. */
export function expectedPairs(model: LabModel, stations: Stations = initialStations(model)): ReachPair[] {
  const net = new Net(model, stations);
  const out: ReachPair[] = [];
  // a switch has no address to ping from
  const sources = model.nodes.filter((n) => n.bridge !== 'ports');
  for (const s of sources) {
    for (const a of net.addrs) {
      if (a.node === s.name) continue;
      const there = net.deliver(s.name, a.cidr);
      if (!there.ok || !there.source) continue;
      if (!net.deliver(a.node, there.source).ok) continue;
      out.push({ from: s.name, to: a.node, address: ipText(a.cidr), iface: a.iface });
    }
  }
  return out;
}

/**
 * The most neighbour (ARP, NDP) entries the lab can make the kernel hold: on each L2 segment every
 * address may learn every other address of its family there (the stations where they are now).
 */
export function neighbourBound(model: LabModel, stations: Stations = initialStations(model)): { ipv4: number; ipv6: number } {
  const net = new Net(model, stations);
  const count = new Map<string, number>();
  for (const a of net.addrs) {
    const k = `${a.cidr.family}|${net.segment(a.node, a.iface)}`;
    count.set(k, (count.get(k) ?? 0) + 1);
  }
  const out = { ipv4: 0, ipv6: 0 };
  for (const [k, n] of count) out[k.startsWith('ipv4') ? 'ipv4' : 'ipv6'] += n * (n - 1);
  return out;
}

/**
 * About `n` of `pairs`: every source keeps its share, its targets spread evenly over its list from
 * a start of its own (deterministic: the same lab is checked the same way each time).
 */
export function samplePairs(pairs: readonly ReachPair[], n: number): ReachPair[] {
  const bySource = new Map<string, ReachPair[]>();
  for (const p of pairs) bySource.set(p.from, [...(bySource.get(p.from) ?? []), p]);
  const per = Math.max(1, Math.floor(n / bySource.size));
  const out: ReachPair[] = [];
  let k = 0;
  for (const list of bySource.values()) {
    const take = Math.min(per, list.length);
    const step = list.length / take;
    const offset = (k++ * 7919) % list.length; // each source starts elsewhere: the sample covers the targets too
    for (let i = 0; i < take; i++) out.push(list[(Math.floor(i * step) + offset) % list.length]!);
  }
  return out;
}
