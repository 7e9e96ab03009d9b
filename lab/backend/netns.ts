/**
 * The default backend: every node is a network namespace created with iproute2 (all of a lab's
 * namespaces in one `ip -batch`); commands run with `ip netns exec`, long-running ones detached
 * with `setsid` so they outlive the `lab up` that started them.
 */
import { LispwgError } from '../../src/util/errors.js';
import { hasCommand, run } from '../../src/util/exec.js';
import { netnsName } from '../names.js';
import { ipBatch } from '../net/ip.js';
import { type ExecOptions, type NodeBackend, readPidFile, type RunResult, SPAWN_WRAPPER } from './backend.js';

export class NetnsBackend implements NodeBackend {
  readonly kind = 'netns' as const;

  async prepare(): Promise<void> {
    if (process.getuid?.() !== 0) throw new LispwgError('LAB_NOT_ROOT', 'creating network namespaces needs root: run lispwg lab as root');
    for (const tool of ['ip', 'tc', 'setsid']) {
      if (!(await hasCommand(tool))) throw new LispwgError('LAB_TOOL_MISSING', `'${tool}' is not installed (iproute2 / util-linux): run npm run setup`);
    }
  }

  async createNodes(lab: string, nodes: readonly string[], opts: { onNode?: (node: string) => void }): Promise<void> {
    await ipBatch(nodes.map((n) => `netns add ${netnsName(lab, n)}`));
    for (const n of nodes) opts.onNode?.(n);
  }

  exec(lab: string, node: string, cmd: readonly string[], opts: ExecOptions = {}): Promise<RunResult> {
    return run(cmd, { netns: netnsName(lab, node), ...opts });
  }

  /** What exec() runs (`run(cmd, { netns })`), for a caller that spawns it itself. */
  commandLine(lab: string, node: string, cmd: readonly string[]): string[] {
    return ['ip', 'netns', 'exec', netnsName(lab, node), ...cmd];
  }

  async spawn(lab: string, node: string, cmd: readonly string[], log: string, pidFile: string): Promise<number> {
    await run(['setsid', '-f', ...SPAWN_WRAPPER, pidFile, log, ...cmd], { netns: netnsName(lab, node) });
    return readPidFile(pidFile);
  }

  /** Namespaces are removed by the lab itself (both backends name them); nothing else exists. */
  async destroy(): Promise<string[]> {
    return [];
  }
}
