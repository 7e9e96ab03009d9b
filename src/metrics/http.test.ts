/**
 * The metrics listener on loopback: real sockets, node's fetch, and the strict parser.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Counters, Histogram } from '../ms/stats.js';
import { LispwgError } from '../util/errors.js';
import { MetricsListener, formatListenAddress, parseListenAddress, type MetricsListenerOptions, type RenderMetrics } from './http.js';
import { parseExposition, sampleValue, scrape } from './testing/exposition.js';

const open: MetricsListener[] = [];
afterEach(async () => {
  for (const l of open.splice(0)) await l.close();
});

async function listen(render: RenderMetrics, opts: Partial<MetricsListenerOptions> = {}, at = '127.0.0.1:0'): Promise<MetricsListener> {
  const l = await MetricsListener.listen(parseListenAddress(at), render, { prefix: 'lispwg_test', ...opts });
  open.push(l);
  return l;
}

/** One raw HTTP exchange (what fetch will not send: a body on GET); resolves with the status line. */
function raw(l: MetricsListener, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = net.connect(l.address.port, l.address.address, () => c.write(request));
    let buf = '';
    c.setEncoding('utf8');
    c.on('data', (d: string) => (buf += d));
    c.on('close', () => resolve(buf.split('\r\n')[0]!));
    c.on('error', reject);
  });
}

/** Resolves when the server closes `c` (or rejects after `ms`). */
const closedWithin = (c: net.Socket, ms: number) =>
  new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`still open after ${ms} ms`)), ms);
    c.once('close', () => {
      clearTimeout(t);
      resolve();
    });
  });

const connected = (l: MetricsListener) =>
  new Promise<net.Socket>((resolve, reject) => {
    const c = net.connect(l.address.port, l.address.address, () => resolve(c));
    c.on('error', reject);
    c.resume(); // read: a paused socket never sees the server's FIN
  });

