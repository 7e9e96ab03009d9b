/**
 * The file descriptor under a bound dgram socket, so the packet loop can read and write it with
 * one synchronous system call per packet (the native addon's readFd / writeFd) instead of going
 * through dgram's per-datagram Buffer, DNS lookup and send request: this is what lets a Node data
 * plane reach a few hundred Mb/s (measured in experiments/bench/dataplane.ts).
 *
 * Node has no public API for it: dgram keeps its libuv handle under an internal symbol
 * ('state symbol'; the `_handle` getter does the same but prints a deprecation warning). Node's
 * engines field pins the versions this runs on; a Node without it fails here, loudly.
 */
import type { Socket } from 'node:dgram';
import { LispwgError } from '../../util/errors.js';

interface UdpHandle {
  fd: number;
  recvStop(): number;
}

function handleOf(socket: Socket): UdpHandle {
  const sym = Object.getOwnPropertySymbols(socket).find((s) => s.description === 'state symbol');
  const state = sym ? (socket as unknown as Record<symbol, { handle?: Partial<UdpHandle> } | undefined>)[sym] : undefined;
  const h = state?.handle;
  if (!h || typeof h.fd !== 'number' || h.fd < 0 || typeof h.recvStop !== 'function') {
    throw new LispwgError('NODE_UNSUPPORTED', `this Node.js (${process.version}) does not expose a UDP socket's descriptor the way lispwg's data plane expects (tested on Node 20 and 22)`);
  }
  return h as UdpHandle;
}

/** The fd of a bound (or connected) socket, still served by dgram (use it only to write). */
export function udpFd(socket: Socket): number {
  return handleOf(socket).fd;
}

/** Stops dgram reading the socket and returns its fd: the caller polls and reads it from now on. */
export function takeUdpReader(socket: Socket): number {
  const h = handleOf(socket);
  h.recvStop();
  return h.fd;
}
