/**
 * The validated model of a lab: what validate.ts makes from a topology file or from the builder,
 * and what the backends bring up. Everything here has been checked: names exist, addresses parse
 * and lie in the allowed ranges, no address is used twice.
 */
import type { IpFamily } from '../../src/ip/ip.js';
import type { Cidr } from './addr.js';
import type { BackendKind, NodeKind, RawTopology } from './schema.js';

export type { NodeKind, BackendKind };

/** tc parameters of one direction of a link (both ends get the same). */
export interface Shaping {
  rateBps?: number;
  delayMs?: number;
  lossPct?: number;
}

export interface Endpoint {
  node: string;
  iface: string;
  addresses: Cidr[];
}

export interface LinkModel {
  /** Position in the file's `links` list. */
  index: number;
  a: Endpoint;
  b: Endpoint;
  mtu: number;
  shaping: Shaping;
}

export interface RouteModel {
  /** `default` or a prefix. */
  to: Cidr | 'default';
  family: IpFamily;
  via: Cidr;
  /** As written: `default via 198.18.1.1`. */
  text: string;
}

/** A Wi-Fi interface of a node (a station): its AP and its address in that AP's subnet. */
export interface StationModel {
  iface: string;
  ap: string;
  address: Cidr;
  /** Associated (up, addressed, default route) when the lab comes up. */
  associated: boolean;
}

export interface ApModel {
  subnet: Cidr;
  /** The AP's own address on its bridge, the stations' default gateway. */
  gateway: Cidr;
  associationDelayMs: number;
  /** Shaping of every station's link (the radio's rate). */
  shaping: Shaping;
}

/** What a lispwg daemon (ms, xtr, mn) is started with; keys are generated when absent. */
export interface RoleModel {
  /** Address on the control WireGuard tunnel (100.100.0.0/16). */
  control: Cidr;
  eids: Cidr[];
  /** The interface whose address is the RLOC (default: the node's first addressed interface). */
  rloc?: string;
  /** The Map-Server node this site registers with (and asks first). */
  ms?: string;
  /** Further Map-Servers it registers with: replicas sharing one store (etcd). */
  msReplicas?: string[];
  /** Given WireGuard private keys (base64); fresh ones are generated for those absent. */
  keys: { control?: string; data?: string };
  authKey?: string;
  /** Extra keys merged into the generated daemon config. */
  config: Record<string, unknown>;
  /** Overrides the daemon command line. */
  cmd?: string[];
  /** A site that speaks plain LISP on the underlay (its kind's trait: OOR): no control tunnel, no key. */
  plain?: boolean;
}

export interface NodeModel {
  name: string;
  kind: NodeKind;
  /** IP forwarding on (routers, xTRs, APs by default). */
  forward: boolean;
  /** Its kind's bridge (lab/kinds/kind.ts): `ports` (a switch) or `stations` (an AP). */
  bridge?: 'ports' | 'stations';
  exec: string[];
  run: { name: string; cmd: string }[];
  routes: RouteModel[];
  role?: RoleModel;
  ap?: ApModel;
  wifi: StationModel[];
}

export interface LabModel {
  name: string;
  description?: string;
  /** The file it came from, when it came from one. */
  file?: string;
  backend: BackendKind;
  nodes: NodeModel[];
  links: LinkModel[];
  /** The validated input: stored in the state file, and validated again on attach. */
  raw: RawTopology;
}

/** Switches and APs hold a bridge named this in their namespace. */
export const BRIDGE = 'br0';

export function nodeOf(model: LabModel, name: string): NodeModel {
  const n = model.nodes.find((x) => x.name === name);
  if (!n) throw new Error(`lab ${model.name} has no node ${name}`);
  return n;
}

export interface InterfaceInfo {
  name: string;
  addresses: Cidr[];
  /** `link` (a veth of a link), `wifi` (a station), `bridge` (a switch's or an AP's). */
  via: 'link' | 'wifi' | 'bridge';
}

/** The interfaces the model gives a node, with their configured addresses. */
export function interfacesOf(model: LabModel, name: string): InterfaceInfo[] {
  const node = nodeOf(model, name);
  const out: InterfaceInfo[] = [];
  if (node.bridge === 'ports') out.push({ name: BRIDGE, addresses: [], via: 'bridge' });
  if (node.ap) out.push({ name: BRIDGE, addresses: [node.ap.gateway], via: 'bridge' });
  for (const l of model.links) {
    for (const e of [l.a, l.b]) if (e.node === name) out.push({ name: e.iface, addresses: e.addresses, via: 'link' });
  }
  for (const s of node.wifi) out.push({ name: s.iface, addresses: s.associated ? [s.address] : [], via: 'wifi' });
  return out;
}
