/**
 * The namespace fixture of the integration tests: a throwaway set of network namespaces, veths,
 * bridges and processes under names no other run uses, and one close() that takes everything
 * down (processes, deferred cleanups, namespaces, the scratch directory). netnsLab() also
 * registers close() with afterAll, so a failed beforeAll or test still cleans up; namespaces a
 * crashed run left are deleted when the test process exits.
 *
 *   const lab = netnsLab({ prefix: 'lwgrt' });      // namespaces lwgrt<id>-<short>
 *   beforeAll(async () => {
 *     await lab.addNs('a', 'b');
 *     await lab.link('a', 'eth0', 'b', 'eth0', '198.18.30.1/24', '198.18.30.2/24');
 *   });
 *
 * Run the suites that use it under the lab lock (flock /tmp/lispwg-netns.lock). Test support:
 * never part of the build.
 */
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { run, spawn, type RunOptions } from '../util/exec.js';

export type Child = ReturnType<typeof spawn>;
type SpawnOptions = NonNullable<Parameters<typeof spawn>[1]>;

export interface NetnsLabOptions {
  /** Start of every namespace name: `<prefix><id>-<short>`. */
  prefix: string;
  /** Random bytes in the id (hex); 3 unless told. Interface names built from the id must fit 15 characters. */
  idBytes?: number;
  /** Stem of the scratch directory, `<tmpdir>/<stem>-<id>` (logs, configs); created on first use. */
  dirStem?: string;
}

/** Namespaces still to delete, over every lab of this process: the exit handler's list. */
const live = new Set<string>();
process.once('exit', () => {
  for (const ns of live) {
    try {
      execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
    } catch {
      // already gone
    }
  }
});

export class NetnsLab {
  readonly id: string;
  readonly dir: string;
  private readonly prefix: string;
  private readonly namespaces: string[] = [];
  private readonly children: Array<{ name: string; child: Child }> = [];
  private readonly cleanups: Array<() => unknown> = [];
  private closed = false;

  constructor(opts: NetnsLabOptions) {
    this.prefix = opts.prefix;
    this.id = randomBytes(opts.idBytes ?? 3).toString('hex');
    this.dir = join(tmpdir(), `${opts.dirStem ?? 'lispwg-netns'}-${this.id}`);
  }

  /** The full name of namespace `short`. */
  ns(short: string): string {
    return `${this.prefix}${this.id}-${short}`;
  }

  /** The scratch directory, created here (not in the constructor: a filtered-out suite leaves nothing). */
  mkdir(): string {
    mkdirSync(this.dir, { recursive: true });
    return this.dir;
  }

  /** Creates the namespaces, each with its loopback up; returns their full names. */
  async addNs(...shorts: string[]): Promise<string[]> {
    this.mkdir();
    const out: string[] = [];
    for (const s of shorts) {
      const ns = this.ns(s);
      await run(['ip', 'netns', 'add', ns]);
      this.namespaces.push(ns);
      live.add(ns);
      await this.exec(s, ['ip', 'link', 'set', 'lo', 'up']);
      out.push(ns);
    }
    return out;
  }

  /** Runs a command inside namespace `short` (throws on a non-zero exit unless allowFail). */
  exec(short: string, cmd: string[], opts: Omit<RunOptions, 'netns'> = {}) {
    return run(cmd, { ...opts, netns: this.ns(short) });
  }

  /** `ip ARGS...` inside namespace `short`. */
  async ip(short: string, ...args: string[]): Promise<string> {
    return (await this.exec(short, ['ip', ...args])).stdout;
  }

  /** A veth from `aIf` in `a` to `bIf` in `b` (`a` may equal `b`), both up, with optional addresses (CIDR; IPv6 without DAD). */
  async link(a: string, aIf: string, b: string, bIf: string, aAddr?: string, bAddr?: string): Promise<void> {
    await run(['ip', 'link', 'add', aIf, 'netns', this.ns(a), 'type', 'veth', 'peer', 'name', bIf, 'netns', this.ns(b)]);
    for (const [n, i, addr] of [[a, aIf, aAddr], [b, bIf, bAddr]] as const) {
      if (addr) await this.address(n, i, addr);
      await this.ip(n, 'link', 'set', i, 'up');
    }
  }

  /** Adds `cidr` to `ifname` in namespace `short` (an IPv6 address without duplicate address detection). */
  async address(short: string, ifname: string, cidr: string): Promise<void> {
    await this.ip(short, 'addr', 'add', cidr, 'dev', ifname, ...(cidr.includes(':') ? ['nodad'] : []));
  }

  /** A bridge `name` in namespace `short`, up; `ports` (interfaces of that namespace) are enslaved to it and set up. */
  async bridge(short: string, name: string, ports: string[] = []): Promise<void> {
    await this.ip(short, 'link', 'add', name, 'type', 'bridge');
    await this.ip(short, 'link', 'set', name, 'up');
    for (const p of ports) await this.ip(short, 'link', 'set', p, 'master', name, 'up');
  }

  /** Starts a long-running command in a namespace, its output in <dir>/<name>.log; stopped by close(). */
  start(short: string, name: string, cmd: string[]): Child {
    this.mkdir();
    const log = { file: join(this.dir, `${name}.log`), append: true };
    return this.spawn(short, cmd, { stdout: log, stderr: log }, name);
  }

  /** Starts a command in a namespace with the given stdio; stopped by close(). */
  spawn(short: string, cmd: string[], opts: Omit<SpawnOptions, 'netns'> = {}, name = cmd.join(' ')): Child {
    const child = spawn(cmd, { ...opts, netns: this.ns(short) });
    this.children.push({ name, child });
    return child;
  }

  /** What the process started as `name` wrote so far. */
  log(name: string): string {
    const f = join(this.dir, `${name}.log`);
    return existsSync(f) ? readFileSync(f, 'utf8') : '';
  }

  /** Stops `child` with `signal`, then SIGKILL after `timeoutMs`; resolves once it has exited. */
  async stop(child: Child, signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 5000): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill(signal);
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    await child.catch(() => undefined);
    clearTimeout(t);
  }

  /** Runs `fn` in close(), before the processes are stopped (closing devices, sockets...); the last deferred runs first. */
  defer(fn: () => unknown): void {
    this.cleanups.push(fn);
  }

  /** Takes everything down; safe to call more than once. LISPWG_KEEP_LOGS=1 keeps the scratch directory. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const f of this.cleanups.reverse()) await Promise.resolve().then(f).catch(() => undefined);
    for (const { name, child } of this.children.reverse()) {
      const t = Date.now();
      await this.stop(child).catch(() => undefined);
      if (process.env.LISPWG_KEEP_LOGS) console.log(`stopped ${name} in ${Date.now() - t} ms`);
    }
    for (const ns of this.namespaces.reverse()) {
      await run(['ip', 'netns', 'del', ns], { allowFail: true });
      live.delete(ns);
    }
    if (process.env.LISPWG_KEEP_LOGS) console.log(`logs kept in ${this.dir}`);
    else rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A NetnsLab closed by afterAll of the suite (or file) it is created in. */
export function netnsLab(opts: NetnsLabOptions): NetnsLab {
  const lab = new NetnsLab(opts);
  afterAll(() => lab.close());
  return lab;
}
