/**
 * What differs between the two ways of running a lab's nodes. Both give every node a named network
 * namespace (`lw.<lab>.<node>`: the netns backend creates it, the docker backend attaches the
 * container's), so links, addresses, shaping, stations and captures are plumbed the same way for
 * both (lab.ts); a backend only creates and removes nodes, and runs commands inside them.
 */
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RunResult } from '../../src/util/exec.js';
import { LispwgError } from '../../src/util/errors.js';
import type { BackendKind } from '../topology/schema.js';

export interface ExecOptions {
  input?: string;
  timeoutMs?: number;
  /** Resolve with the exit code instead of throwing on failure. */
  allowFail?: boolean;
}

export interface NodeBackend {
  readonly kind: BackendKind;
  /** Whatever must exist before nodes can be created (docker: the daemon and the image). */
  prepare(): Promise<void>;
  /** A description of what prepare() set up, for the state file (the image name). */
  readonly image?: string;
  /** Creates the nodes; afterwards each has a network namespace named netnsName(lab, node). */
  createNodes(lab: string, nodes: readonly string[], opts: { dir: string; onNode?: (node: string) => void }): Promise<void>;
  /** Runs a command in a node to completion: output and exit code. */
  exec(lab: string, node: string, cmd: readonly string[], opts?: ExecOptions): Promise<RunResult>;
  /** Starts a long-running command in a node, its output appended to `log`; returns its host pid. */
  spawn(lab: string, node: string, cmd: readonly string[], log: string, pidFile: string): Promise<number>;
  /**
   * The host command line that runs `cmd` in a node with the caller's stdio: what a caller that
   * spawns and streams itself (zx's `$` in experiments/lib/script.ts) runs, where exec() buffers.
   */
  commandLine(lab: string, node: string, cmd: readonly string[]): string[];
  /** Removes the lab's nodes (those recorded, and any others carrying the lab's name). */
  destroy(lab: string, recorded: readonly string[]): Promise<string[]>;
}

/**
 * Runs "$@" as a detached process: records its pid in $1 and appends its output to $2. The same
 * wrapper serves both backends, so every lab process has a pid file and a log.
 */
export const SPAWN_WRAPPER = ['sh', '-c', 'echo $$ > "$1"; l=$2; shift 2; exec "$@" >>"$l" 2>&1 </dev/null', 'lispwg-run'];

/** Waits for the wrapper's pid file. */
export async function readPidFile(path: string, timeoutMs = 5000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const pid = Number((await readFile(path, 'utf8')).trim());
      if (pid > 0) return pid;
    } catch {
      /* not written yet */
    }
    if (Date.now() > deadline) throw new LispwgError('LAB_SPAWN', `the process did not start within ${timeoutMs} ms (no pid in ${path})`);
    await sleep(5);
  }
}

export type { RunResult };
