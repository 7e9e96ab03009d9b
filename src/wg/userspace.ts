/**
 * The userspace backend: wireguard-go as a supervised child process, configured over its UAPI
 * socket through one persistent connection.
 *
 * The device object keeps the configuration (key, port, peers, MTU, addresses). If wireguard-go
 * dies, its TUN interface dies with it; the supervisor starts a new one, gives it back everything
 * and tells the onRestart listeners (routes through the interface are theirs to re-install).
 * Requests made meanwhile wait for the new process instead of failing.
 */
import { createInterface } from 'node:readline';
import { existsSync, unlinkSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { LispwgError } from '../util/errors.js';
import { type Child, hasCommand, spawn } from '../util/exec.js';
import { createLogger, type Logger } from '../util/log.js';
import { Rtnetlink } from '../net/rtnetlink.js';
import { keyToHex, publicKey as derivePublicKey } from './keys.js';
import { checkPeer, PeerTable } from './peer.js';
import { peerLines, recordLines, UapiClient, uapiPath } from './uapi.js';
import type { OpenWireGuardOptions, WgDevice, WgPeerConfig, WgPeerStatus } from './types.js';

const START_TIMEOUT_MS = 5000;
/** How long a request waits for a dead wireguard-go to be replaced before failing. */
const RESTART_WAIT_MS = 10_000;
const STOP_TIMEOUT_MS = 3000;
/** A death restarts at once; repeated deaths within STABLE_MS of starting back off 100 ms, 200 ms... up to MAX_BACKOFF_MS. */
const STABLE_MS = 10_000;
const MAX_BACKOFF_MS = 5000;

let setprivChecked: Promise<boolean> | undefined;

export class UserspaceWgDevice implements WgDevice {
  readonly backend = 'userspace' as const;
  readonly publicKey: Buffer;
  private readonly peerTable = new PeerTable();
  private readonly restartListeners: Array<() => void | Promise<void>> = [];
  private readonly log: Logger;
  private port: number;
  private child: Child | undefined;
  private client: UapiClient | undefined;
  /** Bumped by every successful (re)start. */
  private generation = 0;
  private startedWaiters: Array<() => void> = [];
  private restarting = false;
  private reconnecting: Promise<UapiClient | undefined> | undefined;
  private closing: Promise<void> | undefined;
  private supervisor: Promise<void> = Promise.resolve();

  private constructor(
    readonly name: string,
    private readonly privateKey: Buffer,
    private readonly opts: OpenWireGuardOptions,
    private readonly rt: Rtnetlink,
  ) {
    this.publicKey = derivePublicKey(privateKey);
    this.port = opts.listenPort ?? 0;
    this.log = (opts.log ?? createLogger()).child({ wg: name, backend: 'userspace', ...(opts.netns ? { netns: opts.netns } : {}) });
  }

  static async open(opts: OpenWireGuardOptions, privateKey: Buffer): Promise<UserspaceWgDevice> {
    const rt = Rtnetlink.open(opts.netns ? { netns: opts.netns } : {});
    const dev = new UserspaceWgDevice(opts.name, privateKey, opts, rt);
    try {
      if (rt.link(opts.name)) {
        throw new LispwgError('LINK_EXISTS', `an interface named ${opts.name} already exists${opts.netns ? ` in namespace ${opts.netns}` : ''}: pick another name or remove it`);
      }
      await dev.refuseLiveSocket();
      await dev.start();
    } catch (e) {
      await dev.close().catch(() => undefined);
      throw e;
    }
    dev.supervisor = dev.supervise();
    return dev;
  }

  /** wireguard-go's socket path is machine-wide: a live one means the name is taken (maybe in another namespace). */
  private async refuseLiveSocket(): Promise<void> {
    const path = uapiPath(this.name);
    if (!existsSync(path)) return;
    const c = await UapiClient.connect(path).catch(() => undefined);
    if (!c) return; // stale, wireguard-go replaces it
    c.close();
    throw new LispwgError('WG_NAME_IN_USE', `a wireguard-go already serves ${path} (interface ${this.name}, maybe in another namespace): interface names must be unique on the machine`);
  }

  /** Starts wireguard-go, waits for its socket, gives it the whole configuration. */
  private async start(): Promise<void> {
    setprivChecked ??= hasCommand('setpriv');
    // --pdeathsig: wireguard-go goes away with us even if we crash
    const guard = (await setprivChecked) ? ['setpriv', '--pdeathsig', 'TERM'] : [];
    const child = spawn([...guard, 'wireguard-go', '-f', this.name], {
      ...(this.opts.netns ? { netns: this.opts.netns } : {}),
      env: { WG_PROCESS_FOREGROUND: '1', LOG_LEVEL: process.env.LISPWG_LOG === 'debug' ? 'verbose' : 'error' },
      stdout: 'pipe',
      stderr: 'pipe',
    });
    this.child = child;
    const output: string[] = [];
    for (const stream of [child.stdout!, child.stderr!]) {
      createInterface({ input: stream }).on('line', (line) => {
        if (/^[\s│┌└─┐┘]*$/.test(line) || line.startsWith('│')) return; // the "kernel has WireGuard" banner
        output.push(line);
        if (output.length > 20) output.shift();
        if (line.startsWith('ERROR')) this.log.warn('wireguard-go', { line });
        else this.log.debug('wireguard-go', { line });
      });
    }
    let exited = false;
    void child.then(() => (exited = true));

    const path = uapiPath(this.name);
    const deadline = Date.now() + START_TIMEOUT_MS;
    let client: UapiClient | undefined;
    while (!client) {
      if (exited) {
        await sleep(20); // let the last output lines arrive
        throw new LispwgError('WG_START_FAILED', `wireguard-go for ${this.name} exited at start${output.length ? `: ${output.join(' | ')}` : ''}`);
      }
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new LispwgError('WG_START_FAILED', `wireguard-go for ${this.name} did not open ${path} within ${START_TIMEOUT_MS} ms`);
      }
      client = await UapiClient.connect(path).catch(() => undefined);
      if (!client) await sleep(5);
    }

    const lines = [`private_key=${keyToHex(this.privateKey)}`, `listen_port=${this.port}`, 'replace_peers=true'];
    for (const r of this.peerTable.all()) lines.push(...recordLines(r));
    await client.set(lines, `configuring ${this.name} (key, port ${this.port || 'any'}, ${this.peerTable.size} peers)`);
    if (this.port === 0) this.port = (await client.get()).listenPort; // keep the chosen port across restarts

    const index = this.rt.linkIndex(this.name);
    if (this.opts.mtu) this.rt.setMtu(index, this.opts.mtu);
    for (const a of this.opts.addresses ?? []) this.rt.replaceAddress(index, a, { noDad: true });
    this.rt.setLinkUp(index);

    this.client = client;
    this.generation++;
    this.log.info('wireguard-go running', { pid: child.pid, listenPort: this.port, peers: this.peerTable.size });
    const waiters = this.startedWaiters;
    this.startedWaiters = [];
    for (const w of waiters) w();
  }

  /** Restarts wireguard-go whenever it dies, until close(). */
  private async supervise(): Promise<void> {
    let quickDeaths = 0;
    for (;;) {
      const child = this.child!;
      const since = Date.now();
      const result = await child;
      if (this.closing) return;
      this.restarting = true;
      this.client?.close();
      this.client = undefined;
      quickDeaths = Date.now() - since >= STABLE_MS ? 0 : quickDeaths + 1;
      const backoff = quickDeaths <= 1 ? 0 : Math.min(MAX_BACKOFF_MS, 100 * 2 ** (quickDeaths - 2));
      this.log.warn('wireguard-go died: restarting it', { pid: child.pid, exitCode: result.exitCode ?? null, signal: result.signal ?? null, inMs: backoff });
      if (backoff) await sleep(backoff);
      if (this.closing) return;
      try {
        await this.start();
      } catch (e) {
        this.log.error('restarting wireguard-go failed', { error: (e as Error).message });
        if (this.child && this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
        continue;
      }
      this.restarting = false;
      for (const l of this.restartListeners) {
        try {
          await l();
        } catch (e) {
          this.log.error('a restart listener failed', { error: (e as Error).message });
        }
      }
    }
  }

  /** Waits until a start newer than `generation` has completed. */
  private waitForStart(generation: number, what: string): Promise<void> {
    if (this.generation > generation) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.startedWaiters = this.startedWaiters.filter((w) => w !== done);
        reject(new LispwgError('WG_DAEMON_DOWN', `${what}: wireguard-go for ${this.name} is down and was not restarted within ${RESTART_WAIT_MS} ms`));
      }, RESTART_WAIT_MS);
      const done = () => {
        clearTimeout(timer);
        if (this.closing) reject(new LispwgError('WG_CLOSED', `${what}: device ${this.name} is closed`));
        else resolve();
      };
      this.startedWaiters.push(done);
    });
  }

  /**
   * Runs one UAPI exchange. If the connection is lost: reconnect when wireguard-go still runs, or
   * wait for its replacement and send again (every exchange is idempotent).
   */
  private async exchange<T>(what: string, f: (c: UapiClient) => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      if (this.closing) throw new LispwgError('WG_CLOSED', `${what}: device ${this.name} is closed`);
      const generation = this.generation;
      let client = this.restarting ? undefined : await this.connection();
      if (!client) {
        await this.waitForStart(generation, what);
        client = this.client!;
      }
      try {
        return await f(client);
      } catch (e) {
        if (!(e instanceof LispwgError) || e.code !== 'UAPI_CLOSED' || attempt >= 3) throw e;
      }
    }
  }

  /** The open connection, re-opened (once, for all waiting requests) after an error closed it. */
  private async connection(): Promise<UapiClient | undefined> {
    if (this.client?.connected) return this.client;
    this.reconnecting ??= UapiClient.connect(uapiPath(this.name))
      .then((c) => (this.restarting || this.closing ? (c.close(), undefined) : (this.client = c)))
      .catch(() => undefined)
      .finally(() => (this.reconnecting = undefined));
    return this.reconnecting;
  }

  async setPeer(peer: WgPeerConfig): Promise<void> {
    const p = checkPeer(peer);
    const lines = peerLines(p);
    const what = `setting peer ${p.publicKey.toString('base64')} on ${this.name}`;
    await this.exchange(what, (c) => c.set(lines, what));
    this.peerTable.set(p); // what a restarted wireguard-go will be given back
  }

  async removePeer(publicKey: Uint8Array): Promise<void> {
    const key = Buffer.from(publicKey);
    const what = `removing peer ${key.toString('base64')} from ${this.name}`;
    await this.exchange(what, (c) => c.set([`public_key=${key.toString('hex')}`, 'remove=true'], what));
    this.peerTable.remove(key);
  }

  async peers(): Promise<WgPeerStatus[]> {
    return (await this.exchange(`reading peers of ${this.name}`, (c) => c.get(`reading peers of ${this.name}`))).peers;
  }

  async listenPort(): Promise<number> {
    return (await this.exchange(`reading the port of ${this.name}`, (c) => c.get(`reading the port of ${this.name}`))).listenPort;
  }

  onRestart(listener: () => void | Promise<void>): void {
    this.restartListeners.push(listener);
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.client?.close();
    this.client = undefined;
    for (const w of this.startedWaiters.splice(0)) w();
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      // unref: a pending timer must not keep a closing process alive for STOP_TIMEOUT_MS
      const stopped = await Promise.race([child.then(() => true), sleep(STOP_TIMEOUT_MS, false, { ref: false })]);
      if (!stopped) {
        this.log.warn('wireguard-go ignored SIGTERM: killing it', { pid: child.pid });
        child.kill('SIGKILL');
        await child;
      }
    }
    await this.supervisor;
    try {
      // only what we created: open() may have failed on someone else's socket or interface
      if (child) {
        // a killed wireguard-go leaves its socket behind; its interface goes with its TUN fd
        if (existsSync(uapiPath(this.name))) unlinkSync(uapiPath(this.name));
        if (this.rt.link(this.name)) this.rt.deleteLink(this.name);
      }
    } finally {
      this.rt.close();
    }
    this.log.info('closed');
  }
}
