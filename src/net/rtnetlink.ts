/**
 * rtnetlink without spawning `ip`: links (up/down, MTU, create/delete), addresses and routes
 * (IPv4 and IPv6), and a monitor of address changes (an xTR's RLOC changing).
 *
 * `ip route add` spawned costs ~3 ms; a route through this module costs two system calls
 * (see experiments/bench/wg.ts). Every call is synchronous and acts in the namespace the
 * Rtnetlink was opened in (the caller's, or a named one).
 */
import { callNative, native, type PollHandle } from '../native/native.js';
import { LispwgError } from '../util/errors.js';
import { familyName, formatIpBytes as formatIp, parseIp, parsePrefix, type IpFamily } from '../ip/ip.js';
import {
  NETLINK_ROUTE,
  NLM_F_CREATE,
  NLM_F_DUMP,
  NLM_F_EXCL,
  NLM_F_REPLACE,
  NetlinkError,
  NetlinkSocket,
  parseAttrs,
  type NlMessage,
  type NlWriter,
} from './netlink.js';

const RTM_NEWLINK = 16;
const RTM_DELLINK = 17;
const RTM_GETLINK = 18;
const RTM_NEWADDR = 20;
const RTM_DELADDR = 21;
const RTM_GETADDR = 22;
const RTM_NEWROUTE = 24;
const RTM_DELROUTE = 25;
const RTM_GETROUTE = 26;

const AF_UNSPEC = 0;
const AF_INET = 2;
const AF_INET6 = 10;
const IFF_UP = 0x1;

const IFLA_IFNAME = 3;
const IFLA_MTU = 4;
const IFLA_LINKINFO = 18;
const IFLA_INFO_KIND = 1;

const IFA_ADDRESS = 1;
const IFA_LOCAL = 2;
const IFA_LABEL = 3;
const IFA_FLAGS = 8;
const IFA_F_NODAD = 0x02;
const IFA_F_DADFAILED = 0x08;
const IFA_F_TENTATIVE = 0x40;

const RTA_DST = 1;
const RTA_OIF = 4;
const RTA_GATEWAY = 5;
const RTA_PRIORITY = 6;
const RTA_PREFSRC = 7;
const RTA_TABLE = 15;
const RT_TABLE_MAIN = 254;
const RTPROT_STATIC = 4;
const RT_SCOPE_UNIVERSE = 0;
const RT_SCOPE_LINK = 253;
const RT_SCOPE_NOWHERE = 255;
const RTN_UNICAST = 1;

// multicast groups (bit masks for a socket's `groups`)
const RTMGRP_IPV4_IFADDR = 0x10;
const RTMGRP_IPV6_IFADDR = 0x100;
const RTMGRP_IPV4_ROUTE = 0x40;
const RTMGRP_IPV6_ROUTE = 0x400;

const family = (f: IpFamily) => (f === 'ipv4' ? AF_INET : AF_INET6);
const ipFamily = (af: number): IpFamily => (af === AF_INET ? 'ipv4' : 'ipv6');

export interface LinkInfo {
  index: number;
  name: string;
  up: boolean;
  mtu: number;
}

export interface AddressInfo {
  ifindex: number;
  family: IpFamily;
  /** The interface's own address (IFA_LOCAL for IPv4, IFA_ADDRESS for IPv6). */
  address: string;
  prefixLen: number;
  /** IPv6 duplicate address detection still running (or failed): the address is not usable yet. */
  tentative: boolean;
}

export interface RouteSpec {
  /** `ADDR/LEN`, a bare address (host route), or 'default' / 'default6'. */
  dst: string;
  /** Output interface by name or index; at least one of dev / gateway. */
  dev?: string | number;
  gateway?: string;
  metric?: number;
  /** Routing table id (default: main, 254). */
  table?: number;
  /** Preferred source address. */
  src?: string;
}

export interface RouteInfo {
  family: IpFamily;
  dst: string;
  prefixLen: number;
  table: number;
  ifindex?: number;
  gateway?: string;
  metric?: number;
}

/** A link name as the kernel accepts it (1..15 bytes, no '/', no whitespace). */
export function checkIfName(name: string, what = 'interface name'): void {
  if (!/^[^\s/:]{1,15}$/.test(name) || name === '.' || name === '..' || Buffer.byteLength(name) > 15) {
    throw new LispwgError('IFNAME_INVALID', `${what} '${name}' is not a valid interface name (1 to 15 characters, no '/', ':' or spaces)`);
  }
}

function ifinfomsg(w: NlWriter, index: number, flags = 0, change = 0): void {
  w.u8(AF_UNSPEC).u8(0).u16(0).i32(index).u32(flags).u32(change);
}

