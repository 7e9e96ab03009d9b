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

export interface EchoLoss {
  /** requests sent, and those without a reply (a request still in flight when ping stopped is not lost) */
  sent: number;
  lost: number;
  /** runs of consecutive lost requests: ms after `t0` that the first was sent, and how long until a reply came again (or ping stopped) */
  outages: Array<{ atMs: number; ms: number }>;
}

/**
 * The losses in the output of `ping -D -i INTERVAL`, stopped by a signal at `stoppedAt` (epoch ms).
 * A request is placed in time by the replies around it (ping sends one every interval); one sent
 * less than `waitMs` before the stop is in flight, not lost (ping's own -W).
 */
export function echoLoss(out: string, t0: number, stoppedAt: number, waitMs = 1000): EchoLoss {
  const { transmitted } = pingStatistics(out);
  const replies = new Map<number, number>();
  for (const m of out.matchAll(/^\[(\d+\.\d+)\] \d+ bytes from .*icmp_seq=(\d+)/gm)) replies.set(Number(m[2]), Number(m[1]) * 1000);
  const seqs = [...replies.keys()].sort((a, b) => a - b);
  if (!seqs.length) return { sent: transmitted, lost: transmitted, outages: transmitted ? [{ atMs: NaN, ms: NaN }] : [] };
  const [first, last] = [seqs[0]!, seqs[seqs.length - 1]!];
  const interval = last > first ? (replies.get(last)! - replies.get(first)!) / (last - first) : 10;
  const outages: EchoLoss['outages'] = [];
  let lost = first - 1;
  for (let i = 1; i < seqs.length; i++) {
    const [a, b] = [seqs[i - 1]!, seqs[i]!];
    if (b - a < 2) continue;
    lost += b - a - 1;
    // the first lost request left one interval after the reply before it; the run ends with the reply after it
    const from = replies.get(a)! + interval;
    outages.push({ atMs: Math.round((from - t0) * 100) / 100, ms: Math.round((replies.get(b)! - from) * 100) / 100 });
  }
  // after the last reply: lost if sent at least waitMs before the stop
  let tail = 0;
  for (let k = last + 1; k <= transmitted; k++) if (stoppedAt - (replies.get(last)! + (k - last) * interval) >= waitMs) tail++;
  if (tail) {
    lost += tail;
    const from = replies.get(last)! + interval;
    outages.push({ atMs: Math.round((from - t0) * 100) / 100, ms: Math.round((stoppedAt - from) * 100) / 100 });
  }
  return { sent: transmitted - (transmitted - last - tail), lost, outages };
}
