/**
 * Kernel IPsec: an ESP tunnel-mode SA pair with ChaCha20-Poly1305 (rfc7539esp) and its policies
 * between two RLOCs, keyed statically (manual keying, as a benchmark needs no IKE), configured
 * with `ip xfrm` in each end's namespace. Only where the kernel has ESP (detect.ts says why not).
 *
 *   out: src localTs dst remoteTs -> ESP(spi A->B) from local to remote
 *   in/fwd: src remoteTs dst localTs <- ESP(spi B->A)
 *   and a route for each remote prefix towards the remote RLOC, so the out policy sees the packets.
 */
import { randomBytes } from 'node:crypto';
import { run } from '../util/exec.js';
import { XFRM_AEAD } from './detect.js';
import type { IpsecEndpoint, IpsecTunnel } from './types.js';

/** Outer IPv4 20 + SPI/sequence 8 + IV 8 + pad (<= 3) + pad length/next header 2 + ICV 16, rounded. */
const XFRM_MTU = 1500 - 60;

interface Sa {
  spi: string;
  key: string;
}

const newSa = (): Sa => ({ spi: '0x' + randomBytes(4).toString('hex').replace(/^0+/, '1'), key: '0x' + randomBytes(36).toString('hex') });

const ip = (e: IpsecEndpoint, args: string[]) => run(['ip', ...args], e.netns ? { netns: e.netns } : {});

/** The device and gateway the underlay uses towards `address`. */
async function pathTo(e: IpsecEndpoint, address: string): Promise<string[]> {
  const out = (await ip(e, ['route', 'get', address])).stdout;
  const dev = /\bdev (\S+)/.exec(out)?.[1];
  const via = /\bvia (\S+)/.exec(out)?.[1];
  return [...(via ? ['via', via] : []), ...(dev ? ['dev', dev] : [])];
}

async function configure(e: IpsecEndpoint, out: Sa, inbound: Sa): Promise<() => Promise<void>> {
  const undo: string[][] = [];
  const state = (src: string, dst: string, sa: Sa) => ['xfrm', 'state', 'add', 'src', src, 'dst', dst, 'proto', 'esp', 'spi', sa.spi, 'reqid', '1', 'mode', 'tunnel', 'aead', XFRM_AEAD, sa.key, '128'];
  try {
    await ip(e, state(e.local, e.remote, out));
    undo.push(['xfrm', 'state', 'delete', 'src', e.local, 'dst', e.remote, 'proto', 'esp', 'spi', out.spi]);
    await ip(e, state(e.remote, e.local, inbound));
    undo.push(['xfrm', 'state', 'delete', 'src', e.remote, 'dst', e.local, 'proto', 'esp', 'spi', inbound.spi]);
    for (const l of e.localTs) {
      for (const r of e.remoteTs) {
        const tmplOut = ['tmpl', 'src', e.local, 'dst', e.remote, 'proto', 'esp', 'reqid', '1', 'mode', 'tunnel'];
        const tmplIn = ['tmpl', 'src', e.remote, 'dst', e.local, 'proto', 'esp', 'reqid', '1', 'mode', 'tunnel'];
        await ip(e, ['xfrm', 'policy', 'add', 'src', l, 'dst', r, 'dir', 'out', ...tmplOut]);
        undo.push(['xfrm', 'policy', 'delete', 'src', l, 'dst', r, 'dir', 'out']);
        for (const dir of ['in', 'fwd']) {
          await ip(e, ['xfrm', 'policy', 'add', 'src', r, 'dst', l, 'dir', dir, ...tmplIn]);
          undo.push(['xfrm', 'policy', 'delete', 'src', r, 'dst', l, 'dir', dir]);
        }
      }
    }
    const path = await pathTo(e, e.remote);
    for (const r of e.remoteTs) {
      await ip(e, ['route', 'replace', r, ...path, 'mtu', String(XFRM_MTU)]);
      undo.push(['route', 'del', r]);
    }
  } catch (err) {
    for (const u of undo.reverse()) await run(['ip', ...u], { allowFail: true, ...(e.netns ? { netns: e.netns } : {}) });
    throw err;
  }
  return async () => {
    for (const u of undo.reverse()) await run(['ip', ...u], { allowFail: true, ...(e.netns ? { netns: e.netns } : {}) });
  };
}

/** Installs the tunnel at both ends (fresh random keys and SPIs); close() removes every SA, policy and route it added. */
export async function openXfrmTunnel(a: IpsecEndpoint, b: IpsecEndpoint): Promise<IpsecTunnel> {
  const ab = newSa();
  const ba = newSa();
  const undoA = await configure(a, ab, ba);
  let undoB: () => Promise<void>;
  try {
    undoB = await configure(b, ba, ab);
  } catch (e) {
    await undoA();
    throw e;
  }
  return {
    backend: 'kernel',
    detail: `kernel XFRM, ESP tunnel mode, ${XFRM_AEAD}, static keys`,
    mtu: XFRM_MTU,
    close: async () => {
      await Promise.all([undoA(), undoB()]);
    },
  };
}
