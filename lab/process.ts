/** A long-running process a lab started in one of its nodes, with its log file. */
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { LispwgError } from '../src/util/errors.js';
import { alive, stopProcesses, waitGone } from './procs.js';

export class LabProcess {
  constructor(
    readonly node: string,
    readonly name: string,
    /** Host pid (also for processes in containers). */
    readonly pid: number,
    readonly startTime: string,
    readonly log: string,
  ) {}

  running(): Promise<boolean> {
    return alive(this.pid, this.startTime);
  }

  /** Sends `sig` (SIGTERM), waits up to `graceMs`, then SIGKILL. */
  async stop(sig: NodeJS.Signals = 'SIGTERM', graceMs = 3000): Promise<void> {
    if (await this.running()) await stopProcesses([this.pid], { sig, graceMs });
  }

  /** Resolves when the process has exited; false on timeout. */
  async exited(timeoutMs: number): Promise<boolean> {
    return (await waitGone([this.pid], timeoutMs)).length === 0;
  }

  async output(): Promise<string> {
    try {
      return await readFile(this.log, 'utf8');
    } catch {
      return '';
    }
  }

  /** Waits until the log matches `pattern`; fails with the log when the process dies first. */
  async waitForLog(pattern: RegExp, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const text = await this.output();
      if (pattern.test(text)) return;
      if (!(await this.running())) throw new LispwgError('LAB_PROCESS_EXITED', `${this.name} on ${this.node} exited before printing ${pattern}: ${text.trim().slice(-500) || '(no output)'}`);
      if (Date.now() > deadline) throw new LispwgError('LAB_PROCESS_TIMEOUT', `${this.name} on ${this.node} did not print ${pattern} within ${timeoutMs} ms: ${text.trim().slice(-500) || '(no output)'}`);
      await sleep(10);
    }
  }
}
