/**
 * Runs one experiment in its own Node process (`node dist/experiments/cli.js NAME ...`), streaming
 * its progress, and returns the summary it printed as its last line of JSON. One process per
 * experiment: a crash or a leaked handle in one cannot take the others down. A SIGINT/SIGTERM of
 * the runner is passed on, the experiment tears its lab down, and the runner stops.
 */
import { join } from 'node:path';
import { spawn } from '../../src/util/exec.js';
import { projectRoot } from '../../src/util/project.js';

export type ChildResult = { ok: true; summary: Record<string, unknown>; seconds: number } | { ok: false; error: string; seconds: number };

export async function runExperimentProcess(name: string, args: readonly string[], opts: { echo?: boolean; env?: Record<string, string> } = {}): Promise<ChildResult> {
  const root = projectRoot();
  const t0 = Date.now();
  const child = spawn(['node', join(root, 'dist', 'experiments', 'cli.js'), name, ...args], { stdout: 'pipe', stderr: 'pipe', cwd: root, ...(opts.env ? { env: opts.env } : {}) });
  let last = '';
  let buf = '';
  let errTail = '';
  child.stdout?.on('data', (d: Buffer) => {
    if (opts.echo !== false) process.stdout.write(d);
    buf += d.toString();
    const lines = buf.split('\n');
    buf = lines.pop() ?? '';
    for (const l of lines) if (l.trim().startsWith('{')) last = l.trim();
  });
  child.stderr?.on('data', (d: Buffer) => {
    if (opts.echo !== false) process.stderr.write(d);
    errTail = (errTail + d.toString()).slice(-2000);
  });
  // Ctrl-C or a kill of this runner reaches the experiment, which tears its lab down before it exits
  const forward = (sig: NodeJS.Signals): void => void child.kill(sig);
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  let r;
  try {
    r = await child;
  } finally {
    process.off('SIGINT', forward);
    process.off('SIGTERM', forward);
  }
  if (r.signal === 'SIGINT' || r.signal === 'SIGTERM' || r.exitCode === 130) {
    process.stderr.write(`${name}: interrupted; its samples are kept (continue with --resume)\n`);
    process.exit(130);
  }
  if (buf.trim().startsWith('{')) last = buf.trim();
  const seconds = (Date.now() - t0) / 1000;
  if (r.exitCode !== 0) {
    const why = errTail.trim().split('\n').filter((l) => !l.startsWith('[')).slice(-3).join(' / ') || `exit ${r.exitCode ?? r.signal}`;
    return { ok: false, error: `${name} failed (exit ${r.exitCode ?? r.signal}): ${why}`, seconds };
  }
  try {
    return { ok: true, summary: JSON.parse(last) as Record<string, unknown>, seconds };
  } catch {
    return { ok: false, error: `${name} printed no JSON line`, seconds };
  }
}
