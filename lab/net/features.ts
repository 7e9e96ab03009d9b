/**
 * Kernel features a topology may need, probed once in a throw-away namespace (never in the root
 * namespace): netem, for link delay and loss.
 */
import { randomBytes } from 'node:crypto';
import { release } from 'node:os';
import { LispwgError } from '../../src/util/errors.js';
import { run } from '../../src/util/exec.js';
import { ipBatch } from './ip.js';

let netem: Promise<string | undefined> | undefined;

/** Undefined when netem works here; otherwise the kernel's answer. */
export function netemMissing(): Promise<string | undefined> {
  netem ??= (async () => {
    const ns = `lw-probe-${process.pid}-${randomBytes(3).toString('hex')}`;
    await ipBatch([`netns add ${ns}`]);
    try {
      await ipBatch(['link add name p0 type veth peer name p1'], ns);
      const r = await run(['tc', '-n', ns, 'qdisc', 'add', 'dev', 'p0', 'root', 'netem', 'delay', '1ms'], { allowFail: true });
      return r.exitCode === 0 ? undefined : r.stderr.trim() || `tc exit ${r.exitCode}`;
    } finally {
      await ipBatch([`netns del ${ns}`]);
    }
  })();
  return netem;
}

/** Throws KERNEL_FEATURE_MISSING, naming sch_netem, when `what` needs netem and the kernel has none. */
export async function requireNetem(what: string): Promise<void> {
  const why = await netemMissing();
  if (why === undefined) return;
  throw new LispwgError(
    'KERNEL_FEATURE_MISSING',
    `${what} needs the kernel's netem qdisc (CONFIG_NET_SCH_NETEM, module sch_netem), which this kernel (${release()}) does not have: tc says "${why.replace(/^Error:\s*/, '')}". ` +
      'Remove delay/loss from the topology (rate shaping with tbf/htb works without netem), or run on a kernel with sch_netem.',
  );
}
