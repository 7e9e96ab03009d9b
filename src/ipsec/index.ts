/**
 * The IPsec baseline: a tunnel-mode ESP tunnel with ChaCha20-Poly1305 between two RLOCs.
 * Kernel XFRM where the kernel has ESP and the AEAD; otherwise strongSwan's userspace ESP
 * (kernel-libipsec) where Debian's packages are installed; otherwise IPSEC_UNAVAILABLE naming
 * what is missing (an experiment reports the variant as unavailable with that reason, never as 0).
 *
 *   const t = await openIpsecTunnel(
 *     { name: 'a', netns: 'nsA', local: '198.18.0.1', remote: '198.18.0.2', localTs: ['198.19.1.0/24'], remoteTs: ['198.19.2.0/24'] },
 *     { name: 'b', netns: 'nsB', local: '198.18.0.2', remote: '198.18.0.1', localTs: ['198.19.2.0/24'], remoteTs: ['198.19.1.0/24'] });
 *   ...; await t.close();
 */
import { LispwgError } from '../util/errors.js';
import { probeKernelEsp, probeStrongswan } from './detect.js';
import { openStrongswanTunnel } from './strongswan.js';
import { openXfrmTunnel } from './xfrm.js';
import type { IpsecEndpoint, IpsecTunnel } from './types.js';

export type { IpsecEndpoint, IpsecTunnel } from './types.js';
export { probeKernelEsp, probeStrongswan, type Probe } from './detect.js';

export type IpsecBackend = 'kernel' | 'strongswan';

export interface IpsecChoice {
  backend: IpsecBackend | undefined;
  /** Why this backend, or why none: the missing kernel feature and packages. */
  reason: string;
}

/** Which IPsec to use here: LISPWG_IPSEC_BACKEND=kernel|strongswan decides when set. */
export async function detectIpsec(): Promise<IpsecChoice> {
  const env = process.env.LISPWG_IPSEC_BACKEND;
  if (env !== undefined && env !== 'kernel' && env !== 'strongswan') throw new LispwgError('BAD_BACKEND', `LISPWG_IPSEC_BACKEND='${env}': expected 'kernel' or 'strongswan'`);
  const kernel = await probeKernelEsp();
  if (kernel.ok && env !== 'strongswan') return { backend: 'kernel', reason: kernel.detail };
  const user = probeStrongswan();
  if (!kernel.ok && env === 'kernel') return { backend: undefined, reason: `LISPWG_IPSEC_BACKEND=kernel, but ${kernel.why}` };
  if (user.ok) return { backend: 'strongswan', reason: `${kernel.ok ? 'LISPWG_IPSEC_BACKEND=strongswan' : kernel.why}: using ${user.detail}` };
  return { backend: undefined, reason: `${kernel.ok ? 'LISPWG_IPSEC_BACKEND=strongswan' : kernel.why}; and ${user.why}` };
}

/** Opens the tunnel with the backend detectIpsec() picks; IPSEC_UNAVAILABLE (with the reason) when there is none. */
export async function openIpsecTunnel(a: IpsecEndpoint, b: IpsecEndpoint, choice?: IpsecChoice): Promise<IpsecTunnel> {
  const c = choice ?? (await detectIpsec());
  if (c.backend === 'kernel') return openXfrmTunnel(a, b);
  if (c.backend === 'strongswan') return openStrongswanTunnel(a, b);
  throw new LispwgError('IPSEC_UNAVAILABLE', `no IPsec on this machine: ${c.reason}`);
}
