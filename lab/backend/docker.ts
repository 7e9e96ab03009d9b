/**
 * The docker backend: one container per node (network mode none, NET_ADMIN, /dev/net/tun), its
 * network namespace attached under the lab's name (`ip netns attach`), so the lab plumbs veths,
 * addresses and shaping into it exactly as for the netns backend. Commands run with docker exec
 * (dockerode); containers carry the labels lispwg.lab / lispwg.node.
 */
import { readdir, readFile, readlink } from 'node:fs/promises';
import { PassThrough } from 'node:stream';
import type Docker from 'dockerode';
import { LispwgError } from '../../src/util/errors.js';
import { run } from '../../src/util/exec.js';
import { projectRoot } from '../../src/util/project.js';
import { containerName, LABEL_LAB, LABEL_NODE, netnsName } from '../names.js';
import { ipBatch, mapLimit } from '../net/ip.js';
import { type ExecOptions, type NodeBackend, readPidFile, type RunResult, SPAWN_WRAPPER } from './backend.js';
import { DOCKER_SOCKET, requireDockerd } from './dockerd.js';
import { ensureImage, HOST_BINDS, IMAGE_INIT } from './image.js';

/** Containers started at once (each start costs the daemon ~0.3 s of CPU). */
const PARALLEL = 4;

export class DockerBackend implements NodeBackend {
  readonly kind = 'docker' as const;
  private docker?: Docker;
  image?: string;

  private client(): Docker {
    if (!this.docker) throw new LispwgError('DOCKER_UNAVAILABLE', 'the docker backend was not prepared');
    return this.docker;
  }

  async prepare(): Promise<void> {
    this.docker = await requireDockerd();
    this.image = await ensureImage(this.docker);
  }

  async createNodes(lab: string, nodes: readonly string[], opts: { dir: string; onNode?: (node: string) => void }): Promise<void> {
    const docker = this.client();
    const root = projectRoot();
    await mapLimit(nodes, PARALLEL, (node) =>
      this.createNode(docker, lab, node, root, opts.dir).then(
        () => opts.onNode?.(node),
        (e: Error) => {
          throw e instanceof LispwgError ? e : new LispwgError('DOCKER_FAILED', `creating the container of ${node} failed: ${e.message}`, { cause: e });
        },
      ),
    );
  }

  private async createNode(docker: Docker, lab: string, node: string, root: string, dir: string): Promise<void> {
    const c = await docker.createContainer({
      name: containerName(lab, node),
      Image: this.image!,
      Cmd: IMAGE_INIT,
      Hostname: node,
      Labels: { [LABEL_LAB]: lab, [LABEL_NODE]: node },
      Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      HostConfig: {
        NetworkMode: 'none',
        CapAdd: ['NET_ADMIN', 'NET_RAW'],
        Devices: [{ PathOnHost: '/dev/net/tun', PathInContainer: '/dev/net/tun', CgroupPermissions: 'rwm' }],
        Binds: [...HOST_BINDS.map((p) => `${p}:${p}:ro`), `${root}:${root}:ro`, `${dir}:${dir}`],
        Init: false,
      },
    });
    await c.start();
    const pid = (await c.inspect()).State.Pid;
    // Docker mounts /proc/sys read-only; the agents set per-interface sysctls (forwarding on
    // their TUN). A writable bind of /proc/sys/net alone (the container's own network namespace)
    // allows that, while the kernel's global sysctls stay read-only.
    await run(['nsenter', '-t', String(pid), '-m', '--', 'sh', '-c', 'mount --bind /proc/sys/net /proc/sys/net && mount -o remount,bind,rw /proc/sys/net']);
    await ipBatch([`netns attach ${netnsName(lab, node)} ${pid}`]);
  }


