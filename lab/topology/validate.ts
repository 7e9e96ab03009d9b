/**
 * Turns a parsed topology (from YAML or from the builder) into the LabModel, or into a list of
 * problems that each name the place (a path such as `links[2].endpoints[1]`, which load.ts turns
 * into file:line:col), what is wrong and how to fix it.
 */
import * as z from 'zod';
import { closest, ConfigError, type ConfigProblem, issueProblems, pathText, type Path } from '../../src/util/config-file.js';
import { parseKey } from '../../src/wg/keys.js';
import {
  ALLOWED_RANGES,
  type Cidr,
  cidrText,
  contains,
  hostAt,
  inAllowedRange,
  ipText,
  isReservedHost,
  networkOf,
  parseCidr,
} from './addr.js';
import { familyBits, familyName } from '../../src/ip/ip.js';
import {
  BRIDGE,
  type ApModel,
  type LabModel,
  type LinkModel,
  type NodeModel,
  type RoleModel,
  type RouteModel,
  type Shaping,
  type StationModel,
} from './model.js';
import { kindList, kindNames, kindOf } from '../kinds/index.js';
import { IFACE_NAME, kindKeys, type NodeKind, type RawLink, type RawNode, type RawTopology, TopologySchema } from './schema.js';
import { parseDuration, parseLoss, parseRate } from './units.js';

export { formatProblems, pathText, type Path } from '../../src/util/config-file.js';
export type Problem = ConfigProblem;

/** A topology that cannot be brought up; `problems` lists every reason found. */
export class TopologyError extends ConfigError {
  constructor(problems: Problem[], text: string) {
    super('TOPOLOGY_INVALID', problems, text);
  }
}

const CONTROL_RANGE = parseCidr('100.100.0.0/16') as Cidr;
/** Host numbers of the control range (its network and broadcast addresses excluded). */
const CONTROL_HOSTS = 65535;

/** Validates `input` (the parsed file) and builds the model; throws nothing, returns problems. */
export function validateTopology(input: unknown, file?: string): { model?: LabModel; problems: Problem[] } {
  const parsed = TopologySchema.safeParse(input);
  if (!parsed.success) return { problems: parsed.error.issues.flatMap((i) => fromZod(i, input)) };
  const v = new Validator(parsed.data, file);
  const model = v.build();
  return v.problems.length ? { problems: v.problems } : { model, problems: [] };
}

// ----------------------------------------------------------------------------------------------
// zod issues in the user's words

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = input;
  for (const k of path) v = v && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[k] : undefined;
  return v;
}

/** A zod issue in the user's words: what is particular to topologies, else the loader's wording. */
function fromZod(issue: z.core.$ZodIssue, input: unknown): Problem[] {
  const path = issue.path.filter((k): k is string | number => typeof k !== 'symbol');
  const value = valueAt(input, path);
  const inNode = path[0] === 'nodes' && path.length >= 2;
  if (issue.code === 'invalid_union' && 'discriminator' in issue && issue.discriminator === 'kind') {
    const known = kindNames();
    if (value === undefined) return [{ path: path.slice(0, -1), message: `node has no kind`, hint: `add 'kind: <one of ${known.join(', ')}>'` }];
    const guess = typeof value === 'string' ? closest(value, known) : undefined;
    return [
      {
        path,
        message: `unknown kind ${JSON.stringify(value)} (expected one of ${known.join(', ')})`,
        hint: guess ? `did you mean '${guess}'?` : `a node is one of: ${kindList()}`,
      },
    ];
  }
  if (issue.code === 'unrecognized_keys' && inNode && path.length === 2) {
    const kind = (valueAt(input, path) as { kind?: NodeKind }).kind!;
    const accepted = kindKeys(kind);
    return issue.keys.map((key) => {
      const guess = closest(key, accepted);
      return { path: [...path, key], message: `unknown key '${key}' for a node of kind ${kind}`, hint: guess ? `did you mean '${guess}'?` : `a ${kind} node accepts: ${accepted.join(', ')}`, atKey: true };
    });
  }
  if (path[0] === 'links' && path[2] === 'endpoints' && (issue.code === 'too_small' || issue.code === 'too_big')) {
    return [{ path, message: `a link has exactly two endpoints, got ${Array.isArray(value) ? value.length : typeof value}`, hint: 'write endpoints: ["a:eth0", "b:eth0"]; join more nodes with a switch' }];
  }
  if (issue.code === 'invalid_format' || issue.code === 'invalid_key') {
    const key = path[path.length - 1];
    return [{ path, message: `${JSON.stringify(key ?? value)}: ${issue.message}` }];
  }
  return issueProblems(issue, input, TopologySchema);
}

