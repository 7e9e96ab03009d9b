/**
 * iproute2 in batches: one `ip -batch` (or `tc -batch`) process for many lines, in the root
 * namespace (only to create namespaces and veths that are born inside them) or in a lab's
 * namespace with `-n NS`. A failing line is reported with its text, not just its number.
 */
import { LispwgError } from '../../src/util/errors.js';
import { run } from '../../src/util/exec.js';

async function batch(tool: 'ip' | 'tc', lines: readonly string[], ns?: string): Promise<void> {
  if (!lines.length) return;
  const cmd = [tool, ...(ns ? ['-n', ns] : []), '-batch', '-'];
  const r = await run(cmd, { input: lines.join('\n') + '\n', allowFail: true });
  if (r.exitCode === 0) return;
  const m = /Command failed -:(\d+)/.exec(r.stderr);
  const line = m ? lines[Number(m[1]) - 1] : undefined;
  const why = r.stderr.split('\n').filter((l) => l && !l.startsWith('Command failed')).join('; ');
  throw new LispwgError('LAB_NET_FAILED', `${tool}${ns ? ` in ${ns}` : ''}: '${line ?? lines.join(' | ')}' failed: ${why || `exit ${r.exitCode}`}`);
}

/** Runs `ip` lines (`link add ...`, `addr add ...`) in one process. */
export const ipBatch = (lines: readonly string[], ns?: string): Promise<void> => batch('ip', lines, ns);
/** Runs `tc` lines (`qdisc replace ...`) in one process. */
export const tcBatch = (lines: readonly string[], ns?: string): Promise<void> => batch('tc', lines, ns);

/** Named network namespaces (`ip netns list`). */
export async function listNetns(): Promise<string[]> {
  const r = await run(['ip', '-j', 'netns', 'list'], { allowFail: true });
  if (r.exitCode !== 0 || !r.stdout.trim()) return [];
  return (JSON.parse(r.stdout) as { name: string }[]).map((n) => n.name);
}

/** Pids of the processes inside a named namespace (`ip netns pids`). */
export async function netnsPids(ns: string): Promise<number[]> {
  const r = await run(['ip', 'netns', 'pids', ns], { allowFail: true });
  return r.exitCode === 0 ? r.stdout.split('\n').filter(Boolean).map(Number) : [];
}

/** Runs `fn` over `items` with at most `limit` at a time. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