function parseLink(m: NlMessage): LinkInfo {
  const attrs = parseAttrs(m.payload, 16);
  return {
    index: m.payload.readInt32LE(4),
    name: (attrs.get(IFLA_IFNAME) ?? Buffer.alloc(0)).toString('utf8').replace(/\0.*$/s, ''),
    up: (m.payload.readUInt32LE(8) & IFF_UP) !== 0,
    mtu: attrs.get(IFLA_MTU)?.readUInt32LE(0) ?? 0,
  };
}

function parseAddress(m: NlMessage): AddressInfo {
  const p = m.payload;
  const attrs = parseAttrs(p, 8);
  const fam = ipFamily(p.readUInt8(0));
  const flags = attrs.get(IFA_FLAGS)?.readUInt32LE(0) ?? p.readUInt8(2);
  const local = (fam === 'ipv4' ? attrs.get(IFA_LOCAL) : undefined) ?? attrs.get(IFA_ADDRESS) ?? Buffer.alloc(fam === 'ipv4' ? 4 : 16);
  return {
    ifindex: p.readUInt32LE(4),
    family: fam,
    address: formatIp(local),
    prefixLen: p.readUInt8(1),
    tentative: (flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED)) !== 0,
  };
}

function parseRoute(m: NlMessage): RouteInfo {
  const p = m.payload;
  const attrs = parseAttrs(p, 12);
  const fam = ipFamily(p.readUInt8(0));
  const dst = attrs.get(RTA_DST);
  const gw = attrs.get(RTA_GATEWAY);
  return {
    family: fam,
    dst: dst ? formatIp(dst) : fam === 'ipv4' ? '0.0.0.0' : '::',
    prefixLen: p.readUInt8(1),
    table: attrs.get(RTA_TABLE)?.readUInt32LE(0) ?? p.readUInt8(4),
    ...(attrs.has(RTA_OIF) ? { ifindex: attrs.get(RTA_OIF)!.readUInt32LE(0) } : {}),
    ...(gw ? { gateway: formatIp(gw) } : {}),
    ...(attrs.has(RTA_PRIORITY) ? { metric: attrs.get(RTA_PRIORITY)!.readUInt32LE(0) } : {}),
  };
}

export class Rtnetlink {
  private constructor(
    private readonly sock: NetlinkSocket,
    /** The namespace this handle acts in (undefined: the caller's, or a fresh one). */
    readonly netns: string | undefined,
    /** ' (namespace X)' in messages. */
    private readonly whereText: string,
  ) {}

  /**
   * Opens rtnetlink in the caller's namespace, in a named one (`ip netns` name), or in a new empty
   * one that lives as long as this handle (freshNetns: probing kernel features without side effects).
   */
  static open(opts: { netns?: string; freshNetns?: boolean } = {}): Rtnetlink {
    const sock = NetlinkSocket.open(NETLINK_ROUTE, { ...(opts.netns ? { netns: opts.netns } : {}), ...(opts.freshNetns ? { freshNetns: true } : {}) });
    return new Rtnetlink(sock, opts.netns, opts.netns ? ` (namespace ${opts.netns})` : opts.freshNetns ? ' (in a new namespace)' : '');
  }

  close(): void {
    this.sock.close();
  }

  private where(): string {
    return this.whereText;
  }

  // ---- links ----

  /** The link's index; throws LINK_NOT_FOUND naming it. */
  linkIndex(name: string): number {
    const link = this.link(name);
    if (!link) throw new LispwgError('LINK_NOT_FOUND', `no interface named '${name}'${this.where()}`);
    return link.index;
  }

  /** The link by name, or undefined when there is none. */
  link(name: string): LinkInfo | undefined {
    checkIfName(name);
    try {
      const [m] = this.sock.request(RTM_GETLINK, 0, (w) => (ifinfomsg(w, 0), w.attrString(IFLA_IFNAME, name)), `looking up interface ${name}${this.where()}`);
      return m ? parseLink(m) : undefined;
    } catch (e) {
      if (e instanceof NetlinkError && e.errno === 'ENODEV') return undefined;
      throw e;
    }
  }

  links(): LinkInfo[] {
    return this.sock.request(RTM_GETLINK, NLM_F_DUMP, (w) => ifinfomsg(w, 0), `listing interfaces${this.where()}`).filter((m) => m.type === RTM_NEWLINK).map(parseLink);
  }

  private index(dev: string | number): number {
    return typeof dev === 'number' ? dev : this.linkIndex(dev);
  }

  setLinkUp(dev: string | number, up = true): void {
    const index = this.index(dev);
    this.sock.request(RTM_NEWLINK, 0, (w) => ifinfomsg(w, index, up ? IFF_UP : 0, IFF_UP), `setting ${dev} ${up ? 'up' : 'down'}${this.where()}`);
  }

