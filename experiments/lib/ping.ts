/** Reading iputils ping's output: its statistics line, or the error that kept it from running. */
import { open } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { LispwgError } from '../../src/util/errors.js';

export function pingStatistics(output: string): { transmitted: number; received: number } {
  const m = /(\d+) packets transmitted, (\d+) (?:packets )?received/.exec(output);
  if (!m) throw new LispwgError('EXP_PING', `ping did not run: ${output.trim().split('\n').slice(-3).join(' / ') || '(no output)'}`);
  return { transmitted: Number(m[1]), received: Number(m[2]) };
}

/** The time (us since the epoch) of the last reply `ping -D` wrote to `log`, reading only its tail. */
async function lastReplyUs(log: string): Promise<number | undefined> {
  let fh;
  try {
    fh = await open(log, 'r');
  } catch {
    return undefined;
  }
  try {
    const { size } = await fh.stat();
    const len = Math.min(size, 8192);
    const buf = Buffer.alloc(len);
    await fh.read(buf, 0, len, size - len);
    const stamps = [...buf.toString('utf8').matchAll(/^\[(\d+\.\d+)\] \d+ bytes from/gm)];
    return stamps.length ? Number(stamps[stamps.length - 1]![1]) * 1e6 : undefined;
  } finally {
    await fh.close();
  }
}

/** Waits until `ping -D` (writing `log`) prints a reply stamped after `us`, the process ends, or the time-out. */
export async function waitReplyAfter(log: string, us: number, timeoutMs: number, running: () => Promise<boolean>): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end && (await running())) {
    const t = await lastReplyUs(log);
    if (t !== undefined && t > us) return true;
    await sleep(100);
  }
  return false;
}