describe('parseListenAddress', () => {
  it('reads ADDR:PORT and [IPv6]:PORT, refusing the rest with a message naming the text', () => {
    expect(parseListenAddress('127.0.0.1:9142')).toEqual({ address: '127.0.0.1', port: 9142 });
    expect(parseListenAddress('[::1]:9142')).toEqual({ address: '::1', port: 9142 });
    expect(parseListenAddress(' [2001:db8::1]:0 ')).toEqual({ address: '2001:db8::1', port: 0 });
    expect(formatListenAddress({ address: '::1', port: 1 })).toBe('[::1]:1');
    for (const [text, why] of [
      ['127.0.0.1', /not ADDR:PORT/],
      ['::1:9142', /brackets/],
      ['[127.0.0.1]:9142', /brackets are for IPv6/],
      ['localhost:9142', /not an IP address/],
      ['127.0.0.1:70000', /over 65535/],
      ['127.0.0.1:-1', /not ADDR:PORT/],
    ] as const) {
      let err: unknown;
      try {
        parseListenAddress(text, '--metrics-listen');
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(LispwgError);
      expect((err as LispwgError).code).toBe('METRICS_ADDRESS');
      expect((err as Error).message).toMatch(why);
      expect((err as Error).message).toContain(`--metrics-listen '${text}'`);
    }
  });
});

describe('MetricsListener', () => {
  it('serves GET /metrics in the 0.0.4 format, rendered at each scrape from the real counters', async () => {
    const counters = new Counters();
    const h = new Histogram();
    const l = await listen((w) => {
      w.counter('lispwg_test_map_requests_total', 'Map-Requests', counters.get('rx-map-request'));
      w.histogram('lispwg_test_duration_seconds', 'Latency', h);
    });
    expect(l.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const first = await scrape(l.url);
    expect(first.status).toBe(200);
    expect(first.contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
    let f = parseExposition(first.body);
    expect(sampleValue(f, 'lispwg_test_map_requests_total')).toBe(0);
    expect(sampleValue(f, 'lispwg_test_duration_seconds_count')).toBe(0);
    expect(sampleValue(f, 'lispwg_test_metrics_requests_total', { code: '200' })).toBe(0);
    expect(f.get('process_cpu_seconds_total')?.type).toBe('counter');

    counters.inc('rx-map-request', 3);
    h.record(30_000);
    h.record(700_000);
    f = parseExposition((await scrape(l.url)).body);
    expect(sampleValue(f, 'lispwg_test_map_requests_total')).toBe(3);
    expect(sampleValue(f, 'lispwg_test_duration_seconds_bucket', { le: '0.00005' })).toBe(1);
    expect(sampleValue(f, 'lispwg_test_duration_seconds_bucket', { le: '0.001' })).toBe(2);
    expect(sampleValue(f, 'lispwg_test_duration_seconds_sum')).toBeCloseTo(0.00073, 12);
    expect(sampleValue(f, 'lispwg_test_metrics_requests_total', { code: '200' })).toBe(1);
    expect(sampleValue(f, 'lispwg_test_metrics_render_duration_seconds')).toBeGreaterThanOrEqual(0);
  });

  it('answers 404 elsewhere, 405 to another method, 413 to a body, HEAD without one; all counted', async () => {
    const l = await listen((w) => void w.gauge('lispwg_test_up', 'Up', 1));
    expect((await fetch(`http://127.0.0.1:${l.address.port}/`)).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${l.address.port}/metricsx`)).status).toBe(404);
    const post = await fetch(l.url, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    expect(await raw(l, 'GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello')).toBe('HTTP/1.1 413 Payload Too Large');
    expect(await raw(l, 'GET /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n')).toBe('HTTP/1.1 413 Payload Too Large');
    const head = await fetch(l.url, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    expect(await raw(l, 'NOT HTTP AT ALL\r\n\r\n')).toBe('HTTP/1.1 400 Bad Request');
    const f = parseExposition((await scrape(l.url)).body);
    expect(sampleValue(f, 'lispwg_test_metrics_requests_total', { code: '404' })).toBe(2);
    expect(sampleValue(f, 'lispwg_test_metrics_requests_total', { code: '405' })).toBe(1);
    expect(sampleValue(f, 'lispwg_test_metrics_requests_total', { code: '413' })).toBe(2);
    expect(sampleValue(f, 'lispwg_test_metrics_requests_total', { code: '200' })).toBe(1);
    expect(sampleValue(f, 'lispwg_test_metrics_bad_requests_total')).toBe(1);
  });

  it('serves a few connections at once, closes the others at once, and ends slow ones on time', async () => {
    const l = await listen((w) => void w.gauge('lispwg_test_up', 'Up', 1), { maxConnections: 2, timeoutMs: 300 });
    const idle = [await connected(l), await connected(l)];
    idle[1]!.write('GET /metrics HTTP/1.1\r\nHost: x\r\n'); // headers never finished
    const third = await connected(l);
    await closedWithin(third, 200); // over the limit: closed at once
    await Promise.all(idle.map((c) => closedWithin(c, 2000))); // their time ran out
    const f = parseExposition((await scrape(l.url)).body);
    expect(sampleValue(f, 'lispwg_test_metrics_connections_refused_total')).toBe(1);
    expect(sampleValue(f, 'lispwg_test_metrics_timeouts_total')).toBe(2);
  });

  it('answers 500 when rendering fails, and goes on serving', async () => {
    let fail = true;
    const l = await listen((w) => {
      if (fail) throw new Error('boom');
      w.gauge('lispwg_test_up', 'Up', 1);
    });
    expect((await fetch(l.url)).status).toBe(500);
    fail = false;
    const f = parseExposition((await scrape(l.url)).body);
    expect(sampleValue(f, 'lispwg_test_metrics_requests_total', { code: '500' })).toBe(1);
  });

  it('listens on IPv6 too', async () => {
    const l = await listen((w) => void w.gauge('lispwg_test_up', 'Up', 1), {}, '[::1]:0');
    expect(l.url).toMatch(/^http:\/\/\[::1\]:\d+\/metrics$/);
    expect(sampleValue(parseExposition((await scrape(l.url)).body), 'lispwg_test_up')).toBe(1);
  });

  it('names the address when the port is in use or the address is not this host\'s', async () => {
    const a = await listen(() => undefined);
    const taken = `127.0.0.1:${a.address.port}`;
    await expect(MetricsListener.listen(parseListenAddress(taken), () => undefined, { prefix: 'x' })).rejects.toMatchObject({ code: 'METRICS_LISTEN', message: expect.stringContaining(`cannot serve metrics on ${taken}: the port is in use`) });
    await expect(MetricsListener.listen(parseListenAddress('192.0.2.1:0'), () => undefined, { prefix: 'x' })).rejects.toMatchObject({ code: 'METRICS_LISTEN', message: expect.stringContaining('192.0.2.1:0: no interface') });
  });

  it('leaves no socket behind when closed, even with a connection open', async () => {
    const l = await MetricsListener.listen(parseListenAddress('127.0.0.1:0'), () => undefined, { prefix: 'x' });
    const c = await connected(l);
    const gone = closedWithin(c, 1000);
    await l.close();
    await gone;
    await expect(fetch(l.url)).rejects.toThrow();
    // the port is free again
    const again = await listen(() => undefined, {}, `127.0.0.1:${l.address.port}`);
    expect(again.address.port).toBe(l.address.port);
  });
});
