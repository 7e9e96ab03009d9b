/**
 * The Map-Server daemon in this process on loopback, with `metrics-listen`: real Map-Registers and
 * Map-Requests move its counters, and GET /metrics shows them, in a format a strict parser reads.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ControlClient } from '../control/client.js';
import { parseExposition, sampleValue, scrape } from '../metrics/testing/exposition.js';
import { createLogger } from '../util/log.js';
import { parseConfig } from './config.js';
import { runMapServer, type RunningMapServer } from './daemon.js';
import { renderMsMetrics } from './metrics.js';
import { Counters } from './stats.js';
import { siteRecord } from './testing/records.js';

const quiet = createLogger({}, { level: 'error' });
const KEY_A = Uint8Array.from({ length: 32 }, (_, i) => i + 1);
const KEY_B = Uint8Array.from({ length: 32 }, (_, i) => 100 + i);

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function daemon(): Promise<RunningMapServer> {
  const dir = mkdtempSync(join(tmpdir(), 'lispwg-metrics-'));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  const config = parseConfig(`listen: 127.0.0.1
port: 0
metrics-listen: 127.0.0.1:0
store: { kind: memory }
rate-limit: { rate: 0 }
sites:
  - { name: a, key: key-a, prefixes: [198.18.1.0/24] }
  - { name: b.site-2, key: key-b, key-id: 2, prefixes: [198.18.2.0/24] }
`);
  const ms = await runMapServer(config, { adminSocket: join(dir, 'ms.sock'), logger: quiet });
  cleanup.push(() => ms.stop());
  return ms;
}

async function client(ms: RunningMapServer, site?: { key: string; keyId?: 1 | 2 }, extra: Partial<Parameters<typeof ControlClient.open>[0]> = {}): Promise<ControlClient> {
  const port = ms.server.addresses()[0]!.port;
  const c = await ControlClient.open({ mapServer: { address: '127.0.0.1', port }, ...(site ? { site } : {}), registerRetryMs: 100, registerIntervalMs: 10_000, requestTimeoutMs: 300, logger: quiet, ...extra });
  cleanup.push(() => c.close());
  return c;
}

describe('Map-Server metrics', () => {
  it('answers /metrics with the counters, gauges and histograms real traffic moved', async () => {
    const ms = await daemon();
    expect(ms.metrics).toBeDefined();
    const url = ms.metrics!.url;
    const before = parseExposition((await scrape(url)).body);
    expect(sampleValue(before, 'lispwg_ms_rx_map_register_total')).toBe(0);
    expect(sampleValue(before, 'lispwg_ms_registrations', { site: 'a' })).toBe(0);

    const a = await client(ms, { key: 'key-a' });
    const b = await client(ms, { key: 'key-b', keyId: 2 });
    await a.register([siteRecord('198.18.1.0', 24, '198.19.0.1', KEY_A)]);
    await b.register([siteRecord('198.18.2.0', 24, '198.19.0.2', KEY_B)]);
    await b.resolve('198.18.1.7', { sourceEid: '198.18.2.9' }); // pushes b's key to a, then replies
    const lig = await client(ms);
    await lig.resolve('10.1.2.3'); // outside every site: negative
    const evil = await client(ms, { key: 'not-key-a' }, { registerAttempts: 1, registerRetryMs: 50 });
    await expect(evil.register([siteRecord('198.18.1.0', 24, '198.19.9.9')])).rejects.toThrow();

    const res = await scrape(url);
    expect(res.status).toBe(200);
    expect(res.contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
    const f = parseExposition(res.body);
    const v = (name: string, labels?: Record<string, string>) => sampleValue(f, name, labels);
    expect(v('lispwg_ms_rx_map_register_total')).toBeGreaterThanOrEqual(3);
    expect(v('lispwg_ms_registrations_new_total')).toBe(2);
    expect(v('lispwg_ms_rx_map_request_total')).toBe(2);
    expect(v('lispwg_ms_tx_map_reply_total')).toBe(2);
    expect(v('lispwg_ms_tx_negative_map_reply_total')).toBe(1);
    expect(v('lispwg_ms_tx_map_notify_push_total')).toBe(1);
    expect(v('lispwg_ms_pushes_acked_total')).toBe(1);
    expect(v('lispwg_ms_drops_total', { reason: 'bad-hmac' })).toBeGreaterThanOrEqual(1);
    expect(v('lispwg_ms_drops_total', { reason: 'rate-limited-site' })).toBe(0);
    expect(v('lispwg_ms_registrations', { site: 'a' })).toBe(1);
    expect(v('lispwg_ms_registrations', { site: 'b.site-2' })).toBe(1);
    expect(v('lispwg_ms_registrations_held')).toBe(2);
    expect(v('lispwg_ms_subscriptions')).toBe(ms.server.gauges().subscriptions);
    expect(v('lispwg_ms_subscriptions')).toBeGreaterThanOrEqual(1);
    expect(v('lispwg_ms_map_request_pushed_duration_seconds_count')).toBe(1);
    expect(v('lispwg_ms_map_request_duration_seconds_count')).toBe(1); // the negative reply went at once
    expect(v('lispwg_ms_map_register_duration_seconds_count')).toBe(ms.server.histograms.mapRegister.count);
    expect(v('lispwg_ms_map_request_duration_seconds_bucket', { le: '+Inf' })).toBe(1);
    expect(v('lispwg_ms_store_info', { kind: 'memory' })).toBe(1);
    expect(v('lispwg_ms_metrics_requests_total', { code: '200' })).toBe(1);
    // every counter of stats.ts is there: the drop reasons under one family, the rest each as its own
    const names = Object.keys(new Counters().toJSON());
    for (const n of names) {
      if (n.startsWith('drop-')) expect(v('lispwg_ms_drops_total', { reason: n.slice(5) }), n).toBeDefined();
      else expect(f.get(`lispwg_ms_${n.replace(/-/g, '_')}_total`)?.type, n).toBe('counter');
    }
    // what the listener serves is what renderMsMetrics gives, plus the listener's own and process_*
    expect(parseExposition(renderMsMetrics(ms.server)).size).toBe([...f.keys()].filter((k) => k.startsWith('lispwg_ms_') && !k.startsWith('lispwg_ms_metrics_')).length);
  });

  it('closes the listener when the daemon stops', async () => {
    const ms = await daemon();
    const url = ms.metrics!.url;
    expect((await scrape(url)).status).toBe(200);
    await ms.stop();
    await expect(fetch(url)).rejects.toThrow();
  });

  it('reads metrics-listen from the config, naming a bad one', () => {
    expect(parseConfig('metrics-listen: "[::1]:9142"').metricsListen).toEqual({ address: '::1', port: 9142 });
    expect(parseConfig('{}').metricsListen).toBeUndefined();
    expect(() => parseConfig('metrics-listen: 127.0.0.1', 'ms.yaml')).toThrow(/ms\.yaml:1:\d+: metrics-listen: '127\.0\.0\.1': not ADDR:PORT/);
  });
});