// ----------------------------------------------------------------------------------------------
// semantics: names, addresses, routes

interface AddressUse {
  where: string;
  path: Path;
}

class Validator {
  readonly problems: Problem[] = [];
  private readonly used = new Map<string, AddressUse>();
  private readonly ifaces = new Map<string, Map<string, Path>>();

  constructor(
    private readonly raw: RawTopology,
    private readonly file?: string,
  ) {}

  private add(path: Path, message: string, hint?: string): void {
    this.problems.push(hint ? { path, message, hint } : { path, message });
  }

  build(): LabModel {
    const names = Object.keys(this.raw.nodes);
    const defaults = this.raw.defaults?.link ?? {};
    const nodes: NodeModel[] = names.map((name) => this.node(name, this.raw.nodes[name]!));
    const byName = new Map(nodes.map((n) => [n.name, n]));
    const links = (this.raw.links ?? []).map((l, i) => this.link(l, i, byName, defaults)).filter((l): l is LinkModel => !!l);
    for (const n of nodes) this.stations(n, byName);
    this.roles(nodes, links, byName);
    for (const n of nodes) n.routes = this.routes(n, links);
    return {
      name: this.raw.name,
      ...(this.raw.description ? { description: this.raw.description } : {}),
      ...(this.file ? { file: this.file } : {}),
      backend: this.raw.defaults?.backend ?? 'netns',
      nodes,
      links,
      raw: this.raw,
    };
  }

  /** Parses an interface address (with its prefix) and claims it; undefined after a problem. */
  private address(text: string, path: Path, where: string, opts: { bare?: number } = {}): Cidr | undefined {
    const c = parseCidr(text, opts.bare !== undefined ? () => opts.bare! : undefined);
    if (typeof c === 'string') {
      this.add(path, `bad address: ${c}`, `write an address with its prefix length, e.g. 198.18.0.1/24 or 2001:db8::1/64`);
      return undefined;
    }
    if (!inAllowedRange(c)) {
      this.add(path, `${cidrText(c)} is outside the ranges a lab may use (${ALLOWED_RANGES.join(', ')})`, 'labs use only the benchmark, control and documentation ranges, so they can never clash with a real network: renumber into 198.18.0.0/15');
      return undefined;
    }
    if (isReservedHost(c)) {
      this.add(path, `${cidrText(c)} is the ${networkOf(c).value === c.value ? 'network' : 'broadcast'} address of its subnet`, `pick a host address, e.g. ${cidrText(hostAt(c, 1))}`);
      return undefined;
    }
    const key = ipText(c);
    const prev = this.used.get(key);
    if (prev) {
      this.add(path, `duplicate address ${key}: ${where} and ${prev.where} (${pathText(prev.path)}) both use it`, 'give every interface its own address');
      return undefined;
    }
    this.used.set(key, { where, path });
    return c;
  }

  /** A prefix (EID, subnet, route destination): host bits must be clear. */
  private prefix(text: string, path: Path, opts: { bare?: boolean; range?: Cidr; rangeWhy?: string } = {}): Cidr | undefined {
    const c = parseCidr(text, opts.bare ? familyBits : undefined);
    if (typeof c === 'string') {
      this.add(path, `bad CIDR: ${c}`, 'write a prefix as address/length, e.g. 198.19.1.0/24');
      return undefined;
    }
    if (networkOf(c).value !== c.value) {
      this.add(path, `${cidrText(c)} has host bits set`, `write the prefix as ${cidrText(networkOf(c))}`);
      return undefined;
    }
    const ok = opts.range ? contains(opts.range, c) : inAllowedRange(c);
    if (!ok) {
      this.add(path, `${cidrText(c)} is outside ${opts.range ? cidrText(opts.range) : `the ranges a lab may use (${ALLOWED_RANGES.join(', ')})`}`, opts.rangeWhy ?? 'labs use only 198.18.0.0/15 (underlay, EIDs), 100.100.0.0/16 (control) and 2001:db8::/32 (IPv6)');
      return undefined;
    }
    return c;
  }

