/**
 * The state file of a lab: everything it created, written before each creation step, so that
 * `lab down` removes all of it even after a crash or a Ctrl-C half-way through `lab up`.
 */
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { LispwgError } from '../src/util/errors.js';
import { labRoot, stateFile } from './names.js';
import type { BackendKind, RawTopology } from './topology/schema.js';

export interface ProcessRecord {
  node: string;
  /** `lispwg` for a node's daemon, the `run:` key, `capture-...` for captures. */
  name: string;
  /** Host pid (also for processes inside containers). */
  pid: number;
  /** /proc/<pid>/stat start time, so a recycled pid is never killed. */
  startTime: string;
  log: string;
  /** Its command line, so that `Lab.restart` starts it again the same way. */
  cmd?: string[];
}

export interface StationState {
  ap: string;
  /** Current address (with prefix); empty when not associated. */
  address: string;
  associated: boolean;
}

export interface LabState {
  version: 1;
  name: string;
  backend: BackendKind;
  dir: string;
  createdAt: string;
  phase: 'creating' | 'up';
  /** The process that ran `lab up` (to tell a crashed run from a running one). */
  ownerPid: number;
  file?: string;
  topology: RawTopology;
  daemons: boolean;
  namespaces: string[];
  containers: string[];
  image?: string;
  processes: ProcessRecord[];
  wgInterfaces: string[];
  /** `node:iface` -> where each Wi-Fi station is now. */
  stations: Record<string, StationState>;
}

export async function readState(lab: string): Promise<LabState | undefined> {
  let text: string;
  try {
    text = await readFile(stateFile(lab), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    return JSON.parse(text) as LabState;
  } catch (e) {
    throw new LispwgError('LAB_STATE_CORRUPT', `state file ${stateFile(lab)} is not valid JSON (${(e as Error).message}); 'lispwg lab down ${lab}' still sweeps everything named after the lab`);
  }
}

/** Written atomically (temp file + rename): a crash never leaves half a state file. */
export async function writeState(s: LabState): Promise<void> {
  await mkdir(s.dir, { recursive: true });
  const tmp = `${stateFile(s.name)}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(s, null, 2) + '\n', { mode: 0o600 });
  await rename(tmp, stateFile(s.name));
}

/** Labs that have a state directory (up, or crashed and not yet taken down). */
export async function listLabs(): Promise<string[]> {
  try {
    return (await readdir(labRoot(), { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name).sort();
  } catch {
    return [];
  }
}

/**
 * Serializes updates of one state object, so concurrent steps never lose each other's writes.
 * Updates made while a write is under way are written together by the next one (a lab of 500
 * nodes records a process per daemon, and its state file is large).
 */
export class StateWriter {
  private writing: Promise<void> = Promise.resolve();
  private next: Promise<void> | undefined;

  constructor(readonly state: LabState) {}

  /** Resolves once a write holding this change is on disk. */
  update(change: (s: LabState) => void): Promise<void> {
    change(this.state);
    this.next ??= this.writing
      .catch(() => undefined)
      .then(() => {
        this.next = undefined;
        return writeState(this.state);
      });
    this.writing = this.next;
    return this.next;
  }
}
