/**
 * Typed access to lispwg's native addon (native.c, built by node-gyp into build/Release at
 * `npm ci` / `npm install`), and the translation of its OS errors into LispwgErrors.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { relative } from 'node:path';
import { LispwgError } from '../util/errors.js';
import { nativeAddonPath, projectRoot } from '../util/project.js';

/** An opaque uv_poll handle returned by pollStart. */
export type PollHandle = { readonly __poll: unique symbol };

export interface NativeAddon {
  tunOpen(name: string, netns: string | null): { fd: number; name: string };
  netlinkOpen(protocol: number, groups: number, netns: string | null, freshNetns: boolean, nonBlocking: boolean): number;
  /** One read(); -1 when nothing is waiting. */
  readFd(fd: number, buffer: Uint8Array): number;
  writeFd(fd: number, buffer: Uint8Array): number;
  /** Calls back on the event loop whenever fd is readable (status < 0: libuv error). */
  pollStart(fd: number, callback: (status: number) => void): PollHandle;
  pollStop(handle: PollHandle): void;
  /** A bound UDP socket's fd (v6-only for IPv6), first bound to `device` when given. */
  udpOpen(address: string, port: number, device: string | null, rcvbuf: number): number;
  strerror(errno: number): string;
}

let addon: NativeAddon | undefined;

export function native(): NativeAddon {
  if (addon) return addon;
  const file = nativeAddonPath();
  if (!existsSync(file)) {
    throw new LispwgError(
      'ADDON_MISSING',
      `lispwg's native addon (${relative(projectRoot(), file)}) is not built: run \`npm install\` (or \`npm run install\`) in the repository; it needs python3, make and a C compiler`,
    );
  }
  addon = createRequire(import.meta.url)(file) as NativeAddon;
  return addon;
}

/** The shape of the errors the addon throws. */
interface NativeError extends Error {
  code: string;
  errno: number;
  syscall: string;
}

function isNativeError(e: unknown): e is NativeError {
  return e instanceof Error && typeof (e as Partial<NativeError>).errno === 'number' && typeof (e as Partial<NativeError>).syscall === 'string';
}

/**
 * Runs a native call; an OS error becomes a LispwgError whose code says what is missing or wrong
 * (NETNS_NOT_FOUND, TUN_UNAVAILABLE, NOT_PERMITTED...) and whose message names `what` was being done
 * and the OS reason. `errno` (ENOENT...) stays available on the error for callers that need it.
 */
export function callNative<T>(what: string, f: (addon: NativeAddon) => T): T {
  const a = native();
  try {
    return f(a);
  } catch (e) {
    if (!isNativeError(e)) throw e;
    throw new NativeCallError(what, e);
  }
}

class NativeCallError extends LispwgError {
  readonly errno: string;
  constructor(what: string, e: NativeError) {
    const [code, hint] = classify(e);
    super(code, `${what}: ${e.message}${hint ? ` (${hint})` : ''}`, { cause: e });
    this.errno = e.code;
  }
}

function classify(e: NativeError): [string, string] {
  const s = e.syscall;
  if (s.startsWith('open /var/run/netns/')) {
    return e.code === 'ENOENT' ? ['NETNS_NOT_FOUND', `no namespace ${s.slice('open /var/run/netns/'.length)}: see \`ip netns list\``] : ['NETNS_OPEN', ''];
  }
  if (s === 'open /dev/net/tun') {
    if (e.code === 'ENOENT' || e.code === 'ENODEV' || e.code === 'ENXIO') return ['TUN_UNAVAILABLE', 'the kernel has no TUN support or /dev/net/tun is missing (modprobe tun; mknod /dev/net/tun c 10 200)'];
    if (e.code === 'EACCES' || e.code === 'EPERM') return ['NOT_PERMITTED', 'opening /dev/net/tun needs root or CAP_NET_ADMIN'];
  }
  if (s === 'ioctl TUNSETIFF') {
    if (e.code === 'EPERM') return ['NOT_PERMITTED', 'creating a TUN interface needs CAP_NET_ADMIN'];
    if (e.code === 'EBUSY') return ['TUN_BUSY', 'an interface of that name exists and is not a free TUN queue'];
    if (e.code === 'EINVAL') return ['TUN_INVALID', 'an interface of that name exists and is not a TUN, or has other flags (TAP, multi-queue)'];
  }
  if (s === 'setns' || s === 'unshare(CLONE_NEWNET)') {
    if (e.code === 'EPERM') return ['NOT_PERMITTED', 'entering a network namespace needs CAP_SYS_ADMIN'];
  }
  if (s.startsWith('socket(AF_NETLINK)') && e.code === 'EPROTONOSUPPORT') return ['NETLINK_UNSUPPORTED', 'this netlink protocol is not available in the kernel'];
  if (s === 'setsockopt SO_BINDTODEVICE' && e.code === 'ENODEV') return ['NO_SUCH_INTERFACE', 'the interface to bind to does not exist'];
  if (s === 'bind' && e.code === 'EADDRINUSE') return ['ADDRESS_IN_USE', 'another socket holds this address and port'];
  if (s === 'bind' && e.code === 'EADDRNOTAVAIL') return ['ADDRESS_NOT_AVAILABLE', 'no interface has this address'];
  if (e.code === 'EPERM' || e.code === 'EACCES') return ['NOT_PERMITTED', 'needs root or CAP_NET_ADMIN'];
  return [`OS_${e.code}`, ''];
}
