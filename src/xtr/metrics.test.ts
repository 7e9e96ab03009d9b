/**
 * The agent's metrics: the real core (resolver, map-cache, histograms) moved by real misses and
 * answers, with a data plane and a mapping source implementing the real interfaces (the WireGuard
 * data plane needs namespaces: agent.integration.test.ts), served by the real listener.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { Resolution } from '../control/client.js';
import { eidAddress, wrapWireguardKey, type MappingRecord } from '../lisp/index.js';
import { eidPrefixText, type EidPrefix } from '../mapping/eid.js';
import { MetricsListener } from '../metrics/http.js';
import { parseExposition, sampleValue, scrape } from '../metrics/testing/exposition.js';
import { createLogger } from '../util/log.js';
import { keyToBase64 } from '../wg/keys.js';
import { parseConfig } from './config.js';
import { AgentCore } from './core.js';
import type { DataPlane, DataPlaneHost, Mapping } from './dataplane.js';
import { EventLog } from './events.js';
import type { MappingSource } from './mapping-source.js';
import { renderAgentMetrics, writeAgentMetrics } from './metrics.js';
import type { PeerStatus, WireGuardStatusPart } from './show.js';
import { MINIMAL_MN_YAML } from './testing/configs.js';
import { makePlan } from './plan.js';

function record(prefix: string, rloc: string, key: Uint8Array): MappingRecord {
  const [address, len] = prefix.split('/') as [string, string];
  return {
    ttl: 10,
    maskLen: Number(len),
    action: 0,
    authoritative: true,
    mapVersion: 0,
    eid: wrapWireguardKey(eidAddress(address, 0), key),
    locators: [{ priority: 1, weight: 100, mPriority: 255, mWeight: 0, local: false, probed: false, reachable: true, address: { afi: 'ipv4', address: rloc } }],
  };
}

/** Answers what the test says; leaves the rest unanswered. */
class Source implements MappingSource {
  readonly channel = 'lisp' as const;
  readonly drops = { 'bad-hmac': 2, replayed: 0 };
  readonly answers = new Map<string, MappingRecord[]>();
  async register(): Promise<void> {}
  hurryRegistration(): void {}
  servers() {
    return [{ address: '100.100.0.1', preferred: true }];
  }
  resolve(eid: string): Promise<Resolution> {
    const records = this.answers.get(eid);
    if (!records) return new Promise(() => undefined); // this attempt goes unanswered
    return new Promise((resolve) => setTimeout(() => resolve({ t: performance.now(), at: Date.now(), nonce: 1n, records, rttMs: 2, elapsedMs: 2, attempts: 1 }), 2));
  }
  async close(): Promise<void> {}
}

/** Installs into a table and reports peers as the WireGuard data plane's status does. */
class WgLikeDataPlane implements DataPlane {
  readonly kind = 'wireguard' as const;
  readonly needsKey = true;
  readonly registrationKey = undefined;
  host!: DataPlaneHost;
  readonly peers = new Map<string, PeerStatus>();
  async open(host: DataPlaneHost): Promise<void> {
    this.host = host;
  }
  async install(m: Mapping): Promise<void> {
    this.peers.set(m.text, { publicKey: keyToBase64(m.key!), eidPrefixes: [m.text], rxBytes: 1234, txBytes: 567, latestHandshakeS: 2, source: m.source, installedAgoS: 0 });
    if (m.missAt !== undefined) this.host.missToInstalled(performance.now() - m.missAt);
  }
  negative(): void {}
  async remove(prefix: EidPrefix): Promise<void> {
    this.peers.delete(eidPrefixText(prefix));
  }
  async revokeKey(): Promise<string[]> {
    return [];
  }
  unresolved(): number {
    return 0;
  }
  lastActive(): number | undefined {
    return undefined;
  }
  lastReceived(): number | undefined {
    return undefined;
  }
  async moved(): Promise<void> {}
  async upkeep(): Promise<void> {}
  async flush(): Promise<void> {}
  async status(): Promise<WireGuardStatusPart> {
    return {
      dataPlane: 'wireguard',
      wireguardBackend: 'kernel',
      interfaces: { data: 'mn1-wg', tun: 'mn1-tun', dataPort: 51820, publicKey: 'PUB' },
      peers: [...this.peers.values()],
      buffer: { buffered: 0, destinations: 0, released: 3, dropped: { overflow: 0, unresolved: 1 } },
      counters: {},
    };
  }
  async close(): Promise<void> {}
}

