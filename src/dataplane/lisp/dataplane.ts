/**
 * LispDataPlane: the plain LISP data plane of the OOR baseline. Packets routed into the TUN are
 * encapsulated in userspace (8-byte LISP header, UDP to RLOC:4341) and packets arriving on UDP
 * 4341 are decapsulated into the TUN, in a worker thread (worker.ts).
 *
 * The agent feeds it: setMapping() for every resolved mapping (and deleteMapping() when one
 * expires), and it reports map-cache misses through `onMiss`, as the TUN miss reader does for
 * the WireGuard data plane. Miss policy `drop` (OOR's) or `buffer` (the agent's PacketBuffer).
 *
 *   const dp = await LispDataPlane.start({ tun, onMiss: (dst) => resolve(dst) });
 *   dp.setMapping(parseEidPrefix('198.19.2.0/24'), [{ address: '198.18.0.2', priority: 1, weight: 100 }]);
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { isIPv4, isIPv6 } from 'node:net';
import { LispwgError } from '../../util/errors.js';
import { projectRoot } from '../../util/project.js';
import { createLogger, type Logger } from '../../util/log.js';
import type { EidPrefix } from '../../mapping/eid.js';
import { LISP_DATA_PORT } from '../../lisp/index.js';
import type { PacketBufferLimits } from '../packet-buffer.js';
import type { TunDevice } from '../tun/tun.js';
import type { Rloc } from './forwarding-table.js';
import { Counter, COUNTER_SLOTS, type FromWorker, type MissPolicy, type ToWorker, type WorkerInit } from './protocol.js';

export type { MissPolicy, Rloc };

/** A locator as a mapping record lists it (RFC 9301: lowest priority wins, 255 = unusable). */
export interface DataLocator {
  address: string;
  priority: number;
  weight: number;
}

export interface LispDataPlaneOptions {
  /** The TUN holding the routes of the EID space; the data plane reads it (nobody else may). */
  tun: TunDevice;
  /** The virtual network (carried in the header's I bit when not 0). */
  instanceId?: number;
  /** Local addresses to receive on: default every IPv4 and IPv6 address (0.0.0.0 and ::), so an RLOC change needs no rebind. */
  listen?: string[];
  /** UDP data port, here and at every RLOC (4341). */
  port?: number;
  missPolicy?: MissPolicy;
  /** Limits of the miss buffer (`buffer` policy). */
  buffer?: Partial<PacketBufferLimits>;
  /** A destination still without a mapping is reported again after this long (ms, default 1000). */
  missRetryMs?: number;
  /** Destinations held by that retry interval at most (default 4096); a miss for a new one beyond is not reported (counted). */
  missReportTable?: number;
  /** Called on a map-cache miss (at most once per destination and retry interval). */
  onMiss?: (destination: string, family: 4 | 6) => void;
  /** Called when a positive mapping became usable in the worker (`at`: this thread's performance.now() scale). */
  onMapped?: (prefix: EidPrefix, rloc: string, at: number) => void;
  /** Called when the data plane reports a failure: a socket or the TUN failed, or the worker died. */
  onError?: (err: LispwgError) => void;
  log?: Logger;
}

export interface DataPlaneCounters {
  /** Packets (inner) encapsulated and sent / received and decapsulated, and their inner bytes. */
  txPackets: number;
  txBytes: number;
  rxPackets: number;
  rxBytes: number;
  /** Map-cache misses dropped (`drop` policy) / held (`buffer`); buffered packets sent later. */
  missDropped: number;
  missBuffered: number;
  bufferReleased: number;
  /** Buffered packets lost: overflow, age, or their destination turned out negative. */
  bufferDropped: number;
  /** Packets to a negative entry. */
  negativeDropped: number;
  /** Non-IP bytes read from the TUN. */
  notIp: number;
  /** Received datagrams refused: short, another instance ID, no IP packet inside. */
  decapDropped: number;
  sendErrors: number;
  tunWriteErrors: number;
  /** Misses not reported: the report table was full of destinations still held. */
  missUnreported: number;
}

const DEFAULT_BUFFER_LIMITS: PacketBufferLimits = { maxPackets: 64, maxBytes: 256 * 1024, maxDestinations: 256, maxAgeMs: 3000 };

/** The compiled worker: beside this module in dist/, or dist's copy when this runs as TypeScript (tests). */
function workerFile(): string {
  const here = fileURLToPath(new URL('./worker.js', import.meta.url));
  if (existsSync(here)) return here;
  const built = join(projectRoot(), 'dist', 'src', 'dataplane', 'lisp', 'worker.js');
  if (existsSync(built)) return built;
  throw new LispwgError('NOT_BUILT', `the data-plane worker is not compiled (${built}): run \`npm run build\``);
}

