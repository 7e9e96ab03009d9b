/**
 * Opening a WireGuard device: the kernel module where the kernel has it, wireguard-go otherwise,
 * behind one interface (WgDevice).
 *
 *   const dev = await openWireGuard({ name: 'wg-xtr1', privateKey, listenPort: 51820, addresses: ['100.100.0.2/16'] });
 *   await dev.setPeer({ publicKey, endpoint: { address: '198.18.1.2', port: 51820 }, allowedIps: ['198.18.10.0/24'] });
 *
 * The device lives in the caller's network namespace (daemons run inside their node's namespace),
 * or in `netns` when given.
 */
import { LispwgError } from '../util/errors.js';
import { hasCommand } from '../util/exec.js';
import { NetlinkError } from '../net/netlink.js';
import { checkIfName, Rtnetlink } from '../net/rtnetlink.js';
import { KernelWgDevice } from './kernel.js';
import { checkKey, checkPort } from './peer.js';
import { UserspaceWgDevice } from './userspace.js';
import type { OpenWireGuardOptions, WgBackend, WgDevice } from './types.js';

export type { OpenWireGuardOptions, WgBackend, WgDevice, WgEndpoint, WgPeerConfig, WgPeerStatus } from './types.js';

export interface BackendChoice {
  backend: WgBackend;
  /** Why: a sentence naming what is present or missing. */
  reason: string;
}

let kernelProbe: ReturnType<typeof probeKernelWireGuard> | undefined;

/**
 * Which backend to use here. LISPWG_WG_BACKEND=kernel|userspace decides when set; otherwise a
 * `wireguard` link is created (and dropped) in a new, empty namespace: if the kernel refuses the
 * link type, wireguard-go is used. Throws WG_UNAVAILABLE when neither exists. The kernel is
 * probed once per process.
 */
export async function detectWireGuardBackend(): Promise<BackendChoice> {
  const env = process.env.LISPWG_WG_BACKEND;
  if (env) {
    if (env !== 'kernel' && env !== 'userspace') throw new LispwgError('BAD_BACKEND', `LISPWG_WG_BACKEND='${env}': expected 'kernel' or 'userspace'`);
    if (env === 'userspace') await requireWireguardGo('LISPWG_WG_BACKEND=userspace');
    return { backend: env, reason: `LISPWG_WG_BACKEND=${env}` };
  }
  const kernel = (kernelProbe ??= probeKernelWireGuard());
  if (kernel.ok) return { backend: 'kernel', reason: 'the kernel has WireGuard (a wireguard link can be created): using it' };
  if (!(await hasCommand('wireguard-go'))) {
    throw new LispwgError('WG_UNAVAILABLE', `no WireGuard: ${kernel.why}, and wireguard-go is not installed (Debian package wireguard-go)`);
  }
  return { backend: 'userspace', reason: `${kernel.why}: using wireguard-go` };
}

async function requireWireguardGo(why: string): Promise<void> {
  if (!(await hasCommand('wireguard-go'))) throw new LispwgError('WG_UNAVAILABLE', `${why}, but wireguard-go is not installed (Debian package wireguard-go)`);
}

const notSupported = (e: unknown): e is NetlinkError => e instanceof NetlinkError && (e.errno === 'EOPNOTSUPP' || e.errno === 'ENOTSUP');

/**
 * Whether the kernel can create WireGuard links: tries `ip link add X type wireguard` in a
 * throwaway namespace (or, without the right to make one, here, deleting the link at once).
 */
export function probeKernelWireGuard(): { ok: true } | { ok: false; why: string } {
  let rt: Rtnetlink;
  let fresh = true;
  try {
    rt = Rtnetlink.open({ freshNetns: true });
  } catch {
    fresh = false;
    rt = Rtnetlink.open();
  }
  const name = `lwgprobe${Math.floor(Math.random() * 1e6)}`;
  try {
    rt.createLink(name, 'wireguard');
    if (!fresh) rt.deleteLink(name);
    return { ok: true };
  } catch (e) {
    if (notSupported(e)) return { ok: false, why: `the kernel has no wireguard module (ip link add ... type wireguard: ${(e as Error).message.replace(/^.*?: /, '')})` };
    if (e instanceof NetlinkError && e.errno === 'EPERM') return { ok: false, why: 'not permitted to create links (needs CAP_NET_ADMIN), so the kernel module cannot be used' };
    return { ok: false, why: `creating a wireguard link failed (${(e as Error).message})` };
  } finally {
    rt.close(); // a fresh namespace, and its probe link, go with its last socket
  }
}

/** Creates the interface `name` with the given key and port, on the chosen backend. */
export async function openWireGuard(opts: OpenWireGuardOptions): Promise<WgDevice> {
  checkIfName(opts.name, 'WireGuard interface name');
  const privateKey = checkKey(opts.privateKey, 'the WireGuard private key');
  if (opts.listenPort !== undefined) checkPort(opts.listenPort, 'listen port', true);
  const requested = opts.backend ?? 'auto';
  let backend: WgBackend;
  if (requested === 'auto') {
    const choice = await detectWireGuardBackend();
    backend = choice.backend;
    opts.log?.info('wireguard backend', { backend, reason: choice.reason });
  } else if (requested === 'kernel' || requested === 'userspace') {
    backend = requested;
    if (backend === 'userspace') await requireWireguardGo('the userspace backend was asked for');
  } else {
    throw new LispwgError('BAD_BACKEND', `backend '${String(requested)}': expected 'auto', 'kernel' or 'userspace'`);
  }
  if (backend === 'kernel') {
    try {
      return await KernelWgDevice.open(opts, privateKey);
    } catch (e) {
      if (notSupported(e)) {
        throw new LispwgError('WG_NO_KERNEL_MODULE', `the kernel backend was asked for, but the kernel has no wireguard module (${e.message}): use the userspace backend (wireguard-go)`);
      }
      throw e;
    }
  }
  return UserspaceWgDevice.open(opts, privateKey);
}
