/**
 * The one helper through which lispwg runs external commands (ip, tc, wireguard-go, tshark...).
 * It logs what ran (LISPWG_DEBUG=exec) and fails with a CommandError that carries the command,
 * its exit code and its stderr, so a failure says what went wrong without re-running anything.
 *
 * `run` uses execa, loaded on its first call; `spawn` and `hasCommand` need only node:child_process
 * and the file system. An agent runs no command to completion (it spawns wireguard-go), so it
 * never loads execa: about 6 MB per agent process, which counts in a lab of hundreds of nodes.
 */
import { spawn as spawnChild, type ChildProcess, type IOType } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { access, constants, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Options } from 'execa';
import { LispwgError } from './errors.js';

class CommandError extends LispwgError {
  constructor(
    readonly command: string,
    readonly exitCode: number | undefined,
    readonly stderr: string,
    readonly stdout: string,
  ) {
    super(
      'COMMAND_FAILED',
      `command failed (exit ${exitCode ?? 'signal'}): ${command}${stderr ? `\n${stderr.trim()}` : ''}`,
    );
  }
}

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export interface RunOptions {
  /** Run inside this network namespace (`ip netns exec NS ...`). */
  netns?: string;
  /** Resolve with the exit code instead of throwing on a non-zero exit. */
  allowFail?: boolean;
  input?: string;
  timeoutMs?: number;
  env?: Record<string, string>;
  cwd?: string;
}

const debug = (process.env.LISPWG_DEBUG ?? '').split(',').includes('exec');

function argv(cmd: readonly string[], netns?: string): string[] {
  return netns ? ['ip', 'netns', 'exec', netns, ...cmd] : [...cmd];
}

/** Runs a command to completion. Throws CommandError on a non-zero exit unless allowFail. */
export async function run(cmd: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const [file, ...args] = argv(cmd, opts.netns);
  if (!file) throw new LispwgError('COMMAND_EMPTY', 'run() was given an empty command');
  const line = [file, ...args].join(' ');
  if (debug) process.stderr.write(`exec: ${line}\n`);
  const options: Options = {
    reject: false,
    stripFinalNewline: true,
    ...(opts.input !== undefined ? { input: opts.input } : { stdin: 'ignore' as const }),
    ...(opts.timeoutMs ? { timeout: opts.timeoutMs } : {}),
    ...(opts.env ? { env: opts.env } : {}),
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
  };
  const { execa } = await import('execa');
  const r = await execa(file, args, options);
  const stdout = String(r.stdout ?? '');
  const stderr = String(r.stderr ?? '');
  if (r.failed && r.exitCode === undefined) {
    // not started at all (ENOENT...) or killed by a timeout/signal
    const why = r.timedOut
      ? `timed out after ${opts.timeoutMs} ms`
      : ((r.cause instanceof Error ? r.cause.message : r.shortMessage) ?? 'did not run');
    if (opts.allowFail) return { stdout, stderr: stderr || why, exitCode: -1 };
    throw new CommandError(line, undefined, stderr || why, stdout);
  }
  const exitCode = r.exitCode ?? -1;
  if (exitCode !== 0 && !opts.allowFail) throw new CommandError(line, exitCode, stderr, stdout);
  return { stdout, stderr, exitCode };
}

/** Where a spawned process's output goes: nowhere, to us, or appended to a log file. */
export type Sink = 'ignore' | 'pipe' | 'inherit' | { file: string; append?: boolean };

/** How a spawned process ended: its exit code, or the signal that ended it, or why it never ran. */
export interface SpawnResult {
  exitCode?: number;
  signal?: NodeJS.Signals;
  /** Set when it could not be started (ENOENT...). */
  error?: Error;
}

/** A spawned process, also a promise of how it ended (it never rejects). */
export type Child = ChildProcess & Promise<SpawnResult>;

/** Starts a long-running command; the caller owns the returned child (kill it, await it). */
export function spawn(
  cmd: readonly string[],
  opts: Omit<RunOptions, 'allowFail' | 'input'> & { stdout?: Sink; stderr?: Sink } = {},
): Child {
  const [file, ...args] = argv(cmd, opts.netns);
  if (!file) throw new LispwgError('COMMAND_EMPTY', 'spawn() was given an empty command');
  if (debug) process.stderr.write(`spawn: ${[file, ...args].join(' ')}\n`);
  // a log file is opened here and handed to the child; stdout and stderr to one file share the fd
  const opened = new Map<string, number>();
  const sink = (s: Sink): IOType | number => {
    if (typeof s === 'string') return s;
    let fd = opened.get(s.file);
    if (fd === undefined) opened.set(s.file, (fd = openSync(s.file, s.append ? 'a' : 'w')));
    return fd;
  };
  let child: ChildProcess;
  try {
    child = spawnChild(file, args, {
      stdio: ['ignore', sink(opts.stdout ?? 'ignore'), sink(opts.stderr ?? 'ignore')],
      ...(opts.env ? { env: { ...process.env, ...opts.env } } : {}),
      ...(opts.cwd ? { cwd: opts.cwd } : {}),
    });
  } finally {
    for (const fd of opened.values()) closeSync(fd);
  }
  const ended = new Promise<SpawnResult>((resolve) => {
    child.once('error', (error) => resolve({ error }));
    child.once('close', (code, signal) => resolve({ ...(code !== null ? { exitCode: code } : {}), ...(signal ? { signal } : {}) }));
  });
  if (opts.timeoutMs) {
    const t = setTimeout(() => child.kill('SIGTERM'), opts.timeoutMs);
    void ended.then(() => clearTimeout(t));
  }
  return Object.assign(child, { then: ended.then.bind(ended), catch: ended.catch.bind(ended), finally: ended.finally.bind(ended) }) as unknown as Child;
}

/** True when an executable is on PATH (or in /usr/sbin, /sbin). */
export async function hasCommand(name: string): Promise<boolean> {
  const dirs = [...(process.env.PATH ?? '').split(':').filter(Boolean), '/usr/sbin', '/sbin'];
  for (const dir of dirs) {
    const path = join(dir, name);
    try {
      await access(path, constants.X_OK);
      if ((await stat(path)).isFile()) return true;
    } catch {
      /* not here */
    }
  }
  return false;
}
