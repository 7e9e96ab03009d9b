/**
 * What a test suite needs before it can run, and the one policy for when it is not there.
 *
 * In CI (`CI=true`, as CI services set it) a suite may skip only for a kernel feature the machine
 * lacks (the WireGuard module, ESP/XFRM, the TUN device): a missing tool that `lab/setup.sh`
 * installs, missing root or a missing build fails the run, naming what is missing, so that a green
 * run cannot hide a suite that never ran. Outside CI the same gaps skip the suite, saying why.
 * The one tool that may be missing in CI too: the real OOR (`foreign`), which the project can
 * neither ship nor install; the suite then skips naming it.
 *
 *   const skip = await prerequisites('agent integration', { root: true, tools: ['wireguard-go'] });
 *   const skip = await prerequisites('etcd store', ETCD);   // the replicated Map-Server store
 *   describe.skipIf(skip !== undefined)('...', () => ...);
 *
 * Test support: never part of the build.
 */
import { existsSync } from 'node:fs';
import { hasCommand } from '../util/exec.js';
import { lispwgBin } from '../util/project.js';

/** What probes for a kernel feature report (probeKernelWireGuard, probeKernelEsp, ...). */
export type FeatureProbe = { ok: true } | { ok: false; why: string };

export interface Needs {
  /** Runs as root (namespaces, links, wireguard-go). */
  root?: boolean;
  /** Commands `lab/setup.sh` installs (looked up on PATH like the code that runs them), or absolute paths. */
  tools?: readonly string[];
  /** Tools `lab/setup.sh` installs that a probe finds (strongSwan's charon and its plugins). */
  toolProbes?: readonly FeatureProbe[];
  /** The built CLI (dist/, `npm run build`): integration suites run it as processes. */
  built?: boolean;
  /** Kernel features: a gap a suite may skip for in CI. */
  kernel?: readonly FeatureProbe[];
  /** The real OOR (the user's build, never shipped): the one tool a suite may skip for in CI. */
  foreign?: readonly FeatureProbe[];
}

/** The replicated Map-Server store's suites: a real etcd (Debian's etcd-server, from lab/setup.sh): missing in CI fails. */
export const ETCD: Needs = { tools: ['etcd', 'etcdctl'] };

/** True when running in CI: the environment variable CI is set to anything but "" / "0" / "false". */
export const inCi = (env: NodeJS.ProcessEnv = process.env): boolean => !!env.CI && env.CI !== '0' && env.CI.toLowerCase() !== 'false';

/** A probe for a device file the kernel provides (e.g. /dev/net/tun). */
export const kernelDevice = (path: string, what: string): FeatureProbe =>
  existsSync(path) ? { ok: true } : { ok: false, why: `the kernel offers no ${what} (${path})` };

/** Tools among `tools` that cannot be found. */
async function missingTools(tools: readonly string[]): Promise<string[]> {
  const found = await Promise.all(tools.map((t) => (t.startsWith('/') ? existsSync(t) : hasCommand(t))));
  return tools.filter((_, i) => !found[i]);
}

/**
 * Checks `needs` for the suite named `suite`. Returns undefined when everything is there, else
 * the reason to skip (already printed). Throws, in CI, when anything but a kernel feature is missing.
 */
export async function prerequisites(suite: string, needs: Needs, env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  const gaps: string[] = [];
  if (needs.root && process.getuid?.() !== 0) gaps.push('root (run the tests as root)');
  const tools = await missingTools(needs.tools ?? []);
  if (tools.length) gaps.push(`${tools.join(', ')} (install with: bash lab/setup.sh)`);
  for (const p of needs.toolProbes ?? []) if (!p.ok) gaps.push(`${p.why} (install with: bash lab/setup.sh)`);
  if (needs.built && !existsSync(lispwgBin())) gaps.push(`the built CLI ${lispwgBin()} (run: npm run build)`);
  if (gaps.length) {
    const msg = `${suite}: missing ${gaps.join('; ')}`;
    if (inCi(env)) throw new Error(`${msg}. In CI a suite may skip only for a kernel feature; a missing tool fails the run.`);
    console.warn(`${msg}: skipped (in CI this fails)`);
    return msg;
  }
  const kernel = [...(needs.kernel ?? []), ...(needs.foreign ?? [])].flatMap((p) => (p.ok ? [] : [p.why]));
  if (kernel.length) {
    const msg = `${suite}: skipped, ${kernel.join('; ')}`;
    console.warn(msg);
    return msg;
  }
  return undefined;
}
