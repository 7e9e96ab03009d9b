/**
 * The iproute2/tc lines that wire a lab: veth pairs created directly inside their namespaces (one
 * root `ip -batch`, which never leaves an interface in the root namespace), then per namespace
 * one `ip -batch` (bridges, MTUs, addresses, links up, routes) and one `tc -batch` (shaping).
 */
import { type Cidr, cidrText, ipText } from '../topology/addr.js';
import { BRIDGE, type LabModel, type NodeModel, type Shaping, type StationModel } from '../topology/model.js';
import { netnsName, stationPort } from '../names.js';
import { formatRate } from '../topology/units.js';

/** IPv6 addresses skip duplicate address detection, so they are usable at once. */
const addrLine = (c: Cidr, dev: string): string => `addr add ${cidrText(c)} dev ${dev}${c.family === 'ipv6' ? ' nodad' : ''}`;

/** Creates every veth of the lab, each end born in its node's namespace. */
export function vethLines(lab: string, model: LabModel): string[] {
  const out = model.links.map(
    (l) => `link add name ${l.a.iface} netns ${netnsName(lab, l.a.node)} type veth peer name ${l.b.iface} netns ${netnsName(lab, l.b.node)}`,
  );
  for (const n of model.nodes) {
    for (const s of n.wifi) {
      out.push(`link add name ${s.iface} netns ${netnsName(lab, n.name)} type veth peer name ${stationPort(n.name, s.iface)} netns ${netnsName(lab, s.ap)}`);
    }
  }
  return out;
}

/** Lines that associate a station: address, link up and (if `defaultRoute`) the default route via the AP. */
export function associateLines(s: { iface: string; address: Cidr }, gateway: Cidr, defaultRoute: boolean): string[] {
  return [
    addrLine(s.address, s.iface),
    `link set dev ${s.iface} up`,
    ...(defaultRoute ? [`route replace default via ${ipText(gateway)} dev ${s.iface}`] : []),
  ];
}

/** Lines that take a station off its AP: link down, address gone (routes via it go with it). */
export const disassociateLines = (iface: string): string[] => [`link set dev ${iface} down`, `addr flush dev ${iface}`];

/** The per-namespace `ip -batch` lines of one node, in an order the kernel accepts. */
export function nodeLines(model: LabModel, node: NodeModel): string[] {
  const lines = ['link set dev lo up'];
  if (node.bridge) {
    lines.push(`link add name ${BRIDGE} type bridge`, `link set dev ${BRIDGE} up`);
    if (node.ap) lines.push(addrLine(node.ap.gateway, BRIDGE));
  }
  for (const l of model.links) {
    for (const e of [l.a, l.b]) {
      if (e.node !== node.name) continue;
      lines.push(`link set dev ${e.iface} mtu ${l.mtu}`);
      if (node.bridge === 'ports') lines.push(`link set dev ${e.iface} master ${BRIDGE}`);
      for (const a of e.addresses) lines.push(addrLine(a, e.iface));
      lines.push(`link set dev ${e.iface} up`);
    }
  }
  if (node.bridge === 'stations') {
    for (const st of stationsOn(model, node.name)) lines.push(`link set dev ${stationPort(st.node, st.iface)} master ${BRIDGE}`, `link set dev ${stationPort(st.node, st.iface)} up`);
  }
  for (const r of node.routes) lines.push(`route add ${r.to === 'default' ? 'default' : cidrText(r.to)} via ${ipText(r.via)}`);
  const defaults = new Set(node.routes.filter((r) => r.to === 'default').map((r) => r.family));
  for (const s of node.wifi) {
    if (!s.associated) continue;
    const gw = model.nodes.find((n) => n.name === s.ap)!.ap!.gateway;
    lines.push(...associateLines(s, gw, !defaults.has(s.address.family)));
    defaults.add(s.address.family);
  }
  return lines;
}

/**
 * The interfaces of each namespace that carry traffic once the lab is up: both ends of every link,
 * and both sides of every associated station (a station off its AP is down by design). Keyed by
 * node name.
 */
