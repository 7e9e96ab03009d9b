/** One end of an IPsec tunnel (tunnel mode, ChaCha20-Poly1305) between two RLOCs. */
export interface IpsecEndpoint {
  /** A short name, unique among the tunnels of a run (config directories, SA names). */
  name: string;
  /** The network namespace this end lives in (none: the caller's). */
  netns?: string;
  /** This end's RLOC and the other's: the outer addresses of the ESP packets. */
  local: string;
  remote: string;
  /** The traffic carried: this end's EID prefixes and the other's (CIDR). */
  localTs: string[];
  remoteTs: string[];
}

/** A tunnel up between two endpoints. */
export interface IpsecTunnel {
  backend: 'kernel' | 'strongswan';
  /** What carries it, in a sentence (for results' metadata). */
  detail: string;
  /** The inner MTU to use (largest inner packet that leaves unfragmented). */
  mtu: number;
  close(): Promise<void>;
}