  setMtu(dev: string | number, mtu: number): void {
    if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) throw new LispwgError('BAD_MTU', `MTU ${mtu} is out of range (68..65535)`);
    const index = this.index(dev);
    this.sock.request(RTM_NEWLINK, 0, (w) => (ifinfomsg(w, index), w.attrU32(IFLA_MTU, mtu)), `setting the MTU of ${dev} to ${mtu}${this.where()}`);
  }

  /** Creates a link of a kind that needs no parameters (wireguard, dummy...): `ip link add NAME type KIND`. */
  createLink(name: string, kind: string, opts: { mtu?: number } = {}): void {
    checkIfName(name);
    this.sock.request(
      RTM_NEWLINK,
      NLM_F_CREATE | NLM_F_EXCL,
      (w) => {
        ifinfomsg(w, 0);
        w.attrString(IFLA_IFNAME, name);
        if (opts.mtu) w.attrU32(IFLA_MTU, opts.mtu);
        w.nest(IFLA_LINKINFO, () => w.attrString(IFLA_INFO_KIND, kind));
      },
      `creating interface ${name} of type ${kind}${this.where()}`,
    );
  }

  deleteLink(dev: string | number): void {
    const index = this.index(dev);
    this.sock.request(RTM_DELLINK, 0, (w) => ifinfomsg(w, index), `deleting interface ${dev}${this.where()}`);
  }

  // ---- addresses ----

  private address(cmd: number, flags: number, dev: string | number, cidr: string, opts: { noDad?: boolean }, what: string): void {
    const p = parsePrefix(cidr, { bareIsHost: true, what: 'interface address' });
    const index = this.index(dev);
    const ifaFlags = opts.noDad && p.family === 'ipv6' ? IFA_F_NODAD : 0;
    this.sock.request(
      cmd,
      flags,
      (w) => {
        w.u8(family(p.family)).u8(p.maskLen).u8(ifaFlags).u8(RT_SCOPE_UNIVERSE).u32(index);
        // IPv4: LOCAL is the interface's address, ADDRESS the peer's (the same when not point-to-point)
        if (p.family === 'ipv4') w.attr(IFA_LOCAL, p.bytes);
        w.attr(IFA_ADDRESS, p.bytes);
        if (ifaFlags) w.attrU32(IFA_FLAGS, ifaFlags);
      },
      `${what} ${cidr} ${cmd === RTM_DELADDR ? 'from' : 'on'} ${dev}${this.where()}`,
    );
  }

  /** `ip addr add CIDR dev DEV` (noDad: IPv6 usable at once, no duplicate address detection). */
  addAddress(dev: string | number, cidr: string, opts: { noDad?: boolean } = {}): void {
    this.address(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, dev, cidr, opts, 'adding address');
  }

  /** Adds or updates the address without failing when it exists. */
  replaceAddress(dev: string | number, cidr: string, opts: { noDad?: boolean } = {}): void {
    this.address(RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, dev, cidr, opts, 'setting address');
  }

  delAddress(dev: string | number, cidr: string): void {
    this.address(RTM_DELADDR, 0, dev, cidr, {}, 'removing address');
  }

  /** Addresses of one interface, or of all. */
  addresses(dev?: string | number): AddressInfo[] {
    const index = dev === undefined ? undefined : this.index(dev);
    return this.sock
      .request(RTM_GETADDR, NLM_F_DUMP, (w) => w.u8(AF_UNSPEC).u8(0).u8(0).u8(0).u32(0), `listing addresses${this.where()}`)
      .filter((m) => m.type === RTM_NEWADDR)
      .map(parseAddress)
      .filter((a) => index === undefined || a.ifindex === index);
  }

  // ---- routes ----

  private route(cmd: number, flags: number, r: RouteSpec, what: string): void {
    const dst =
      r.dst === 'default' ? parsePrefix('0.0.0.0/0') : r.dst === 'default6' ? parsePrefix('::/0') : parsePrefix(r.dst, { bareIsHost: true, what: 'route destination' });
    const gw = r.gateway === undefined ? undefined : parseIp(r.gateway, 'gateway');
    const src = r.src === undefined ? undefined : parseIp(r.src, 'source address');
    if (gw && gw.family !== dst.family) throw new LispwgError('BAD_ROUTE', `gateway ${r.gateway} is not ${familyName(dst.family)} like ${r.dst}`);
    if (r.dev === undefined && !gw && cmd !== RTM_DELROUTE) throw new LispwgError('BAD_ROUTE', `route ${r.dst} needs a dev or a gateway`);
    const oif = r.dev === undefined ? undefined : this.index(r.dev);
    const table = r.table ?? RT_TABLE_MAIN;
    const del = cmd === RTM_DELROUTE;
    const scope = del ? RT_SCOPE_NOWHERE : !gw && dst.family === 'ipv4' ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE;
    const desc = `${r.dst}${r.gateway ? ` via ${r.gateway}` : ''}${r.dev !== undefined ? ` dev ${r.dev}` : ''}${r.table ? ` table ${r.table}` : ''}`;
    this.sock.request(
      cmd,
      flags,
      (w) => {
        w.u8(family(dst.family)).u8(dst.maskLen).u8(0).u8(0);
        w.u8(table < 256 ? table : 0).u8(del ? 0 : RTPROT_STATIC).u8(scope).u8(del ? 0 : RTN_UNICAST).u32(0);
        if (dst.maskLen > 0) w.attr(RTA_DST, dst.bytes);
        if (table >= 256) w.attrU32(RTA_TABLE, table);
        if (oif !== undefined) w.attrU32(RTA_OIF, oif);
        if (gw) w.attr(RTA_GATEWAY, gw.bytes);
        if (src) w.attr(RTA_PREFSRC, src.bytes);
        if (r.metric !== undefined) w.attrU32(RTA_PRIORITY, r.metric);
      },
      `${what} ${desc}${this.where()}`,
    );
  }

  /** `ip route add`: fails with NETLINK_EEXIST when the same route exists. */
  addRoute(r: RouteSpec): void {
    this.route(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, r, 'adding route');
  }

  /** `ip route replace`: adds, or replaces the route with the same destination, table and metric. */
  replaceRoute(r: RouteSpec): void {
    this.route(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, r, 'replacing route');
  }

  /** `ip route del`: the kernel removes the first route matching what is given. */
  delRoute(r: RouteSpec): void {
    this.route(RTM_DELROUTE, 0, r, 'removing route');
  }

  /** Routes of one family in one table (default: main). */
  routes(fam: IpFamily, table = RT_TABLE_MAIN): RouteInfo[] {
    return this.sock
      .request(RTM_GETROUTE, NLM_F_DUMP, (w) => w.u8(family(fam)).u8(0).u8(0).u8(0).u8(0).u8(0).u8(0).u8(0).u32(0), `listing ${familyName(fam)} routes${this.where()}`)
      .filter((m) => m.type === RTM_NEWROUTE)
      .map(parseRoute)
      .filter((r) => r.table === table);
  }
}