export function carrierExpected(model: LabModel): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const add = (node: string, iface: string) => out.set(node, [...(out.get(node) ?? []), iface]);
  for (const l of model.links) for (const e of [l.a, l.b]) add(e.node, e.iface);
  for (const n of model.nodes) {
    for (const s of n.wifi) {
      if (!s.associated) continue;
      add(n.name, s.iface);
      add(s.ap, stationPort(n.name, s.iface));
    }
  }
  return out;
}

/** Stations plugged into an AP when the lab comes up. */
function stationsOn(model: LabModel, ap: string): (StationModel & { node: string })[] {
  return model.nodes.flatMap((n) => n.wifi.filter((s) => s.ap === ap).map((s) => ({ ...s, node: n.name })));
}

/** Every shaped device of a node: link ends and both sides of its stations. */
export function shapedDevices(model: LabModel, node: NodeModel): { dev: string; shaping: Shaping; mtu: number; what: string }[] {
  const out: { dev: string; shaping: Shaping; mtu: number; what: string }[] = [];
  for (const l of model.links) {
    for (const e of [l.a, l.b]) if (e.node === node.name && needsQdisc(l.shaping)) out.push({ dev: e.iface, shaping: l.shaping, mtu: l.mtu, what: `links[${l.index}] ${l.a.node}:${l.a.iface} <-> ${l.b.node}:${l.b.iface}` });
  }
  const apShaping = (ap: string) => model.nodes.find((n) => n.name === ap)!.ap!.shaping;
  for (const s of node.wifi) if (needsQdisc(apShaping(s.ap))) out.push({ dev: s.iface, shaping: apShaping(s.ap), mtu: 1500, what: `station ${node.name}:${s.iface}` });
  if (node.ap && needsQdisc(node.ap.shaping)) {
    for (const st of stationsOn(model, node.name)) out.push({ dev: stationPort(st.node, st.iface), shaping: node.ap.shaping, mtu: 1500, what: `station ${st.node}:${st.iface}` });
  }
  return out;
}

const needsQdisc = (s: Shaping): boolean => s.rateBps !== undefined || s.delayMs !== undefined || s.lossPct !== undefined;
export const needsNetem = (s: Shaping): boolean => s.delayMs !== undefined || s.lossPct !== undefined;

/**
 * tc lines for one device. Rate alone: tbf, with a bucket of 5 ms at that rate (at least a few
 * MTUs) so the timer resolution does not cap the rate. Delay/loss: netem, under an htb class
 * carrying the rate when there is one.
 */
export function shapeLines(dev: string, s: Shaping, mtu: number): string[] {
  if (!needsQdisc(s)) return [];
  const netem = [s.delayMs !== undefined ? `delay ${s.delayMs}ms` : '', s.lossPct !== undefined ? `loss ${s.lossPct}%` : ''].filter(Boolean).join(' ');
  if (s.rateBps !== undefined && !netem) {
    const burst = Math.max(Math.ceil((s.rateBps / 8) * 0.005), 4 * (mtu + 14));
    return [`qdisc replace dev ${dev} root tbf rate ${formatRate(s.rateBps)} burst ${burst} latency 50ms`];
  }
  if (s.rateBps === undefined) return [`qdisc replace dev ${dev} root netem ${netem}`];
  return [
    `qdisc replace dev ${dev} root handle 1: htb default 1`,
    `class add dev ${dev} parent 1: classid 1:1 htb rate ${formatRate(s.rateBps)} ceil ${formatRate(s.rateBps)}`,
    `qdisc add dev ${dev} parent 1:1 handle 10: netem ${netem}`,
  ];
}

/** Sysctls of every node: no reverse-path filter (multi-homed stations), forwarding where wanted. */
export function sysctls(node: NodeModel): string[] {
  return [
    'net.ipv4.conf.all.rp_filter=0',
    'net.ipv4.conf.default.rp_filter=0',
    `net.ipv4.ip_forward=${node.forward ? 1 : 0}`,
    `net.ipv6.conf.all.forwarding=${node.forward ? 1 : 0}`,
  ];
}
