/**
 * The kernel backend: a `wireguard` link created over rtnetlink and configured over the module's
 * generic-netlink API (WG_CMD_SET_DEVICE / WG_CMD_GET_DEVICE, include/uapi/linux/wireguard.h),
 * with no process spawned.
 */
import { LispwgError } from '../util/errors.js';
import { createLogger, type Logger } from '../util/log.js';
import { formatIpBytes } from '../ip/ip.js';
import { NETLINK_GENERIC, NLM_F_DUMP, NetlinkSocket, parseAttrList, parseAttrs, type NlMessage, type NlWriter } from '../net/netlink.js';
import { Rtnetlink } from '../net/rtnetlink.js';
import { publicKey as derivePublicKey } from './keys.js';
import { checkPeer, type CheckedPeer } from './peer.js';
import type { OpenWireGuardOptions, WgDevice, WgEndpoint, WgPeerConfig, WgPeerStatus } from './types.js';

// generic netlink controller (linux/genetlink.h)
const GENL_ID_CTRL = 0x10;
const CTRL_CMD_GETFAMILY = 3;
const CTRL_ATTR_FAMILY_ID = 1;
const CTRL_ATTR_FAMILY_NAME = 2;

// linux/wireguard.h
const WG_GENL_NAME = 'wireguard';
const WG_GENL_VERSION = 1;
const WG_CMD_GET_DEVICE = 0;
const WG_CMD_SET_DEVICE = 1;
const WGDEVICE_A_IFNAME = 2;
const WGDEVICE_A_PRIVATE_KEY = 3;
const WGDEVICE_A_LISTEN_PORT = 6;
const WGDEVICE_A_PEERS = 8;
const WGPEER_F_REMOVE_ME = 1;
const WGPEER_F_REPLACE_ALLOWEDIPS = 2;
const WGPEER_A_PUBLIC_KEY = 1;
const WGPEER_A_FLAGS = 3;
const WGPEER_A_ENDPOINT = 4;
const WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL = 5;
const WGPEER_A_LAST_HANDSHAKE_TIME = 6;
const WGPEER_A_RX_BYTES = 7;
const WGPEER_A_TX_BYTES = 8;
const WGPEER_A_ALLOWEDIPS = 9;
const WGALLOWEDIP_A_FAMILY = 1;
const WGALLOWEDIP_A_IPADDR = 2;
const WGALLOWEDIP_A_CIDR_MASK = 3;

const AF_INET = 2;
const AF_INET6 = 10;

/** struct sockaddr_in / sockaddr_in6, as WGPEER_A_ENDPOINT carries them. */
export function encodeSockaddr(e: NonNullable<CheckedPeer['endpoint']>): Buffer {
  const v4 = e.family === 'ipv4';
  const b = Buffer.alloc(v4 ? 16 : 28);
  b.writeUInt16LE(v4 ? AF_INET : AF_INET6, 0); // sa_family: host order
  b.writeUInt16BE(e.port, 2); // port: network order
  b.set(e.bytes, v4 ? 4 : 8); // sin_addr / sin6_addr (after sin6_flowinfo)
  return b;
}

export function decodeSockaddr(b: Buffer): WgEndpoint | undefined {
  if (b.length < 4) return undefined;
  const fam = b.readUInt16LE(0);
  if (fam === AF_INET && b.length >= 8) return { address: formatIpBytes(b.subarray(4, 8)), port: b.readUInt16BE(2) };
  if (fam === AF_INET6 && b.length >= 24) return { address: formatIpBytes(b.subarray(8, 24)), port: b.readUInt16BE(2) };
  return undefined;
}

function genlHeader(w: NlWriter, cmd: number, version: number): void {
  w.u8(cmd).u8(version).u16(0);
}

