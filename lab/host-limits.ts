/**
 * The host limits a lab needs, checked before `lab up` creates anything; a test-bed may raise
 * them, and `lab up` does, saying what it changed and how to undo it; when it cannot, it stops with
 * the exact command.
 *
 * - inotify instances: wireguard-go's UAPI listener takes one (fs.inotify.max_user_instances, 128
 *   on Debian), and a site runs two wireguard-go (control and data), so past about 60 sites every
 *   further one exited with "too many open files".
 * - neighbour (ARP, NDP) entries: the kernel has one table per family for all namespaces, with a
 *   hard maximum (net.ipv4.neigh.default.gc_thresh3, 1024). A 200-node lab's check filled it
 *   ("neighbor table overflow"), and pairs on one switch were reported unreachable.
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

/** Neighbour entries left free for the rest of the machine; the room a raise leaves. */
const NEIGH_SPARE = 128;
const NEIGH_RAISE_SPARE = 1024;

/**
 * gc_thresh3 (the hard maximum) for `needed` more neighbour entries, and gc_thresh2 (above it the
 * kernel evicts entries older than 5 s) at half of it, as the kernel's defaults; undefined when
 * there is room.
 */
export function neighbourLimitsFor(needed: number, used: number, gcThresh3: number): { gcThresh2: number; gcThresh3: number } | undefined {
  if (needed === 0 || used + needed + NEIGH_SPARE <= gcThresh3) return undefined;
  const gc3 = used + needed + NEIGH_RAISE_SPARE;
  return { gcThresh2: Math.ceil(gc3 / 2), gcThresh3: gc3 };
}

/** Entries in the kernel's neighbour table of a family now (all namespaces): /proc/net/stat/<table>, hex. */
async function neighbourEntries(table: 'arp_cache' | 'ndisc_cache'): Promise<number> {
  const line = (await readFile(`/proc/net/stat/${table}`, 'utf8')).split('\n')[1] ?? '';
  return parseInt(line.split(/\s+/)[0] ?? '0', 16) || 0;
}

/**
 * Makes room in the neighbour tables for `needed` more IPv4 and IPv6 entries (the lab's bound:
 * reach.ts neighbourBound), raising gc_thresh2 and gc_thresh3 where they must; returns what it
 * changed (one line each), or nothing.
 */
export async function ensureNeighbourEntries(needed: { ipv4: number; ipv6: number }, what: string): Promise<string[]> {
  const out: string[] = [];
  for (const [family, table, n] of [['ipv4', 'arp_cache', needed.ipv4], ['ipv6', 'ndisc_cache', needed.ipv6]] as const) {
    const dir = `/proc/sys/net/${family}/neigh/default`;
    const gc2 = Number((await readFile(`${dir}/gc_thresh2`, 'utf8')).trim());
    const gc3 = Number((await readFile(`${dir}/gc_thresh3`, 'utf8')).trim());
    const used = await neighbourEntries(table);
    const want = neighbourLimitsFor(n, used, gc3);
    if (!want) continue;
    const key = `net.${family}.neigh.default.gc_thresh`;
    try {
      // the hard maximum first: gc_thresh2 may not exceed it
      await writeFile(`${dir}/gc_thresh3`, `${want.gcThresh3}\n`);
      if (want.gcThresh2 > gc2) await writeFile(`${dir}/gc_thresh2`, `${want.gcThresh2}\n`);
    } catch (e) {
      throw new LispwgError(
        'LAB_HOST_LIMIT',
        `${what} may need ${n} ${family} neighbour entries and ${used} of the ${gc3} allowed (${key}3) are in use; raising it failed (${(e as Error).message}): run 'sysctl -w ${key}3=${want.gcThresh3} ${key}2=${Math.max(gc2, want.gcThresh2)}' as root, or bring up fewer nodes`,
      );
    }
    out.push(`raised ${key}3 from ${gc3} to ${want.gcThresh3}${want.gcThresh2 > gc2 ? ` and ${key}2 from ${gc2} to ${want.gcThresh2}` : ''} for ${what} (undo: sysctl -w ${key}2=${gc2} ${key}3=${gc3})`);
  }
  return out;
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
