/**
 * The Docker daemon the docker backend talks to. When none is running and the docker backend is
 * wanted, lispwg starts one in the background, configured so that it never touches the root
 * namespace's network: no iptables/ip6tables rules, no docker0 bridge, no ip_forward, no
 * masquerading (lab containers have network mode none; the lab plumbs their veths itself).
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import Docker from 'dockerode';
import { LispwgError } from '../../src/util/errors.js';
import { hasCommand, run } from '../../src/util/exec.js';
import { stopProcesses } from '../procs.js';

export const DOCKER_SOCKET = process.env.LISPWG_DOCKER_SOCKET ?? '/var/run/docker.sock';
const DOCKERD_LOG = '/var/log/lispwg/dockerd.log';
const DOCKERD_PIDFILE = '/run/lispwg/dockerd.pid';
const DOCKERD_ARGS = ['--iptables=false', '--ip6tables=false', '--bridge=none', '--ip-forward=false', '--ip-masq=false', '--userland-proxy=false'];

export const dockerClient = (): Docker => new Docker({ socketPath: DOCKER_SOCKET });

async function ping(docker: Docker): Promise<boolean> {
  try {
    await docker.ping();
    return true;
  } catch {
    return false;
  }
}

export type DockerStatus = { ok: true; startedByUs: boolean; version: string } | { ok: false; reason: string };

/**
 * Makes sure a Docker daemon answers on DOCKER_SOCKET, starting one when `start` is set.
 * Never throws: says why Docker cannot be used (the docker tests print this reason when they skip).
 */
export async function ensureDockerd(opts: { start: boolean; timeoutMs?: number }): Promise<DockerStatus> {
  const docker = dockerClient();
  const version = async () => ((await docker.version()) as { Version: string }).Version;
  if (await ping(docker)) return { ok: true, startedByUs: false, version: await version() };
  if (!opts.start) return { ok: false, reason: `no Docker daemon answers on ${DOCKER_SOCKET}` };
  if (process.getuid?.() !== 0) return { ok: false, reason: 'starting dockerd needs root' };
  if (!(await hasCommand('dockerd'))) return { ok: false, reason: 'dockerd is not installed (Debian package docker.io): run npm run setup' };
  await mkdir('/var/log/lispwg', { recursive: true });
  await mkdir('/run/lispwg', { recursive: true });
  await rm(DOCKERD_PIDFILE, { force: true });
  await run(['setsid', '-f', 'sh', '-c', 'exec "$@" >>"$0" 2>&1 </dev/null', DOCKERD_LOG, 'dockerd', `--pidfile=${DOCKERD_PIDFILE}`, `--host=unix://${DOCKER_SOCKET}`, ...DOCKERD_ARGS]);
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  while (Date.now() < deadline) {
    if (await ping(docker)) return { ok: true, startedByUs: true, version: await version() };
    await sleep(100);
  }
  const tail = existsSync(DOCKERD_LOG) ? (await readFile(DOCKERD_LOG, 'utf8')).trim().split('\n').slice(-3).join(' | ') : '';
  return { ok: false, reason: `dockerd did not answer within ${(opts.timeoutMs ?? 30_000) / 1000} s (log ${DOCKERD_LOG}: ${tail})` };
}

/** Stops a dockerd that ensureDockerd started (its pid file says which). */
export async function stopDockerd(): Promise<void> {
  let pid: number;
  try {
    pid = Number((await readFile(DOCKERD_PIDFILE, 'utf8')).trim());
  } catch {
    return;
  }
  if (pid > 0) await stopProcesses([pid], { graceMs: 10_000 });
  await rm(DOCKERD_PIDFILE, { force: true });
}

/** Throws the reason when Docker cannot be used. */
export async function requireDockerd(): Promise<Docker> {
  const st = await ensureDockerd({ start: true });
  if (!st.ok) throw new LispwgError('DOCKER_UNAVAILABLE', `the docker backend cannot run: ${st.reason}`);
  return dockerClient();
}