/** WG_CMD_SET_DEVICE attributes for one peer (WGDEVICE_A_PEERS > 0 > ...). */
export function writePeer(w: NlWriter, p: CheckedPeer): void {
  w.nest(0, () => {
    w.attr(WGPEER_A_PUBLIC_KEY, p.publicKey);
    if (p.replaceAllowedIps) w.attrU32(WGPEER_A_FLAGS, WGPEER_F_REPLACE_ALLOWEDIPS);
    if (p.endpoint) w.attr(WGPEER_A_ENDPOINT, encodeSockaddr(p.endpoint));
    if (p.persistentKeepalive !== undefined) w.attrU16(WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL, p.persistentKeepalive);
    if (p.allowedIps.length) {
      w.nest(WGPEER_A_ALLOWEDIPS, () => {
        for (const a of p.allowedIps) {
          w.nest(0, () => {
            w.attrU16(WGALLOWEDIP_A_FAMILY, a.family === 'ipv4' ? AF_INET : AF_INET6);
            w.attr(WGALLOWEDIP_A_IPADDR, a.bytes);
            w.attrU8(WGALLOWEDIP_A_CIDR_MASK, a.maskLen);
          });
        }
      });
    }
  });
}

/** Peers from the messages of a WG_CMD_GET_DEVICE dump, coalescing a peer split across messages. */
export function parseDevice(msgs: NlMessage[]): { listenPort: number; peers: WgPeerStatus[] } {
  let listenPort = 0;
  const peers: WgPeerStatus[] = [];
  for (const m of msgs) {
    const dev = parseAttrs(m.payload, 4); // after genlmsghdr
    const port = dev.get(WGDEVICE_A_LISTEN_PORT);
    if (port) listenPort = port.readUInt16LE(0);
    const list = dev.get(WGDEVICE_A_PEERS);
    if (!list) continue;
    for (const { value } of parseAttrList(list)) {
      const a = parseAttrs(value);
      const key = a.get(WGPEER_A_PUBLIC_KEY);
      if (!key) continue;
      const last = peers[peers.length - 1];
      const peer: WgPeerStatus =
        last && Buffer.from(last.publicKey).equals(key)
          ? last
          : { publicKey: Buffer.from(key), allowedIps: [], rxBytes: 0, txBytes: 0, persistentKeepalive: 0 };
      if (peer !== last) peers.push(peer);
      const ep = a.get(WGPEER_A_ENDPOINT);
      const e = ep && decodeSockaddr(ep);
      if (e) peer.endpoint = e;
      const hs = a.get(WGPEER_A_LAST_HANDSHAKE_TIME);
      if (hs && hs.length >= 16) {
        const ms = Number(hs.readBigInt64LE(0)) * 1000 + Math.floor(Number(hs.readBigInt64LE(8)) / 1e6);
        if (ms > 0) peer.lastHandshake = new Date(ms);
      }
      const rx = a.get(WGPEER_A_RX_BYTES);
      if (rx) peer.rxBytes = Number(rx.readBigUInt64LE(0));
      const tx = a.get(WGPEER_A_TX_BYTES);
      if (tx) peer.txBytes = Number(tx.readBigUInt64LE(0));
      const ka = a.get(WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL);
      if (ka) peer.persistentKeepalive = ka.readUInt16LE(0);
      const ips = a.get(WGPEER_A_ALLOWEDIPS);
      for (const { value: ipAttr } of ips ? parseAttrList(ips) : []) {
        const ip = parseAttrs(ipAttr);
        const addr = ip.get(WGALLOWEDIP_A_IPADDR);
        const mask = ip.get(WGALLOWEDIP_A_CIDR_MASK);
        if (addr && mask) peer.allowedIps.push(`${formatIpBytes(addr)}/${mask.readUInt8(0)}`);
      }
    }
  }
  return { listenPort, peers };
}

export class KernelWgDevice implements WgDevice {
  readonly backend = 'kernel' as const;
  readonly publicKey: Buffer;
  private readonly log: Logger;
  private closed = false;

  private constructor(
    readonly name: string,
    privateKey: Buffer,
    private readonly rt: Rtnetlink,
    private readonly genl: NetlinkSocket,
    private readonly family: number,
    opts: OpenWireGuardOptions,
  ) {
    this.publicKey = derivePublicKey(privateKey);
    this.log = (opts.log ?? createLogger()).child({ wg: name, backend: 'kernel', ...(opts.netns ? { netns: opts.netns } : {}) });
  }