// ---- address monitor ----

export type AddressEvent =
  | ({ type: 'add' | 'del'; label?: string } & AddressInfo)
  /** A route was added (with `routes`): what was unreachable a moment ago may be reachable now. */
  | { type: 'route' }
  /** The kernel dropped events (the socket overflowed): re-read addresses() to resynchronise. */
  | { type: 'overrun' };

export interface AddressMonitor {
  close(): void;
}

/**
 * Calls `onEvent` for every address added to or removed from any interface (IPv4 and IPv6) in the
 * caller's namespace or a named one. An IPv6 address appears first as tentative, then again once
 * duplicate address detection is done. With `routes`, also every route added: a new address
 * usually comes before the route through it (a DHCP client, our access points), so what was
 * sent right after the address appeared may have found no route. Keeps the event loop alive until close().
 */
export function monitorAddresses(onEvent: (e: AddressEvent) => void, opts: { netns?: string; routes?: boolean } = {}): AddressMonitor {
  const groups = RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR | (opts.routes ? RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE : 0);
  const sock = NetlinkSocket.open(NETLINK_ROUTE, { groups, nonBlocking: true, ...(opts.netns ? { netns: opts.netns } : {}) });
  let poll: PollHandle | undefined;
  const drain = () => {
    for (;;) {
      let msgs: NlMessage[];
      try {
        msgs = sock.receive();
      } catch (e) {
        if (e instanceof LispwgError && e.code === 'OS_ENOBUFS') {
          onEvent({ type: 'overrun' });
          continue;
        }
        throw e;
      }
      if (!msgs.length) return;
      for (const m of msgs) {
        if (m.type === RTM_NEWROUTE) {
          onEvent({ type: 'route' });
          continue;
        }
        if (m.type !== RTM_NEWADDR && m.type !== RTM_DELADDR) continue;
        const label = parseAttrs(m.payload, 8).get(IFA_LABEL);
        onEvent({
          type: m.type === RTM_NEWADDR ? 'add' : 'del',
          ...parseAddress(m),
          ...(label ? { label: label.toString('utf8').replace(/\0.*$/s, '') } : {}),
        });
      }
    }
  };
  poll = callNative('watching address changes', (a) => a.pollStart(sock.fd, drain));
  return {
    close() {
      if (!poll) return;
      native().pollStop(poll);
      poll = undefined;
      sock.close();
    },
  };
}