  /** On a node whose kind holds a bridge (`owner.bridge`), `br0` is reserved too. */
  private iface(node: string, iface: string, path: Path, owner?: NodeModel): boolean {
    if (!IFACE_NAME.test(iface)) {
      this.add(path, `'${iface}' is not an interface name`, 'an interface name is a letter then up to 14 letters, digits, . - or _ (Linux allows 15 characters)');
      return false;
    }
    if (iface === 'lo' || (owner?.bridge && iface === BRIDGE)) {
      this.add(path, `interface name '${iface}' is reserved on ${node}`, `'lo' is the loopback${owner?.bridge ? ` and '${BRIDGE}' the ${owner.kind}'s bridge` : ''}: pick another name`);
      return false;
    }
    let m = this.ifaces.get(node);
    if (!m) this.ifaces.set(node, (m = new Map()));
    const prev = m.get(iface);
    if (prev) {
      this.add(path, `duplicate interface ${node}:${iface} (already used at ${pathText(prev)})`, `give each of ${node}'s interfaces its own name (eth0, eth1, ...)`);
      return false;
    }
    m.set(iface, path);
    return true;
  }

  private shaping(src: { rate?: string | number; delay?: string | number; loss?: string | number }, path: Path): Shaping {
    const s: Shaping = {};
    const take = (key: 'rate' | 'delay' | 'loss', parse: (v: string | number) => number | string, set: (n: number) => void) => {
      const v = src[key];
      if (v === undefined) return;
      const r = parse(v);
      if (typeof r === 'string') this.add([...path, key], r);
      else set(r);
    };
    take('rate', parseRate, (n) => (s.rateBps = n));
    take('delay', parseDuration, (n) => (s.delayMs = n));
    take('loss', parseLoss, (n) => (s.lossPct = n));
    return s;
  }

  private node(name: string, raw: RawNode): NodeModel {
    const path: Path = ['nodes', name];
    const kind = kindOf(raw.kind);
    const n: NodeModel = {
      name,
      kind: raw.kind,
      forward: raw.forward ?? kind.forward,
      ...(kind.bridge ? { bridge: kind.bridge } : {}),
      exec: raw.exec ?? [],
      run: Object.entries(raw.run ?? {}).map(([k, cmd]) => ({ name: k, cmd })),
      routes: [],
      wifi: [],
    };
    if (kind.bridge === 'stations' && 'subnet' in raw) {
      const subnet = this.prefix(raw.subnet, [...path, 'subnet']);
      const delay = raw['association-delay'] === undefined ? 0 : parseDuration(raw['association-delay']);
      if (typeof delay === 'string') this.add([...path, 'association-delay'], delay);
      const shaping = this.shaping({ ...(raw.rate !== undefined ? { rate: raw.rate } : {}) }, path);
      if (subnet) {
        const gwPath = [...path, raw.gateway ? 'gateway' : 'subnet'];
        const gw = this.address(raw.gateway ?? ipText(hostAt(subnet, 1)), gwPath, `${name} (gateway)`, { bare: subnet.prefix });
        if (gw && (gw.prefix !== subnet.prefix || !contains(subnet, gw))) {
          this.add(gwPath, `gateway ${cidrText(gw)} is not inside the AP's subnet ${cidrText(subnet)}`, `use an address of ${cidrText(subnet)}, e.g. ${ipText(hostAt(subnet, 1))}`);
        } else if (gw) {
          n.ap = { subnet, gateway: gw, associationDelayMs: typeof delay === 'number' ? delay : 0, shaping } satisfies ApModel;
        }
      }
    }
    return n;
  }

  private endpoint(text: string, path: Path, byName: Map<string, NodeModel>): { node: NodeModel; iface: string } | undefined {
    const m = /^([^:]+):(.+)$/.exec(text);
    if (!m) {
      this.add(path, `endpoint '${text}' is not node:interface`, `write it as "${text}:eth0"`);
      return undefined;
    }
    const node = byName.get(m[1]!);
    if (!node) {
      const guess = closest(m[1]!, [...byName.keys()]);
      this.add(path, `dangling endpoint '${text}': there is no node '${m[1]}'`, guess ? `did you mean '${guess}:${m[2]}'?` : `define '${m[1]}' under nodes, or link one of: ${[...byName.keys()].join(', ')}`);
      return undefined;
    }
    if (!this.iface(node.name, m[2]!, path, node)) return undefined;
    return { node, iface: m[2]! };
  }

  private link(raw: RawLink, i: number, byName: Map<string, NodeModel>, defaults: { mtu?: number; rate?: string | number; delay?: string | number; loss?: string | number }): LinkModel | undefined {
    const path: Path = ['links', i];
    const a = this.endpoint(raw.endpoints[0], [...path, 'endpoints', 0], byName);
    const b = this.endpoint(raw.endpoints[1], [...path, 'endpoints', 1], byName);
    const shaping = this.shaping({ ...defaults, ...raw }, path);
    if (!a || !b) return undefined;
    if (a.node === b.node) {
      this.add([...path, 'endpoints'], `link joins ${a.node.name} to itself`, 'a link joins two different nodes');
      return undefined;
    }
    const addrs = { a: [] as Cidr[], b: [] as Cidr[] };
    for (const [key, value] of Object.entries(raw.addresses ?? {})) {
      const side = key === a.node.name ? 'a' : key === b.node.name ? 'b' : undefined;
      const apath = [...path, 'addresses', key];
      if (!side) {
        this.add(apath, `addresses names '${key}', which is not an endpoint of this link`, `key the addresses by the link's nodes: ${a.node.name} or ${b.node.name}`);
        continue;
      }
      const ep = side === 'a' ? a : b;
      if (ep.node.bridge === 'ports') {
        this.add(apath, `switch port ${key}:${ep.iface} cannot have an address`, 'a switch only bridges: put the address on the node at the other end');
        continue;
      }
      const list = Array.isArray(value) ? value : [value];
      list.forEach((t, j) => {
        const c = this.address(t, Array.isArray(value) ? [...apath, j] : apath, `${key}:${ep.iface}`);
        if (c) addrs[side].push(c);
      });
    }
    return {
      index: i,
      a: { node: a.node.name, iface: a.iface, addresses: addrs.a },
      b: { node: b.node.name, iface: b.iface, addresses: addrs.b },
      mtu: raw.mtu ?? defaults.mtu ?? 1500,
      shaping,
    };
  }

  private stations(n: NodeModel, byName: Map<string, NodeModel>): void {
    const raw = this.raw.nodes[n.name]!;
    if (!('wifi' in raw) || !raw.wifi) return;
    for (const [iface, st] of Object.entries(raw.wifi)) {
      const path: Path = ['nodes', n.name, 'wifi', iface];
      if (!this.iface(n.name, iface, path)) continue;
      const ap = byName.get(st.ap);
      if (!ap || ap.bridge !== 'stations') {
        const aps = [...byName.values()].filter((x) => x.bridge === 'stations').map((x) => x.name);
        this.add([...path, 'ap'], ap ? `${st.ap} is a ${ap.kind}, not an access point` : `no access point '${st.ap}'`, aps.length ? `use one of: ${aps.join(', ')}` : "define a node of kind 'ap' first");
        continue;
      }
      if (!ap.ap) continue; // its own problem was reported
      const subnet = ap.ap.subnet;
      let address: Cidr | undefined;
      if (st.address !== undefined) {
        address = this.address(st.address, [...path, 'address'], `${n.name}:${iface}`, { bare: subnet.prefix });
        if (address && (!contains(subnet, address) || address.prefix !== subnet.prefix)) {
          this.add([...path, 'address'], `${cidrText(address)} is not in ${st.ap}'s subnet ${cidrText(subnet)}`, `use an address of ${cidrText(subnet)} (or leave it out to get one)`);
          address = undefined;
        }
      } else {
        address = this.allocate(subnet, 100, `${n.name}:${iface}`, [...path, 'ap']);
      }
      if (address) n.wifi.push({ iface, ap: ap.name, address, associated: st.associated ?? true } satisfies StationModel);
    }
  }

  /** The first free host address of `net` from host number `from`. */
  private allocate(net: Cidr, from: number, where: string, path: Path): Cidr | undefined {
    const size = Math.min(Number(1n << BigInt(familyBits(net.family) - net.prefix)), 65536);
    for (let h = from; h < size - 1; h++) {
      const c = hostAt(net, h);
      if (!this.used.has(ipText(c))) {
        this.used.set(ipText(c), { where, path });
        return c;
      }
    }
    this.add(path, `no free address left in ${cidrText(net)} for ${where}`, 'give it an address, or use a larger subnet');
    return undefined;
  }

  /** The raw node if its kind has a lispwg role (the schema gives those kinds the role keys). */
  private roleNode(name: string): Extract<RawNode, { kind: 'ms' | 'xtr' | 'mn' | 'oor' | 'oor-ms' }> | undefined {
    const raw = this.raw.nodes[name]!;
    return kindOf(raw.kind).role ? (raw as Extract<RawNode, { kind: 'ms' | 'xtr' | 'mn' | 'oor' | 'oor-ms' }>) : undefined;
  }

  private roles(nodes: NodeModel[], links: LinkModel[], byName: Map<string, NodeModel>): void {
    const servers = nodes.filter((n) => kindOf(n.kind).role === 'ms');
    // controls given in the file are claimed first so allocation skips them
    const controls = new Map<string, Cidr>();
    for (const n of nodes) {
      const raw = this.roleNode(n.name);
      if (raw?.control) {
        const path: Path = ['nodes', n.name, 'control'];
        const c = this.address(raw.control, path, `${n.name} (control)`, { bare: 16 });
        if (c && !contains(CONTROL_RANGE, c)) this.add(path, `control address ${cidrText(c)} is outside 100.100.0.0/16`, 'control addresses (inside the control WireGuard tunnel) come from 100.100.0.0/16');
        else if (c) controls.set(n.name, c);
      }
    }
    let next = 1;
    for (const n of nodes) {
      const raw = this.roleNode(n.name);
      const lispwg = raw && kindOf(raw.kind).role;
      if (!raw || !lispwg) continue;
      const path: Path = ['nodes', n.name];
      let control = controls.get(n.name);
      // the whole /16, host parts .0 and .255 left out (some tools take them for a network or broadcast)
      while (!control && next < CONTROL_HOSTS) {
        const host = next++;
        if ((host & 255) === 0 || (host & 255) === 255) continue;
        const c = hostAt(CONTROL_RANGE, host);
        if (!this.used.has(ipText(c))) {
          this.used.set(ipText(c), { where: `${n.name} (control)`, path });
          control = c;
        }
      }
      if (!control) {
        this.add(path, 'no control address left in 100.100.0.0/16', 'a lab has room for about 64 000 lispwg nodes: split it');
        continue;
      }
      const role: RoleModel = { control, eids: [], keys: {}, config: raw.config ?? {}, ...(kindOf(raw.kind).plain ? { plain: true } : {}) };
      if (raw.cmd) role.cmd = raw.cmd;
      for (const which of ['control', 'data'] as const) {
        const key = ('keys' in raw ? raw.keys : undefined)?.[which];
        if (key === undefined) continue;
        if (which === 'data' && lispwg === 'ms') {
          this.add([...path, 'keys', which], 'a Map-Server has only a control key', 'remove keys.data');
          continue;
        }
        try {
          parseKey(key, `${n.name}'s ${which} key`);
          role.keys[which] = key;
        } catch (e) {
          this.add([...path, 'keys', which], (e as Error).message, 'leave it out to have a fresh key generated at lab up');
        }
      }
      if (lispwg === 'site' && 'eid' in raw) {
        const eids = Array.isArray(raw.eid) ? raw.eid : [raw.eid];
        eids.forEach((t, j) => {
          const c = this.prefix(t, Array.isArray(raw.eid) ? [...path, 'eid', j] : [...path, 'eid'], { bare: true });
          if (c) role.eids.push(c);
        });
        if (raw['auth-key'] !== undefined) role.authKey = raw['auth-key'];
        // `ms: ms1` or, replicas of one mapping system, `ms: [ms1, ms2, ms3]` (the first is asked first)
        const wanted = raw.ms === undefined ? undefined : Array.isArray(raw.ms) ? raw.ms : [raw.ms];
        const tunnelless = (ms: NodeModel) => kindOf(ms.kind).plain && !kindOf(raw.kind).plain;
        const noTunnel = (ms: NodeModel) => `${n.name} (kind ${raw.kind}) talks to its Map-Server through a control WireGuard tunnel, which ${ms.name} (kind ${ms.kind}, OOR) does not have`;
        if (wanted !== undefined) {
          const chosen: string[] = [];
          wanted.forEach((name, j) => {
            const at = Array.isArray(raw.ms) ? [...path, 'ms', j] : [...path, 'ms'];
            const ms = byName.get(name);
            if (!ms || kindOf(ms.kind).role !== 'ms') this.add(at, ms ? `${name} is a ${ms.kind}, not a Map-Server` : `no Map-Server '${name}'`, servers.length ? `use one of: ${servers.map((s) => s.name).join(', ')}` : "define a node of kind 'ms'");
            else if (tunnelless(ms)) this.add(at, noTunnel(ms), `make ${n.name} kind oor, or let it register with a lispwg Map-Server (kind ms)`);
            else if (chosen.includes(name)) this.add(at, `${name} is listed twice`, 'name each Map-Server once');
            else if (chosen.length && (ms.kind !== 'ms' || kindOf(raw.kind).plain)) this.add(at, `only lispwg sites register with several Map-Servers (replicas of kind ms)`, `give ${n.name} one Map-Server`);
            else chosen.push(name);
          });
          if (chosen.length === wanted.length) {
            role.ms = chosen[0]!;
            if (chosen.length > 1) role.msReplicas = chosen.slice(1);
          }
        } else if (servers.length === 1) {
          const ms = servers[0]!;
          if (tunnelless(ms)) this.add(path, noTunnel(ms), `make ${n.name} kind oor, or add a lispwg Map-Server (kind ms) and 'ms:' it`);
          else role.ms = ms.name;
        }
        else this.add(path, servers.length ? `${n.name} must say which Map-Server it registers with` : `${n.name} (kind ${raw.kind}) needs a Map-Server, and the topology has none`, servers.length ? `add 'ms: ${servers[0]!.name}'` : "add a node of kind 'ms'");
        if (raw.rloc !== undefined) {
          const has = links.some((l) => [l.a, l.b].some((e) => e.node === n.name && e.iface === raw.rloc)) || n.wifi.some((s) => s.iface === raw.rloc);
          if (!has) this.add([...path, 'rloc'], `${n.name} has no interface '${raw.rloc}'`, 'name the interface whose address is the RLOC');
          else role.rloc = raw.rloc;
        }
      }
      n.role = role;
    }
  }

  private routes(n: NodeModel, links: LinkModel[]): RouteModel[] {
    const raw = this.raw.nodes[n.name]!;
    const connected: Cidr[] = [
      ...links.flatMap((l) => [l.a, l.b].filter((e) => e.node === n.name).flatMap((e) => e.addresses)),
      ...n.wifi.map((s) => s.address),
      ...(n.ap ? [n.ap.gateway] : []),
    ];
    const out: RouteModel[] = [];
    (raw.routes ?? []).forEach((text, i) => {
      const path: Path = ['nodes', n.name, 'routes', i];
      const m = /^\s*(\S+)\s+via\s+(\S+)\s*$/.exec(text);
      if (!m) {
        this.add(path, `route '${text}' is not '<prefix|default> via <address>'`, 'write e.g. "default via 198.18.1.1" or "198.19.0.0/16 via 198.18.0.2"');
        return;
      }
      const via = parseCidr(m[2]!, familyBits);
      if (typeof via === 'string') {
        this.add(path, `route '${text}': bad gateway: ${via}`);
        return;
      }
      let to: Cidr | 'default' | undefined = 'default';
      if (m[1] !== 'default') to = this.prefix(m[1]!, path);
      if (!to) return;
      if (to !== 'default' && to.family !== via.family) {
        this.add(path, `route '${text}' mixes ${familyName(to.family)} and ${familyName(via.family)}`);
        return;
      }
      if (!connected.some((c) => contains(networkOf(c), via))) {
        this.add(path, `route '${text}': gateway ${ipText(via)} is on none of ${n.name}'s subnets (${connected.map((c) => cidrText(networkOf(c))).join(', ') || 'it has no addresses'})`, `use the address of a neighbour on one of those subnets`);
        return;
      }
      out.push({ to, family: via.family, via, text: text.trim() });
    });
    return out;
  }
}