  async exec(lab: string, node: string, cmd: readonly string[], opts: ExecOptions = {}): Promise<RunResult> {
    const c = this.client().getContainer(containerName(lab, node));
    const ex = await c.exec({ Cmd: [...cmd], AttachStdout: true, AttachStderr: true, AttachStdin: opts.input !== undefined });
    const stream = await ex.start({ hijack: true, stdin: opts.input !== undefined });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const o = new PassThrough().on('data', (b: Buffer) => out.push(b));
    const e = new PassThrough().on('data', (b: Buffer) => err.push(b));
    this.client().modem.demuxStream(stream, o, e);
    if (opts.input !== undefined) stream.end(opts.input);
    let timer: NodeJS.Timeout | undefined;
    const done = new Promise<void>((resolve) => stream.on('end', resolve).on('close', resolve));
    const timedOut = opts.timeoutMs
      ? new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), opts.timeoutMs)))
      : new Promise<boolean>(() => undefined);
    const late = await Promise.race([done.then(() => false), timedOut]);
    clearTimeout(timer);
    if (late) stream.destroy();
    const code = late ? -1 : ((await ex.inspect()).ExitCode ?? -1);
    const res = { stdout: Buffer.concat(out).toString().replace(/\n$/, ''), stderr: Buffer.concat(err).toString().replace(/\n$/, ''), exitCode: code };
    if (late) res.stderr ||= `timed out after ${opts.timeoutMs} ms`;
    if (code !== 0 && !opts.allowFail) {
      throw new LispwgError('COMMAND_FAILED', `command failed in container ${containerName(lab, node)} (exit ${code}): ${cmd.join(' ')}${res.stderr ? `\n${res.stderr.trim()}` : ''}`);
    }
    return res;
  }

  /** The docker CLI's exec on the same daemon and container as exec() (dockerode cannot hand over a child process). */
  commandLine(lab: string, node: string, cmd: readonly string[]): string[] {
    return ['docker', '-H', `unix://${DOCKER_SOCKET}`, 'exec', '-i', containerName(lab, node), ...cmd];
  }

  async spawn(lab: string, node: string, cmd: readonly string[], log: string, pidFile: string): Promise<number> {
    const c = this.client().getContainer(containerName(lab, node));
    const ex = await c.exec({ Cmd: [...SPAWN_WRAPPER, pidFile, log, ...cmd], AttachStdout: false, AttachStderr: false });
    // the reply of a detached start is a stream with nothing to read: close it, or it keeps
    // the HTTP connection (and this process) alive
    const reply = (await ex.start({ Detach: true })) as NodeJS.ReadableStream & { destroy?: () => void };
    reply.destroy?.();
    const inner = await readPidFile(pidFile);
    return hostPid((await c.inspect()).State.Pid, inner);
  }

  async destroy(lab: string, recorded: readonly string[]): Promise<string[]> {
    const docker = this.docker ?? (this.docker = await requireDockerd());
    const labelled = await docker.listContainers({ all: true, filters: { label: [`${LABEL_LAB}=${lab}`] } });
    const names = new Set([...recorded, ...labelled.map((c) => (c.Names[0] ?? '').replace(/^\//, ''))].filter(Boolean));
    const removed: string[] = [];
    await mapLimit([...names], PARALLEL, async (name) => {
      try {
        await docker.getContainer(name).remove({ force: true, v: true });
        removed.push(name);
      } catch (e) {
        if ((e as { statusCode?: number }).statusCode !== 404) throw e;
      }
    });
    return removed;
  }
}

/** The host pid of the process that has pid `inner` in the pid namespace of host pid `init`. */
async function hostPid(init: number, inner: number): Promise<number> {
  const ns = await readlink(`/proc/${init}/ns/pid`);
  for (const d of await readdir('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const status = await readFile(`/proc/${d}/status`, 'utf8');
      const nspid = /^NSpid:\s+(.+)$/m.exec(status)?.[1]?.trim().split(/\s+/).map(Number);
      if (nspid && nspid[nspid.length - 1] === inner && nspid.length > 1 && (await readlink(`/proc/${d}/ns/pid`)) === ns) return Number(d);
    } catch {
      /* gone meanwhile */
    }
  }
  throw new LispwgError('LAB_SPAWN', `cannot find the host pid of container pid ${inner}`);
}
