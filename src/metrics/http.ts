/**
 * The opt-in metrics listener (`metrics-listen: ADDR:PORT`): plain HTTP, `GET /metrics` answers
 * the daemon's families (prometheus.ts) rendered at that moment, anything else 404 (405 for
 * another method on /metrics). Bounded, since whoever reaches the address may connect:
 * - at most `maxConnections` at once (4): beyond, the kernel-accepted connection is closed at
 *   once (`..._metrics_connections_refused_total`);
 * - one request per connection (`Connection: close`; a scrape every few seconds gains nothing from
 *   keep-alive), and a connection lives `timeoutMs` (5 s) at most, however slowly it sends or
 *   reads (`..._metrics_timeouts_total`);
 * - no request body: a request announcing one gets 413; headers at most 8 KiB;
 * - every answer counted by status code (`..._metrics_requests_total{code}`).
 * There is no authentication: bind it to a management address (the control address, loopback).
 */
import http from 'node:http';
import { isIP, type Socket } from 'node:net';
import { z } from 'zod';
import { LispwgError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { CONTENT_TYPE, MetricsWriter } from './prometheus.js';

export interface ListenAddress {
  /** An IPv4 or IPv6 address (no brackets). */
  address: string;
  port: number;
}

/** `ADDR:PORT` or `[IPv6]:PORT` as text. */
export function formatListenAddress(a: ListenAddress): string {
  return a.address.includes(':') ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}

/**
 * Parses `ADDR:PORT` (IPv4) or `[ADDR]:PORT` (IPv6); port 0 takes any free port. Throws
 * METRICS_ADDRESS naming the text, and `what` (a flag) when given (the config loader names the key).
 */
export function parseListenAddress(text: string, what?: string): ListenAddress {
  const bad = (why: string) => new LispwgError('METRICS_ADDRESS', `${what ? `${what} ` : ''}'${text}': ${why} (expected ADDR:PORT, e.g. 127.0.0.1:9142 or [::1]:9142)`);
  const t = text.trim();
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(t) ?? /^([^:[\]]+):(\d{1,5})$/.exec(t);
  if (!m) throw bad(t.includes(':') && !t.startsWith('[') && t.split(':').length > 2 ? 'an IPv6 address goes in brackets' : 'not ADDR:PORT');
  const [, address, portText] = m as unknown as [string, string, string];
  const family = isIP(address);
  if (family === 0) throw bad(`'${address}' is not an IP address`);
  if (family === 6 && !t.startsWith('[')) throw bad('an IPv6 address goes in brackets');
  if (family === 4 && t.startsWith('[')) throw bad('brackets are for IPv6 addresses');
  const port = Number(portText);
  if (port > 65535) throw bad(`port ${port} is over 65535`);
  return { address, port };
}

export interface MetricsListenerOptions {
  /** Names the listener's own families: `<prefix>_metrics_requests_total`, ... (lispwg_ms, lispwg_xtr). */
  prefix: string;
  /** Connections served at once (default 4). */
  maxConnections?: number;
  /** A connection's whole life at most (default 5000 ms). */
  timeoutMs?: number;
  /** Also the standard `process_*` families (CPU, resident memory, start time); default true. */
  processMetrics?: boolean;
  log?: Logger;
}

/** Writes a daemon's families (called on each scrape; may read what it needs asynchronously). */
export type RenderMetrics = (w: MetricsWriter) => void | Promise<void>;

const CODES = [200, 404, 405, 413, 500] as const;
const MAX_HEADER_BYTES = 8192;

export class MetricsListener {
  private readonly requests = new Map<number, number>(CODES.map((c) => [c, 0]));
  private refused = 0;
  private timeouts = 0;
  private badRequests = 0;
  private lastRenderSeconds = 0;
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly server: http.Server,
    /** Where it listens (the bound port when 0 was asked). */
    readonly address: ListenAddress,
    private readonly render: RenderMetrics,
    private readonly opts: Required<Omit<MetricsListenerOptions, 'log'>> & { log?: Logger },
  ) {}

  /** `http://ADDR:PORT/metrics` */
  get url(): string {
    return `http://${formatListenAddress(this.address)}/metrics`;
  }

  /**
   * Listens on `at` (nowhere else). Throws METRICS_LISTEN naming the address when the port is
   * in use, the address is not this host's, or binding is not allowed.
   */
  static async listen(at: ListenAddress, render: RenderMetrics, options: MetricsListenerOptions): Promise<MetricsListener> {
    const opts = { maxConnections: 4, timeoutMs: 5000, processMetrics: true, ...options };
    let self: MetricsListener | undefined;
    const server = http.createServer({ maxHeaderSize: MAX_HEADER_BYTES, requestTimeout: opts.timeoutMs, headersTimeout: opts.timeoutMs, connectionsCheckingInterval: Math.min(1000, opts.timeoutMs) }, (req, res) => {
      void self!.serve(req, res);
    });
    server.maxConnections = opts.maxConnections;
    server.on('drop', () => self && self.refused++);
    server.on('connection', (sock: Socket) => {
      // the whole connection, not just its idle time: a slow drip of bytes does not keep it
      const deadline = setTimeout(() => {
        if (self) self.timeouts++;
        sock.destroy();
      }, opts.timeoutMs);
      deadline.unref();
      sock.once('close', () => clearTimeout(deadline));
    });
    server.on('clientError', (_e: Error, sock: Socket) => {
      if (self) self.badRequests++;
      if (sock.writable) sock.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      else sock.destroy();
    });
    const where = formatListenAddress(at);
    await new Promise<void>((resolve, reject) => {
      const onError = (e: NodeJS.ErrnoException) => {
        const why =
          e.code === 'EADDRINUSE' ? 'the port is in use (another daemon, or another metrics-listen?)'
          : e.code === 'EADDRNOTAVAIL' ? 'no interface of this host (or network namespace) has this address'
          : e.code === 'EACCES' ? 'permission denied (a port below 1024 needs root)'
          : e.message;
        reject(new LispwgError('METRICS_LISTEN', `cannot serve metrics on ${where}: ${why}`));
      };
      server.once('error', onError);
      server.listen({ host: at.address, port: at.port, exclusive: true, ipv6Only: at.address.includes(':') }, () => {
        server.off('error', onError);
        resolve();
      });
    });
    server.on('error', (e) => opts.log?.warn('metrics listener error', { address: where, error: e.message }));
    const bound = server.address() as { address: string; port: number };
    self = new MetricsListener(server, { address: at.address, port: bound.port }, render, opts);
    return self;
  }

  private async serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const answer = (code: number, body: string, headers: Record<string, string> = {}) => {
      this.requests.set(code, (this.requests.get(code) ?? 0) + 1);
      res.writeHead(code, { 'Content-Type': code === 200 ? CONTENT_TYPE : 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body), Connection: 'close', ...headers });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics') return answer(404, 'not found: metrics are at /metrics\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') return answer(405, 'GET /metrics\n', { Allow: 'GET, HEAD' });
    const length = req.headers['content-length'];
    if ((length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined) return answer(413, 'a scrape has no body\n');
    let text: string;
    try {
      text = await this.scrape();
    } catch (e) {
      this.opts.log?.error('cannot render the metrics', { error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
      return answer(500, 'cannot render the metrics (see the daemon log)\n');
    }
    if (!res.destroyed) answer(200, text);
  }

  /** The daemon's families, then the listener's own: what GET /metrics answers. */
  async scrape(): Promise<string> {
    const w = new MetricsWriter();
    const t0 = performance.now();
    await this.render(w);
    this.lastRenderSeconds = (performance.now() - t0) / 1000;
    const p = this.opts.prefix;
    w.counter(`${p}_metrics_requests_total`, 'HTTP requests to the metrics listener, by status code (this one not yet counted)', [...this.requests].map(([code, value]) => ({ labels: { code: String(code) }, value })));
    w.counter(`${p}_metrics_connections_refused_total`, 'Connections closed at once: the listener already served its maximum at once', this.refused);
    w.counter(`${p}_metrics_timeouts_total`, 'Connections closed when their time ran out (slow or stuck clients)', this.timeouts);
    w.counter(`${p}_metrics_bad_requests_total`, 'Requests that were not HTTP, or whose headers were too large', this.badRequests);
    w.gauge(`${p}_metrics_render_duration_seconds`, 'Time this scrape took to collect and write the daemon\'s families', this.lastRenderSeconds);
    if (this.opts.processMetrics) writeProcessMetrics(w);
    return w.text();
  }

  /** Stops listening and closes every open connection; idempotent. */
  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    return this.closing;
  }
}

/** The standard process families (as Prometheus client libraries name them). */
function writeProcessMetrics(w: MetricsWriter): void {
  const cpu = process.cpuUsage();
  w.counter('process_cpu_seconds_total', 'User and system CPU time of the process', (cpu.user + cpu.system) / 1e6);
  w.gauge('process_resident_memory_bytes', 'Resident memory of the process', process.memoryUsage.rss());
  w.gauge('process_start_time_seconds', 'When the process started (Unix time)', Math.round((Date.now() / 1000 - process.uptime()) * 1000) / 1000);
}

/** The `metrics-listen: ADDR:PORT` field of a daemon's configuration (zod): its problem named as the loader reports it. */
export const listenAddressField = () =>
  z.string().transform((v, ctx) => {
    try {
      return parseListenAddress(v);
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: (e as Error).message });
      return z.NEVER;
    }
  });
