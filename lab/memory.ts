/**
 * Where a lab's memory goes, read from /proc: every process inside the lab's namespaces with its
 * resident memory (`smaps_rollup`: proportional share, anonymous, file-backed), and the machine's
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

export interface ProcessMemory {
  node: string;
  pid: number;
  /** The executable's name (`/proc/PID/comm`): node, wireguard-go, ... */
  comm: string;
  /** KiB: resident, proportional share, anonymous (heap, stacks), file-backed share. */
  rssKiB: number;
  pssKiB: number;
  anonKiB: number;
  fileKiB: number;
}

/** The fields of /proc/PID/smaps_rollup (KiB); undefined once the process is gone. */
async function smapsRollup(pid: number): Promise<Record<string, number> | undefined> {
  const text = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8').catch(() => undefined);
  if (!text) return undefined;
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^(\w+):\s+(\d+) kB$/gm)) out[m[1]!] = Number(m[2]);
  return out;
}

/** Every process inside the namespaces of `nodes` of lab `lab`, with its memory. */
export async function processMemory(lab: string, nodes: readonly string[]): Promise<ProcessMemory[]> {
  const per = await mapLimit(nodes, 8, async (node) => {
    const rows: ProcessMemory[] = [];
    for (const pid of await netnsPids(netnsName(lab, node))) {
      const comm = (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')).trim();
      const s = await smapsRollup(pid);
      if (!comm || !s) continue;
      rows.push({ node, pid, comm, rssKiB: s.Rss ?? 0, pssKiB: s.Pss ?? 0, anonKiB: s.Anonymous ?? 0, fileKiB: s.Pss_File ?? 0 });
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

/** Mean, max and total of one field over a set of processes (MiB). */
export interface MemorySummary {
  processes: number;
  pssMiB: { mean: number; max: number; total: number };
  anonMiB: { mean: number; max: number };
  rssMiB: { mean: number };
}

const mib = (kib: number): number => Math.round((kib / 1024) * 10) / 10;

export function summarizeMemory(rows: readonly ProcessMemory[]): MemorySummary {
  const n = rows.length || 1;
  const sum = (f: (r: ProcessMemory) => number) => rows.reduce((a, r) => a + f(r), 0);
  const max = (f: (r: ProcessMemory) => number) => rows.reduce((a, r) => Math.max(a, f(r)), 0);
  return {
    processes: rows.length,
    pssMiB: { mean: mib(sum((r) => r.pssKiB) / n), max: mib(max((r) => r.pssKiB)), total: mib(sum((r) => r.pssKiB)) },
    anonMiB: { mean: mib(sum((r) => r.anonKiB) / n), max: mib(max((r) => r.anonKiB)) },
    rssMiB: { mean: mib(sum((r) => r.rssKiB) / n) },
  };
}
