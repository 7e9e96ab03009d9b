/**
 * Peer configuration checked once, before any backend sees it, and the device's record of its
 * peers (what a restarted wireguard-go must be given back), with WireGuard's own semantics:
 * an allowed IP belongs to exactly one peer, the last one it was given to.
 */
import { LispwgError } from '../util/errors.js';
import { formatPrefix, maskPrefix, parseIp, parsePrefix, type IpAddress, type IpPrefix } from '../ip/ip.js';
import { KEY_LEN, keyToHex } from './keys.js';
import type { WgEndpoint, WgPeerConfig } from './types.js';

export interface CheckedPeer {
  publicKey: Buffer;
  /** Hex public key: the peer's identity in maps and on UAPI. */
  id: string;
  endpoint?: WgEndpoint & IpAddress;
  /** Host bits cleared, as WireGuard stores them. */
  allowedIps: IpPrefix[];
  replaceAllowedIps: boolean;
  persistentKeepalive?: number;
}

export function checkKey(key: Uint8Array, what: string): Buffer {
  if (!(key instanceof Uint8Array) || key.length !== KEY_LEN) {
    throw new LispwgError('KEY_LENGTH', `${what} must be ${KEY_LEN} bytes, got ${key instanceof Uint8Array ? key.length : typeof key}`);
  }
  return Buffer.from(key);
}

export function checkPort(port: number, what: string, allowZero: boolean): number {
  if (!Number.isInteger(port) || port < (allowZero ? 0 : 1) || port > 65535) {
    throw new LispwgError('BAD_PORT', `${what} ${port} is not a UDP port (${allowZero ? 0 : 1}..65535)`);
  }
  return port;
}

export function checkPeer(p: WgPeerConfig): CheckedPeer {
  const publicKey = checkKey(p.publicKey, 'a peer public key');
  const who = `peer ${publicKey.toString('base64')}`;
  if (!Array.isArray(p.allowedIps)) throw new LispwgError('BAD_PEER', `${who}: allowedIps must be an array of CIDR prefixes`);
  const allowedIps = p.allowedIps.map((c) => maskPrefix(parsePrefix(c, { bareIsHost: true, what: `allowed IP of ${who}` })));
  let endpoint: CheckedPeer['endpoint'];
  if (p.endpoint) {
    const a = parseIp(p.endpoint.address, `endpoint of ${who}`);
    endpoint = { address: p.endpoint.address, port: checkPort(p.endpoint.port, `endpoint port of ${who}`, false), ...a };
  }
  if (p.persistentKeepalive !== undefined) checkPort(p.persistentKeepalive, `persistent keepalive of ${who}`, true);
  return {
    publicKey,
    id: keyToHex(publicKey),
    ...(endpoint ? { endpoint } : {}),
    allowedIps,
    replaceAllowedIps: p.replaceAllowedIps ?? false,
    ...(p.persistentKeepalive !== undefined ? { persistentKeepalive: p.persistentKeepalive } : {}),
  };
}

/** What a peer is configured with, accumulated over setPeer calls. */
export interface PeerRecord {
  publicKey: Buffer;
  endpoint?: CheckedPeer['endpoint'];
  allowedIps: Map<string, IpPrefix>;
  persistentKeepalive: number;
}

/** The device's peers as configured (not as observed: roaming endpoints are WireGuard's business). */
export class PeerTable {
  private readonly peers = new Map<string, PeerRecord>();
  /** allowed IP (canonical CIDR) -> the peer id that holds it */
  private readonly owner = new Map<string, string>();

  get size(): number {
    return this.peers.size;
  }

  all(): IterableIterator<PeerRecord> {
    return this.peers.values();
  }

  set(p: CheckedPeer): void {
    let rec = this.peers.get(p.id);
    if (!rec) {
      rec = { publicKey: p.publicKey, allowedIps: new Map(), persistentKeepalive: 0 };
      this.peers.set(p.id, rec);
    }
    if (p.endpoint) rec.endpoint = p.endpoint;
    if (p.persistentKeepalive !== undefined) rec.persistentKeepalive = p.persistentKeepalive;
    if (p.replaceAllowedIps) {
      for (const c of rec.allowedIps.keys()) this.owner.delete(c);
      rec.allowedIps.clear();
    }
    for (const prefix of p.allowedIps) {
      const c = formatPrefix(prefix);
      const prev = this.owner.get(c);
      if (prev && prev !== p.id) this.peers.get(prev)?.allowedIps.delete(c);
      this.owner.set(c, p.id);
      rec.allowedIps.set(c, prefix);
    }
  }

  remove(publicKey: Uint8Array): void {
    const id = keyToHex(publicKey);
    const rec = this.peers.get(id);
    if (!rec) return;
    for (const c of rec.allowedIps.keys()) this.owner.delete(c);
    this.peers.delete(id);
  }
}
