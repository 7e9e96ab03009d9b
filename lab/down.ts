/**
 * `lab down`: removes everything a lab created, from its state file and, for what the state file
 * missed (a crash between creating and recording), from names: namespaces `lw.<lab>.*`,
 * containers labelled lispwg.lab=<lab>, processes inside those namespaces, WireGuard UAPI sockets
 * `lw<lab hash>*`. Works when the lab is half up, already half down, or gone.
 */
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { LispwgError } from '../src/util/errors.js';
import { DockerBackend } from './backend/docker.js';
import { ensureDockerd } from './backend/dockerd.js';
import { labDir, labPrefix, wgPrefix } from './names.js';
import { ipBatch, listNetns, netnsPids } from './net/ip.js';
import { alive, stopProcesses } from './procs.js';
import { type LabState, readState } from './state.js';
import { LAB_NAME } from './topology/schema.js';

export interface DownReport {
  lab: string;
  processes: number;
  namespaces: string[];
  containers: string[];
  sockets: string[];
  /** The lab directory (state file, keys, configs, logs, captures) was removed. */
  removedDir: boolean;
  notes: string[];
}

const WG_SOCKETS = '/var/run/wireguard';

export async function destroyLab(name: string): Promise<DownReport> {
  if (!LAB_NAME.test(name)) throw new LispwgError('LAB_BAD_NAME', `'${name}' is not a lab name (1-24 lowercase letters, digits or -)`);
  const report: DownReport = { lab: name, processes: 0, namespaces: [], containers: [], sockets: [], removedDir: false, notes: [] };
  let state: LabState | undefined;
  try {
    state = await readState(name);
  } catch (e) {
    report.notes.push((e as Error).message);
  }
  const prefix = labPrefix(name);
  const existing = new Set(await listNetns());
  const namespaces = [...new Set([...(state?.namespaces ?? []), ...[...existing].filter((n) => n.startsWith(prefix))])].filter((n) => existing.has(n));

  // containers first: removing them ends their processes the way Docker expects
  const docker = await ensureDockerd({ start: state?.backend === 'docker' });
  if (docker.ok) report.containers = await new DockerBackend().destroy(name, state?.containers ?? []);
  else if (state?.backend === 'docker') report.notes.push(`containers of ${name} may remain: ${docker.reason}`);

  const recorded: number[] = [];
  for (const p of state?.processes ?? []) if (await alive(p.pid, p.startTime)) recorded.push(p.pid);
  const inside = (await Promise.all(namespaces.map(netnsPids))).flat();
  report.processes = (await stopProcesses([...new Set([...recorded, ...inside])])).length;
  const stubborn = (await Promise.all(namespaces.map(netnsPids))).flat();
  if (stubborn.length) report.notes.push(`processes ${stubborn.join(', ')} survived SIGKILL`);

  if (namespaces.length) await ipBatch(namespaces.map((n) => `netns del ${n}`));
  report.namespaces = namespaces;

  try {
    const ours = (await readdir(WG_SOCKETS)).filter((f) => f.startsWith(wgPrefix(name)) && f.endsWith('.sock'));
    for (const f of ours) await rm(join(WG_SOCKETS, f), { force: true });
    report.sockets = ours;
  } catch {
    /* no socket directory */
  }

  try {
    await rm(labDir(name), { recursive: true, force: true });
    report.removedDir = true;
  } catch (e) {
    report.notes.push(`cannot remove ${labDir(name)}: ${(e as Error).message}`);
  }
  return report;
}