/** The usable locator (lowest priority below 255; highest weight among equals), or null for none. */
export function selectRloc(locators: readonly DataLocator[], port = LISP_DATA_PORT): Rloc | null {
  let best: DataLocator | undefined;
  for (const l of locators) {
    if (l.priority >= 255 || !(isIPv4(l.address) || isIPv6(l.address))) continue;
    if (!best || l.priority < best.priority || (l.priority === best.priority && l.weight > best.weight)) best = l;
  }
  return best ? { address: best.address, family: isIPv4(best.address) ? 4 : 6, port } : null;
}

export class LispDataPlane {
  private readonly counterView: Float64Array;
  private stopped: Promise<void> | undefined;

  private constructor(
    private readonly worker: Worker,
    counters: SharedArrayBuffer,
    readonly port: number,
    private readonly log: Logger,
  ) {
    this.counterView = new Float64Array(counters);
  }

  /** Starts the worker; resolves once it listens on the data port and reads the TUN. */
  static async start(opts: LispDataPlaneOptions): Promise<LispDataPlane> {
    const port = opts.port ?? LISP_DATA_PORT;
    const listen = (opts.listen ?? ['0.0.0.0', '::']).map((address) => {
      if (isIPv4(address)) return { address, family: 4 as const };
      if (isIPv6(address)) return { address, family: 6 as const };
      throw new LispwgError('BAD_ADDRESS', `data plane listen address '${address}' is not an IP address`);
    });
    const iid = opts.instanceId ?? 0;
    if (!Number.isInteger(iid) || iid < 0 || iid > 0xffffff) throw new LispwgError('BAD_INSTANCE_ID', `instance ID ${iid}: the LISP data header carries 24 bits (0..16777215)`);
    const counters = new SharedArrayBuffer(COUNTER_SLOTS * 8);
    const init: WorkerInit = {
      tunFd: opts.tun.fd,
      instanceId: iid,
      listen,
      port,
      missPolicy: opts.missPolicy ?? 'drop',
      buffer: { ...DEFAULT_BUFFER_LIMITS, ...opts.buffer },
      missRetryMs: opts.missRetryMs ?? 1000,
      missReportTable: opts.missReportTable ?? 4096,
      counters,
    };
    const log = (opts.log ?? createLogger()).child({ component: 'lisp-dataplane' });
    const worker = new Worker(workerFile(), { workerData: init, name: `lisp-dataplane ${opts.tun.name}` });
    const dp = new LispDataPlane(worker, counters, port, log);
    await new Promise<void>((resolve, reject) => {
      worker.on('message', (m: FromWorker) => {
        if (m.type === 'ready') resolve();
        else if (m.type === 'miss') opts.onMiss?.(m.destination, m.family);
        else if (m.type === 'mapped') opts.onMapped?.(m.prefix, m.rloc, m.at - performance.timeOrigin);
        else if (m.type === 'error') {
          const err = new LispwgError(m.code, m.message);
          reject(err);
          log.error('data plane error', { code: m.code, error: m.message });
          opts.onError?.(err);
        }
      });
      // a worker that dies takes the data plane with it, never the agent
      worker.on('error', (e) => {
        const err = new LispwgError('DATAPLANE_WORKER', `the data-plane worker failed: ${e.message}`, { cause: e });
        reject(err);
        log.error('data plane stopped', { error: e.message });
        opts.onError?.(err);
      });
      worker.once('exit', (code) => reject(new LispwgError('DATAPLANE_WORKER', `the data-plane worker exited (code ${code}) before it was ready`)));
    });
    log.info('plain LISP data plane up', { tun: opts.tun.name, port, instanceId: iid, missPolicy: init.missPolicy, listen: listen.map((l) => l.address) });
    return dp;
  }

  private post(m: ToWorker): void {
    this.worker.postMessage(m);
  }

  /**
   * Installs (or replaces) the mapping for `prefix`: packets to it go to the best locator.
   * An empty or unusable locator set makes a negative entry: packets to it are dropped.
   */
  setMapping(prefix: EidPrefix, locators: readonly DataLocator[]): Rloc | null {
    const entry = selectRloc(locators, this.port);
    this.post({ type: 'map', prefix, entry });
    return entry;
  }

  deleteMapping(prefix: EidPrefix): void {
    this.post({ type: 'unmap', prefix });
  }

  /** Our RLOC changed: encapsulated packets must leave from the new address from now on. */
  localRlocChanged(): void {
    this.post({ type: 'refresh' });
  }

  counters(): DataPlaneCounters {
    const c = this.counterView;
    const out = {} as DataPlaneCounters;
    for (const [name, slot] of Object.entries(Counter)) out[name as keyof DataPlaneCounters] = c[slot]!;
    return out;
  }

  /** Stops the worker (the TUN stays open: it belongs to the caller). */
  close(): Promise<void> {
    this.stopped ??= new Promise<void>((resolve) => {
      const timer = setTimeout(() => void this.worker.terminate().then(() => resolve()), 2000);
      this.worker.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      this.worker.on('message', (m: FromWorker) => {
        if (m.type === 'stopped') void this.worker.terminate();
      });
      this.post({ type: 'stop' });
    });
    return this.stopped.then(() => this.log.info('plain LISP data plane stopped'));
  }
}
