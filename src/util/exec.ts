/**
 * The one helper through which lispwg runs external commands (ip, tc, wireguard-go, tshark...).
 * It logs what ran (LISPWG_DEBUG=exec) and fails with a CommandError that carries the command,
 * its exit code and its stderr, so a failure says what went wrong without re-running anything.
 */
import { execa, type Options, type ResultPromise } from 'execa';
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

/** Starts a long-running command; the caller owns the returned child (kill it, await it). */
export function spawn(
  cmd: readonly string[],
  opts: Omit<RunOptions, 'allowFail' | 'input'> & { stdout?: Sink; stderr?: Sink } = {},
): ResultPromise {
  const [file, ...args] = argv(cmd, opts.netns);
  if (!file) throw new LispwgError('COMMAND_EMPTY', 'spawn() was given an empty command');
  if (debug) process.stderr.write(`spawn: ${[file, ...args].join(' ')}\n`);
  const options: Options = {
    reject: false,
    stdin: 'ignore',
    stdout: opts.stdout ?? 'ignore',
    stderr: opts.stderr ?? 'pipe',
    buffer: false,
    ...(opts.timeoutMs ? { timeout: opts.timeoutMs } : {}),
    ...(opts.env ? { env: { ...process.env, ...opts.env } } : {}),
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
  };
  return execa(file, args, options);
}

/** True when an executable is on PATH (or in /usr/sbin, /sbin). */
export async function hasCommand(name: string): Promise<boolean> {
  const r = await run(['sh', '-c', `command -v ${name} || test -x /usr/sbin/${name} || test -x /sbin/${name}`], { allowFail: true });
  return r.exitCode === 0;
}