  static async open(opts: OpenWireGuardOptions, privateKey: Buffer): Promise<KernelWgDevice> {
    const where = opts.netns ? { netns: opts.netns } : {};
    const rt = Rtnetlink.open(where);
    let genl: NetlinkSocket | undefined;
    let created = false;
    try {
      rt.createLink(opts.name, 'wireguard', opts.mtu ? { mtu: opts.mtu } : {});
      created = true;
      genl = NetlinkSocket.open(NETLINK_GENERIC, where);
      const dev = new KernelWgDevice(opts.name, privateKey, rt, genl, resolveFamily(genl), opts);
      dev.set(
        (w) => {
          w.attr(WGDEVICE_A_PRIVATE_KEY, privateKey);
          w.attrU16(WGDEVICE_A_LISTEN_PORT, opts.listenPort ?? 0);
        },
        `configuring ${opts.name} (key, port)`,
      );
      for (const a of opts.addresses ?? []) rt.replaceAddress(opts.name, a, { noDad: true });
      rt.setLinkUp(opts.name);
      dev.log.info('wireguard interface created', { listenPort: await dev.listenPort() });
      return dev;
    } catch (e) {
      if (created) rt.deleteLink(opts.name);
      genl?.close();
      rt.close();
      throw e;
    }
  }

  private set(body: (w: NlWriter) => void, what: string): void {
    if (this.closed) throw new LispwgError('WG_CLOSED', `${what}: device ${this.name} is closed`);
    this.genl.request(
      this.family,
      0,
      (w) => {
        genlHeader(w, WG_CMD_SET_DEVICE, WG_GENL_VERSION);
        w.attrString(WGDEVICE_A_IFNAME, this.name);
        body(w);
      },
      what,
    );
  }

  private get(what: string): { listenPort: number; peers: WgPeerStatus[] } {
    if (this.closed) throw new LispwgError('WG_CLOSED', `${what}: device ${this.name} is closed`);
    const msgs = this.genl.request(this.family, NLM_F_DUMP, (w) => (genlHeader(w, WG_CMD_GET_DEVICE, WG_GENL_VERSION), w.attrString(WGDEVICE_A_IFNAME, this.name)), what);
    return parseDevice(msgs);
  }

  async setPeer(peer: WgPeerConfig): Promise<void> {
    const p = checkPeer(peer);
    this.set((w) => w.nest(WGDEVICE_A_PEERS, () => writePeer(w, p)), `setting peer ${p.publicKey.toString('base64')} on ${this.name}`);
  }

  async removePeer(publicKey: Uint8Array): Promise<void> {
    const key = Buffer.from(publicKey);
    this.set(
      (w) => w.nest(WGDEVICE_A_PEERS, () => w.nest(0, () => (w.attr(WGPEER_A_PUBLIC_KEY, key), w.attrU32(WGPEER_A_FLAGS, WGPEER_F_REMOVE_ME)))),
      `removing peer ${key.toString('base64')} from ${this.name}`,
    );
  }

  async peers(): Promise<WgPeerStatus[]> {
    return this.get(`reading peers of ${this.name}`).peers;
  }

  async listenPort(): Promise<number> {
    return this.get(`reading the port of ${this.name}`).listenPort;
  }

  /** The kernel device never restarts: listeners are never called. */
  onRestart(_listener: () => void | Promise<void>): void {}

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      if (this.rt.link(this.name)) this.rt.deleteLink(this.name);
    } finally {
      this.genl.close();
      this.rt.close();
    }
    this.log.info('closed');
  }
}

/** The generic-netlink family id of "wireguard"; WG_NO_KERNEL_MODULE when the module is absent. */
function resolveFamily(genl: NetlinkSocket): number {
  let msgs: NlMessage[];
  try {
    msgs = genl.request(GENL_ID_CTRL, 0, (w) => (genlHeader(w, CTRL_CMD_GETFAMILY, 1), w.attrString(CTRL_ATTR_FAMILY_NAME, WG_GENL_NAME)), 'resolving the wireguard netlink family');
  } catch (e) {
    if (e instanceof LispwgError && e.code === 'NETLINK_ENOENT') throw new LispwgError('WG_NO_KERNEL_MODULE', 'the kernel has no wireguard generic-netlink family: the wireguard module is not loaded');
    throw e;
  }
  const id = msgs.map((m) => parseAttrs(m.payload, 4).get(CTRL_ATTR_FAMILY_ID)).find((b) => b);
  if (!id) throw new LispwgError('NETLINK_MALFORMED', 'the kernel answered the wireguard family lookup without an id');
  return id.readUInt16LE(0);
}
