/**
 * What the agent created, on disk, so that a crash leaves nothing the next start cannot clean:
 * interfaces (routes and peers die with them; wireguard-go dies with the agent, the wg backend
 * sees to it), the sysctls it changed (with their old values) and the socket files it bound. Written atomically
 * (temporary file + rename) each time the set changes; removed after a clean shutdown.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export interface AgentState {
  /** The agent process that wrote it. */
  pid: number;
  /** Inode of the network namespace the resources live in (/proc/self/ns/net). */
  netns: number;
  startedAt: string;
  interfaces: string[];
  /** /proc/sys paths changed, with the value to restore. */
  sysctls: Array<{ path: string; previous: string }>;
  /** Socket files to remove. */
  files: string[];
}

export function currentNetns(): number {
  return statSync('/proc/self/ns/net').ino;
}

export class StateFile {
  readonly state: AgentState;

  constructor(readonly path: string) {
    this.state = { pid: process.pid, netns: currentNetns(), startedAt: new Date().toISOString(), interfaces: [], sysctls: [], files: [] };
  }

  /** The state a previous run left behind, if any (a corrupt file reads as none). */
  static read(path: string): AgentState | undefined {
    if (!existsSync(path)) return undefined;
    try {
      const s = JSON.parse(readFileSync(path, 'utf8')) as Partial<AgentState>;
      if (typeof s.pid !== 'number' || typeof s.netns !== 'number') return undefined;
      return { pid: s.pid, netns: s.netns, startedAt: s.startedAt ?? '', interfaces: s.interfaces ?? [], sysctls: s.sysctls ?? [], files: s.files ?? [] };
    } catch {
      return undefined;
    }
  }

  addInterface(name: string): void {
    if (!this.state.interfaces.includes(name)) this.state.interfaces.push(name);
    this.save();
  }

  /**
   * Sets a sysctl (`net.ipv4.conf.all.forwarding`), recording its previous value so a clean stop
   * or the next start restores it. Settings of an interface we create (`ownInterface`) go away
   * with it and are not recorded.
   */
  setSysctl(key: string, value: string, ownInterface?: string): void {
    const path = `/proc/sys/${key.replace(/\./g, '/')}`;
    const previous = readFileSync(path, 'utf8').trim();
    if (previous === value) return;
    if (!(ownInterface && key.includes(`.${ownInterface}.`))) this.addSysctl(path, previous);
    writeFileSync(path, value);
  }

  addSysctl(path: string, previous: string): void {
    if (!this.state.sysctls.some((s) => s.path === path)) this.state.sysctls.push({ path, previous });
    this.save();
  }

  addFile(path: string): void {
    if (!this.state.files.includes(path)) this.state.files.push(path);
    this.save();
  }

  save(): void {
    mkdirSync(dirname(this.path), { recursive: true });
    const tmp = `${this.path}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.state, null, 2) + '\n', { mode: 0o600 });
    renameSync(tmp, this.path);
  }

  remove(): void {
    rmSync(this.path, { force: true });
  }
}

/** True when `pid` runs and its command line contains `cmdline` (a pid reused by another program is not ours). */
export function processMatches(pid: number, cmdline: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').includes(cmdline);
  } catch {
    return false;
  }
}
