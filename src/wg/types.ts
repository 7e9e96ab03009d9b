/**
 * The WireGuard device as the control plane sees it: an interface with a private key, a listen
 * port and peers (public key, endpoint, allowed IPs), whichever implementation runs it
 * (the kernel module, or wireguard-go in userspace).
 */
import type { Logger } from '../util/log.js';

export type WgBackend = 'kernel' | 'userspace';

export interface WgEndpoint {
  address: string;
  port: number;
}

export interface WgPeerConfig {
  publicKey: Uint8Array;
  /** Where to send; without it the peer is reachable only after it contacts us (it roams anyway). */
  endpoint?: WgEndpoint;
  /** CIDR prefixes routed to this peer and accepted from it. Added to the peer's current ones... */
  allowedIps: string[];
  /** ...unless this is set: then they replace them. */
  replaceAllowedIps?: boolean;
  /** Seconds between keepalives; 0 turns them off. Unset leaves the current value. */
  persistentKeepalive?: number;
}

export interface WgPeerStatus {
  publicKey: Uint8Array;
  endpoint?: WgEndpoint;
  allowedIps: string[];
  /** Time of the last completed handshake; absent if none yet. */
  lastHandshake?: Date;
  rxBytes: number;
  txBytes: number;
  persistentKeepalive: number;
}

export interface WgDevice {
  readonly name: string;
  readonly backend: WgBackend;
  /** The device's own public key (derived from its private key). */
  readonly publicKey: Uint8Array;
  /** Adds the peer, or updates it (like `wg set IF peer ...`). */
  setPeer(peer: WgPeerConfig): Promise<void>;
  /** Removes the peer; removing an unknown peer is not an error. */
  removePeer(publicKey: Uint8Array): Promise<void>;
  peers(): Promise<WgPeerStatus[]>;
  /** The UDP port the device listens on (the chosen one when opened with port 0). */
  listenPort(): Promise<number>;
  /**
   * Called after the device had to be re-created (userspace: wireguard-go died and was restarted).
   * Keys, port, peers, MTU and the interface's addresses are already restored; routes through the
   * interface died with it and are the listener's to re-install. Never called by the kernel backend.
   */
  onRestart(listener: () => void | Promise<void>): void;
  /** Removes the interface (and stops wireguard-go); idempotent. */
  close(): Promise<void>;
}

export interface OpenWireGuardOptions {
  /** Interface name, 1..15 characters, unique on the machine for wireguard-go (its UAPI socket path). */
  name: string;
  privateKey: Uint8Array;
  /** UDP listen port; 0 or absent: chosen by the system (and kept across restarts). */
  listenPort?: number;
  /** 'auto' (default): LISPWG_WG_BACKEND if set, else the kernel module when present, else wireguard-go. */
  backend?: 'auto' | WgBackend;
  /** Addresses (CIDR) to put on the interface; it is always brought up. */
  addresses?: string[];
  mtu?: number;
  /**
   * Create the device inside this named network namespace instead of the caller's
   * (`ip netns exec NS wireguard-go`, netlink sockets opened there). Daemons normally run
   * inside their namespace and leave this unset.
   */
  netns?: string;
  log?: Logger;
}
