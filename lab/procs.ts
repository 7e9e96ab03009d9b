/**
 * Processes a lab started: recognise them by pid and start time (a recycled pid is never killed),
 * stop them with SIGTERM then SIGKILL, and wait until they are gone.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

/** Field 22 of /proc/<pid>/stat (start time in clock ticks); undefined when the pid is gone. */
export async function startTime(pid: number): Promise<string | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // the command (field 2) may hold spaces and parentheses: split after the last ')'
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** Whether a /proc/<pid>/stat is of a live process (not a zombie), started at `start` when given. */
function live(stat: string, start?: string): boolean {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields[0] !== 'Z' && fields[0] !== 'X' && (start === undefined || fields[19] === start);
}

/** True while the process exists and is not a zombie; with `start`, only if it is that process. */
export async function alive(pid: number, start?: string): Promise<boolean> {
  try {
    return live(await readFile(`/proc/${pid}/stat`, 'utf8'), start);
  } catch {
    return false;
  }
}

/** alive(), for the one place that cannot wait: a process's 'exit' handler. */
export function aliveSync(pid: number, start?: string): boolean {
  try {
    return live(readFileSync(`/proc/${pid}/stat`, 'utf8'), start);
  } catch {
    return false;
  }
}

export async function waitGone(pids: readonly number[], timeoutMs: number): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  let left = [...pids];
  for (;;) {
    const states = await Promise.all(left.map((p) => alive(p)));
    left = left.filter((_, i) => states[i]);
    if (!left.length || Date.now() >= deadline) return left;
    await sleep(20);
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* already gone */
  }
}

/** SIGTERM (or `sig`), wait up to `graceMs`, then SIGKILL what is left. Returns the pids it stopped. */
export async function stopProcesses(pids: readonly number[], opts: { sig?: NodeJS.Signals; graceMs?: number } = {}): Promise<number[]> {
  const live: number[] = [];
  for (const p of pids) if (p > 1 && p !== process.pid && (await alive(p))) live.push(p);
  for (const p of live) signal(p, opts.sig ?? 'SIGTERM');
  const left = await waitGone(live, opts.graceMs ?? 1000);
  for (const p of left) signal(p, 'SIGKILL');
  await waitGone(left, 2000);
  return live;
}

/** The command line of a process, for `lab inspect`. */
export async function cmdline(pid: number): Promise<string> {
  try {
    return (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter(Boolean).join(' ');
  } catch {
    return '';
  }
}
