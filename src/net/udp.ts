/**
 * UDP sockets that only hear one interface. A control socket bound to an address inside the
 * control tunnel is not enough on its own: Linux accepts a datagram for any local address on any
 * interface (the weak host model), so an attacker on the underlay could send to the tunnel
 * address with a spoofed inner source and it would be read as if WireGuard had authenticated
 * it. Bound to the WireGuard interface (SO_BINDTODEVICE, set before bind(2) so nothing from
 * another interface is ever queued), the socket receives only what the tunnel decrypted, and
 * WireGuard's cryptokey routing guarantees the source address belongs to the peer that sent it.
 */
import dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import { callNative } from '../native/native.js';

export interface UdpSocketOptions {
  address: string;
  port: number;
  /** Receive only datagrams that arrived on this interface. */
  device?: string;
  recvBufferSize?: number;
  /** Host lookups for send(): the default answers IP literals at once (no DNS call, no tick). */
  lookup?: dgram.SocketOptions['lookup'];
}

const literalLookup = (host: string, _o: unknown, cb: (e: Error | null, a: string, f: number) => void) => cb(null, host, isIPv6(host) ? 6 : 4);

/** A bound dgram socket; with `device`, bound to that interface before it is bound to the address. */
export async function openUdpSocket(opts: UdpSocketOptions): Promise<dgram.Socket> {
  const v6 = isIPv6(opts.address);
  const lookup = opts.lookup ?? literalLookup;
  const socket = dgram.createSocket(
    v6 ? { type: 'udp6', ipv6Only: true, lookup, ...(opts.recvBufferSize ? { recvBufferSize: opts.recvBufferSize } : {}) } : { type: 'udp4', lookup, ...(opts.recvBufferSize ? { recvBufferSize: opts.recvBufferSize } : {}) },
  );
  try {
    if (opts.device) {
      const fd = callNative(`binding UDP [${opts.address}]:${opts.port} to interface ${opts.device}`, (n) => n.udpOpen(opts.address, opts.port, opts.device!, opts.recvBufferSize ?? 0));
      await bound(socket, { fd });
    } else {
      await bound(socket, { port: opts.port, address: opts.address });
    }
  } catch (e) {
    socket.close();
    throw e;
  }
  return socket;
}

function bound(socket: dgram.Socket, how: dgram.BindOptions): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(how, () => {
      socket.off('error', reject);
      resolve();
    });
  });
}
