/**
 * What a lab's processes cost, read from /proc: every process inside the lab's namespaces with its
 * resident memory (`smaps_rollup`: proportional share, anonymous, file-backed) and the CPU time it
 * has used (`stat`: user + system, its start-up included), and the machine's
 * MemAvailable, whose drop over `lab up` is the lab's whole cost (the processes, and the kernel's
 * namespaces, links, sockets and page tables that no process accounts for).
 *
 * Pss (proportional set size) is what a process costs: pages shared with others (the node binary,
 * wireguard-go's text) are divided among the processes mapping them, so the Pss of all processes
 * adds up to the memory they use together, and Rss would count shared pages once per process.
 */
import { readFile } from 'node:fs/promises';
import { netnsName } from './names.js';
import { mapLimit, netnsPids } from './net/ip.js';

export interface ProcessUsage {
  node: string;
  pid: number;
  /** The executable's name (`/proc/PID/comm`): node, wireguard-go, ... */
  comm: string;
  /** KiB: resident, proportional share, anonymous (heap, stacks), file-backed share. */
  rssKiB: number;
  pssKiB: number;
  anonKiB: number;
  fileKiB: number;
  /** CPU seconds used so far (user + system). */
  cpuS: number;
}

/** utime + stime of /proc/PID/stat (fields 14, 15, after the command's closing parenthesis). */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11] ?? 0) + Number(f[12] ?? 0)) / CLOCK_TICKS;
}

/** USER_HZ: the unit of /proc/PID/stat times, 100 on every Linux architecture lispwg runs on. */
const CLOCK_TICKS = 100;

/** The fields of /proc/PID/smaps_rollup (KiB); undefined once the process is gone. */
async function smapsRollup(pid: number): Promise<Record<string, number> | undefined> {
  const text = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8').catch(() => undefined);
  if (!text) return undefined;
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^(\w+):\s+(\d+) kB$/gm)) out[m[1]!] = Number(m[2]);
  return out;
}

/** Every process inside the namespaces of `nodes` of lab `lab`, with its memory and CPU time. */
export async function processUsage(lab: string, nodes: readonly string[]): Promise<ProcessUsage[]> {
  const per = await mapLimit(nodes, 8, async (node) => {
    const rows: ProcessUsage[] = [];
    for (const pid of await netnsPids(netnsName(lab, node))) {
      const comm = (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')).trim();
      const s = await smapsRollup(pid);
      if (!comm || !s) continue;
      rows.push({ node, pid, comm, rssKiB: s.Rss ?? 0, pssKiB: s.Pss ?? 0, anonKiB: s.Anonymous ?? 0, fileKiB: s.Pss_File ?? 0, cpuS: await cpuSeconds(pid) });
    }
    return rows;
  });
  return per.flat();
}

/** The machine's MemAvailable (KiB): what can still be allocated without swapping. */
export async function memAvailableKiB(): Promise<number> {
  const m = /^MemAvailable:\s+(\d+) kB$/m.exec(await readFile('/proc/meminfo', 'utf8'));
  return Number(m?.[1] ?? 0);
}

/** Memory (MiB) and CPU time (s) over a set of processes. */
export interface UsageSummary {
  processes: number;
  pssMiB: { mean: number; max: number; total: number };
  anonMiB: { mean: number; max: number };
  rssMiB: { mean: number };
  cpuS: { mean: number; total: number };
}

const mib = (kib: number): number => Math.round((kib / 1024) * 10) / 10;

export function summarizeUsage(rows: readonly ProcessUsage[]): UsageSummary {
  const n = rows.length || 1;
  const sum = (f: (r: ProcessUsage) => number) => rows.reduce((a, r) => a + f(r), 0);
  const max = (f: (r: ProcessUsage) => number) => rows.reduce((a, r) => Math.max(a, f(r)), 0);
  return {
    processes: rows.length,
    pssMiB: { mean: mib(sum((r) => r.pssKiB) / n), max: mib(max((r) => r.pssKiB)), total: mib(sum((r) => r.pssKiB)) },
    anonMiB: { mean: mib(sum((r) => r.anonKiB) / n), max: mib(max((r) => r.anonKiB)) },
    rssMiB: { mean: mib(sum((r) => r.rssKiB) / n) },
    cpuS: { mean: Math.round((sum((r) => r.cpuS) / n) * 100) / 100, total: Math.round(sum((r) => r.cpuS) * 10) / 10 },
  };
}
