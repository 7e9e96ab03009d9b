/**
 * The host limits a lab needs, checked before `lab up` creates anything. Today: inotify instances.
 * wireguard-go's UAPI listener takes one (fs.inotify.max_user_instances, 128 on Debian), and a
 * site runs two wireguard-go (control and data), so past about 60 sites every further one exited
 * with "too many open files". The limit is per user and a test-bed may raise it: `lab up` does,
 * and says what it changed and how to undo it; when it cannot, it stops with the exact command.
 */
import { readFile, readdir, readlink, writeFile } from 'node:fs/promises';
import { LispwgError } from '../src/util/errors.js';
import type { LabModel } from './topology/model.js';

const MAX_INSTANCES = '/proc/sys/fs/inotify/max_user_instances';
/** Instances left free for everything else the user runs (when raising: 128). */
const SPARE = 16;
const RAISE_SPARE = 128;

/** wireguard-go processes a lab starts: one per Map-Server, two per site (none with the kernel module). */
export function wireguardGoCount(model: LabModel, daemons: boolean, userspace: boolean): number {
  if (!daemons || !userspace) return 0;
  return model.nodes.reduce((n, node) => n + (!node.role || node.role.cmd ? 0 : node.kind === 'ms' ? 1 : node.kind === 'xtr' || node.kind === 'mn' ? 2 : 0), 0);
}

/** inotify instances open now (all users: a lab runs as root, and so do most of the others). */
async function inotifyInUse(): Promise<number> {
  let n = 0;
  for (const pid of (await readdir('/proc')).filter((p) => /^\d+$/.test(p))) {
    const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
    for (const fd of fds) if ((await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')) === 'anon_inode:inotify') n++;
  }
  return n;
}

/** The limit to raise fs.inotify.max_user_instances to for `needed` more, or undefined when there is room. */
export function inotifyLimitFor(needed: number, used: number, limit: number): number | undefined {
  if (needed === 0 || used + needed + SPARE <= limit) return undefined;
  return used + needed + RAISE_SPARE;
}

/**
 * Makes room for `needed` more inotify instances, raising the limit if it must; returns what it
 * changed (one line to show), or undefined when nothing needed changing.
 */
export async function ensureInotifyInstances(needed: number, what: string): Promise<string | undefined> {
  if (needed === 0) return undefined;
  const limit = Number((await readFile(MAX_INSTANCES, 'utf8')).trim());
  const used = await inotifyInUse();
  const want = inotifyLimitFor(needed, used, limit);
  if (want === undefined) return undefined;
  try {
    await writeFile(MAX_INSTANCES, `${want}\n`);
  } catch (e) {
    throw new LispwgError(
      'LAB_HOST_LIMIT',
      `${what} need ${needed} inotify instances and ${used} of the ${limit} allowed (fs.inotify.max_user_instances) are in use; raising it failed (${(e as Error).message}): run 'sysctl -w fs.inotify.max_user_instances=${want}' as root, or bring up fewer nodes`,
    );
  }
  return `raised fs.inotify.max_user_instances from ${limit} to ${want} for ${what} (undo: sysctl -w fs.inotify.max_user_instances=${limit})`;
}
