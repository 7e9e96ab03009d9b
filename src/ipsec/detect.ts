/**
 * Which IPsec this machine can do, and why not when it cannot:
 * - kernel: XFRM with ESP and the rfc7539esp(chacha20,poly1305) AEAD, probed by adding an SA in
 *   a throwaway network namespace (`unshare --net`, gone with the command): the kernel's own
 *   answer, whatever its configuration files say. Its error is turned into the missing kernel
 *   option (CONFIG_INET_ESP, module esp4...), with /proc/config.gz quoted when the kernel has one.
 * - strongswan: strongSwan's charon with the kernel-libipsec plugin, ESP in userspace over a TUN
 *   device (no kernel ESP needed): present when Debian's packages are installed.
 */
import { existsSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { run } from '../util/exec.js';

export type Probe = { ok: true; detail: string } | { ok: false; why: string };

/** The AEAD the paper's IPsec uses (ChaCha20-Poly1305, RFC 7539/8439; 256-bit key + 32-bit salt, 128-bit ICV). */
export const XFRM_AEAD = 'rfc7539esp(chacha20,poly1305)';

/** Where Debian puts charon and its plugins. */
export const CHARON = '/usr/lib/ipsec/charon';
export const SWANCTL = '/usr/sbin/swanctl';
const PLUGIN_DIR = '/usr/lib/ipsec/plugins';
/** The plugins the userspace variant loads, each with the Debian package that ships it. */
export const STRONGSWAN_PLUGINS: Record<string, string> = {
  'kernel-libipsec': 'libcharon-extra-plugins',
  chapoly: 'libstrongswan-extra-plugins',
  curve25519: 'libstrongswan-extra-plugins',
  'kernel-netlink': 'libstrongswan',
  'socket-default': 'strongswan-libcharon',
  vici: 'strongswan-swanctl',
  random: 'libstrongswan',
  nonce: 'libstrongswan',
  sha2: 'libstrongswan',
  sha1: 'libstrongswan', // charon's core needs it (SA managers), whatever the proposals
  hmac: 'libstrongswan',
  kdf: 'libstrongswan',
};
const STRONGSWAN_PACKAGES = 'strongswan-charon strongswan-swanctl libcharon-extra-plugins libstrongswan-extra-plugins';

/** The lines of /proc/config.gz naming `options`, when the kernel exposes its configuration. */
function kernelConfig(options: string[]): string {
  try {
    const text = gunzipSync(readFileSync('/proc/config.gz')).toString();
    const lines = text.split('\n').filter((l) => options.some((o) => l === `# ${o} is not set` || l.startsWith(`${o}=`)));
    return lines.length ? ` (/proc/config.gz: ${lines.join(', ')})` : '';
  } catch {
    return '';
  }
}

const hex = (n: number) => '0x' + randomBytes(n).toString('hex');

/** `ip xfrm state add` in a namespace of its own; the stderr, '' on success. */
async function tryState(algo: string[]): Promise<{ ok: boolean; err: string }> {
  const r = await run(
    ['unshare', '--net', 'ip', 'xfrm', 'state', 'add', 'src', '198.18.0.1', 'dst', '198.18.0.2', 'proto', 'esp', 'spi', '0x100', 'reqid', '1', 'mode', 'tunnel', ...algo],
    { allowFail: true, timeoutMs: 5000 },
  );
  return { ok: r.exitCode === 0, err: (r.stderr || r.stdout).trim() };
}

let kernelProbe: Promise<Probe> | undefined;

/** Kernel ESP with ChaCha20-Poly1305 (probed once per process). */
export function probeKernelEsp(): Promise<Probe> {
  return (kernelProbe ??= (async (): Promise<Probe> => {
    // a plain ESP SA first (algorithms every kernel has): tells "no ESP" from "no ChaCha20-Poly1305"
    const esp = await tryState(['enc', 'cbc(aes)', hex(16), 'auth', 'hmac(sha256)', hex(32)]);
    if (!esp.ok) {
      if (/type not found|protocol not supported/i.test(esp.err)) {
        return { ok: false, why: `the kernel has no ESP: CONFIG_INET_ESP (module esp4) is missing; \`ip xfrm state add ... proto esp\` says '${esp.err}'${kernelConfig(['CONFIG_INET_ESP', 'CONFIG_INET6_ESP'])}` };
      }
      if (/not permitted/i.test(esp.err)) return { ok: false, why: `probing kernel IPsec needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN): '${esp.err}'` };
      return { ok: false, why: `the kernel refuses an ESP SA (XFRM: CONFIG_XFRM_USER, CONFIG_INET_ESP): '${esp.err}'${kernelConfig(['CONFIG_XFRM_USER', 'CONFIG_INET_ESP'])}` };
    }
    const aead = await tryState(['aead', XFRM_AEAD, hex(36), '128']);
    if (!aead.ok) {
      return { ok: false, why: `the kernel has ESP but not ${XFRM_AEAD}: CONFIG_CRYPTO_CHACHA20POLY1305 is missing; '${aead.err}'${kernelConfig(['CONFIG_CRYPTO_CHACHA20POLY1305'])}` };
    }
    return { ok: true, detail: `the kernel has ESP with ${XFRM_AEAD} (an SA was added in a scratch namespace)` };
  })());
}

/** strongSwan charon with kernel-libipsec (userspace ESP over a TUN device). */
export function probeStrongswan(): Probe {
  const missing: string[] = [];
  if (!existsSync(CHARON)) missing.push(`${CHARON} (strongswan-charon)`);
  if (!existsSync(SWANCTL)) missing.push(`${SWANCTL} (strongswan-swanctl)`);
  for (const [p, pkg] of Object.entries(STRONGSWAN_PLUGINS)) {
    if (!existsSync(`${PLUGIN_DIR}/libstrongswan-${p}.so`)) missing.push(`the ${p} plugin (${pkg})`);
  }
  if (!existsSync('/dev/net/tun')) missing.push('/dev/net/tun (the kernel-libipsec plugin reads ESP traffic from a TUN device)');
  if (missing.length) return { ok: false, why: `no userspace IPsec: missing ${missing.join(', ')}; install ${STRONGSWAN_PACKAGES} (lab/setup.sh does)` };
  return { ok: true, detail: "strongSwan charon with kernel-libipsec (ESP in userspace over a TUN device, UDP-encapsulated)" };
}
