/** What every result carries about the machine and software that produced it. */
import os from 'node:os';
import { readFileSync } from 'node:fs';
import { run } from '../../src/util/exec.js';
import { projectRoot, projectVersion } from '../../src/util/project.js';

export interface Metadata {
  host: string;
  kernel: string;
  os: string;
  cpu: string;
  cores: number;
  memoryGiB: number;
  node: string;
  lispwg: string;
  gitCommit?: string;
  tools: Record<string, string>;
  startedAt: string;
}

async function version(cmd: string[]): Promise<string> {
  const r = await run(cmd, { allowFail: true, timeoutMs: 5000 });
  return r.exitCode === 0 ? (r.stdout || r.stderr).split('\n')[0]!.trim() : 'not installed';
}

export async function collectMetadata(tools: Record<string, string[]> = {}): Promise<Metadata> {
  const git = await run(['git', '-C', projectRoot(), 'rev-parse', '--short', 'HEAD'], { allowFail: true });
  const osRelease = (() => {
    try {
      return /PRETTY_NAME="([^"]+)"/.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? os.type();
    } catch {
      return os.type();
    }
  })();
  const versions: Record<string, string> = {};
  for (const [name, cmd] of Object.entries(tools)) versions[name] = await version(cmd);
  return {
    host: os.hostname(),
    kernel: os.release(),
    os: osRelease,
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    lispwg: projectVersion(),
    ...(git.exitCode === 0 ? { gitCommit: git.stdout } : {}),
    tools: versions,
    startedAt: new Date().toISOString(),
  };
}