async function until(what: string, ok: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

describe('agent metrics', () => {
  it('serves resolution counters, both latency histograms, map-cache, peers and drops from a real core', async () => {
    const base = parseConfig(MINIMAL_MN_YAML);
    const config = { ...base, timers: { ...base.timers, resolve: { firstTimeoutMs: 20, backoff: 2, maxTimeoutMs: 40, attempts: 2, negativeTtlMs: 5000 } } };
    const dp = new WgLikeDataPlane();
    const source = new Source();
    const core = new AgentCore({ config, log: createLogger({}, { level: 'error' }), events: new EventLog(undefined), dataPlane: dp, control: { control: 'ctl0', controlPublicKey: 'CPUB', controlBackend: 'kernel' } });
    cleanup.push(() => core.stop());
    await dp.open(core.host);
    core.start(source);
    const metrics = await MetricsListener.listen({ address: '127.0.0.1', port: 0 }, (w) => writeAgentMetrics(w, core), { prefix: 'lispwg_xtr' });
    cleanup.push(() => metrics.close());

    source.answers.set('198.18.100.2', [record('198.18.100.2/32', '198.19.0.2', randomBytes(32))]);
    source.answers.set('198.18.100.3', []); // no record covers it: negative
    expect(dp.host.miss('198.18.100.2')).toBe(true);
    expect(dp.host.miss('198.18.100.3')).toBe(true);
    expect(dp.host.miss('198.18.100.4')).toBe(true); // never answered: two attempts, then given up
    await until('the peer, the negative entry and the give-up', () => dp.peers.size === 1 && core.histograms.resolution.count === 2 && core.histograms.missToInstalled.count === 1);
    await until('the give-up', () => (core as unknown as { resolver: { inFlightCount: number } }).resolver.inFlightCount === 0);

    const res = await scrape(metrics.url);
    expect(res.status).toBe(200);
    const f = parseExposition(res.body);
    const v = (name: string, labels?: Record<string, string>) => sampleValue(f, name, labels);
    expect(v('lispwg_xtr_misses_total')).toBe(3);
    expect(v('lispwg_xtr_map_requests_total')).toBe(4); // three first attempts, one retransmission
    expect(v('lispwg_xtr_map_request_retransmissions_total')).toBe(1);
    expect(v('lispwg_xtr_map_replies_total')).toBe(2);
    expect(v('lispwg_xtr_negative_map_replies_total')).toBe(1);
    expect(v('lispwg_xtr_resolution_timeouts_total')).toBe(1);
    expect(v('lispwg_xtr_resolutions_in_flight')).toBe(0);
    expect(v('lispwg_xtr_resolution_duration_seconds_count')).toBe(2);
    expect(v('lispwg_xtr_miss_to_installed_duration_seconds_count')).toBe(1);
    expect(v('lispwg_xtr_miss_to_installed_duration_seconds_bucket', { le: '10' })).toBe(1);
    expect(v('lispwg_xtr_miss_to_installed_duration_seconds_sum')).toBeGreaterThan(0);
    expect(v('lispwg_xtr_map_cache_entries', { kind: 'positive' })).toBe(1);
    expect(v('lispwg_xtr_map_cache_entries', { kind: 'negative' })).toBe(1);
    expect(v('lispwg_xtr_map_cache_limit')).toBe(10_000);
    expect(v('lispwg_xtr_peers')).toBe(1);
    expect(v('lispwg_xtr_peers_limit')).toBe(1024);
    expect(v('lispwg_xtr_peer_rx_bytes_total', { peer: '198.18.100.2/32' })).toBe(1234);
    expect(v('lispwg_xtr_peer_tx_bytes_total', { peer: '198.18.100.2/32' })).toBe(567);
    expect(Math.abs(v('lispwg_xtr_peer_last_handshake_timestamp_seconds', { peer: '198.18.100.2/32' })! - (Date.now() / 1000 - 2))).toBeLessThan(1);
    expect(v('lispwg_xtr_released_packets_total')).toBe(3);
    expect(v('lispwg_xtr_dropped_packets_total', { reason: 'unresolved' })).toBe(1);
    expect(v('lispwg_xtr_control_drops_total', { reason: 'bad-hmac' })).toBe(2);
    expect(v('lispwg_xtr_control_drops_total', { reason: 'replayed' })).toBe(0);
    expect(v('lispwg_xtr_info', { agent: 'mn1', mode: 'mn', data_plane: 'wireguard', control_channel: 'lisp', instance_id: '0' })).toBe(1);
    expect(v('lispwg_xtr_registered')).toBe(0);
    expect(v('lispwg_xtr_metrics_requests_total', { code: '200' })).toBe(0);
    expect(f.get('lispwg_xtr_events_total')?.samples.some((s) => s.labels.event === 'misses')).toBe(false); // its own family
    expect(parseExposition(await renderAgentMetrics(core)).has('lispwg_xtr_peers')).toBe(true);
  });

  it('reads metrics-listen from the config (and shows it in the plan), naming a bad one', () => {
    const c = parseConfig(`${MINIMAL_MN_YAML}metrics-listen: "[2001:db8::2]:9142"\n`);
    expect(c.metricsListen).toEqual({ address: '2001:db8::2', port: 9142 });
    expect(makePlan(c).metrics).toBe('http://[2001:db8::2]:9142/metrics');
    expect(parseConfig(MINIMAL_MN_YAML).metricsListen).toBeUndefined();
    expect(() => parseConfig(`${MINIMAL_MN_YAML}metrics-listen: 9142\n`, '/x/mn1.yaml')).toThrow(/mn1\.yaml:\d+:\d+: metrics-listen/);
    expect(() => parseConfig(`${MINIMAL_MN_YAML}metrics-listen: "2001:db8::2:9142"\n`, '/x/mn1.yaml')).toThrow(/metrics-listen: '2001:db8::2:9142': an IPv6 address goes in brackets/);
  });
});
