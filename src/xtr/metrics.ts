/**
 * The agent's Prometheus families (`lispwg_xtr_*`), written from its status (what `lispwg show`
 * prints) and its two latency histograms. The status is read on the scrape: with the WireGuard
 * data plane that is one UAPI / netlink get of the data interface's peers (handshakes, bytes),
 * which the agent does on every upkeep tick anyway; a miss or a packet does no work for it.
 *
 * Labels stay bounded: `peer` (a WireGuard peer, named by the first EID prefix it was installed
 * for) by `limits.peers` (1024), `reason` by the drop reasons of the miss buffer and of the control
 * client, `event` by the agent's counter names (fixed in the code), `kind` by a fixed few.
 */
import { MetricsWriter, LATENCY_BOUNDS_SECONDS } from '../metrics/prometheus.js';
import type { AgentCore } from './core.js';

/** Resolutions may take several retransmissions: seconds beyond the Map-Server's bounds. */
const RESOLUTION_BOUNDS = [...LATENCY_BOUNDS_SECONDS, 5, 10];

const CONTROL_DROP = 'control-drop-';
/** Counters with a family of their own (not repeated under lispwg_xtr_events_total). */
const OWN_FAMILY = new Set(['misses', 'negative-replies']);

/** Writes every `lispwg_xtr_*` family of the agent `core` (the listener adds its own and `process_*`). */
export async function writeAgentMetrics(w: MetricsWriter, core: AgentCore): Promise<void> {
  const st = await core.status();
  const limits = core.config.limits;
  const now = Date.now() / 1000;
  const r = st.resolver;

  w.gauge('lispwg_xtr_info', 'The agent: its name, mode, data plane and control channel', [
    { labels: { agent: st.name, mode: st.mode, data_plane: st.dataPlane, control_channel: st.controlChannel, instance_id: String(st.instanceId) }, value: 1 },
  ]);
  w.gauge('lispwg_xtr_start_time_seconds', 'When the agent started (Unix time)', round(now - st.uptimeS));
  w.gauge('lispwg_xtr_registered', 'Whether the Map-Server acknowledged a Map-Register of ours (1) or not yet (0)', st.registration.state === 'registered' ? 1 : 0);
  if (st.registration.lastRegisteredAgoS !== undefined) w.gauge('lispwg_xtr_last_registered_timestamp_seconds', 'When the Map-Server last acknowledged a Map-Register (Unix time)', round(now - st.registration.lastRegisteredAgoS));

  // resolution
  w.counter('lispwg_xtr_misses_total', 'Packets for an EID without a map-cache entry that started a resolution', st.counters['misses'] ?? 0);
  w.counter('lispwg_xtr_map_requests_total', 'Map-Requests sent, retransmissions included', r.requestsSent);
  w.counter('lispwg_xtr_map_request_retransmissions_total', 'Map-Requests sent again: the one before went unanswered in its time', r.retransmissions);
  w.counter('lispwg_xtr_map_replies_total', 'Resolutions answered (positive or negative)', r.answered);
  w.counter('lispwg_xtr_negative_map_replies_total', 'Answers that became negative map-cache entries', r.negativeReplies);
  w.counter('lispwg_xtr_resolution_timeouts_total', 'Resolutions given up: every attempt went unanswered', r.giveUps);
  w.gauge('lispwg_xtr_resolutions_in_flight', 'Destinations being resolved now', r.inFlight);
  w.gauge('lispwg_xtr_resolutions_limit', 'Destinations resolved at once at most (limits.resolutions)', limits.resolutions);
  w.histogram('lispwg_xtr_resolution_duration_seconds', 'First Map-Request sent to its answer', core.histograms.resolution, RESOLUTION_BOUNDS);
  w.histogram('lispwg_xtr_miss_to_installed_duration_seconds', 'A miss to its mapping installed (peer and route: the paper\'s cache-add delay)', core.histograms.missToInstalled, RESOLUTION_BOUNDS);

  // map-cache
  let positive = 0;
  for (const e of st.mapCache) if (e.kind === 'positive') positive++;
  w.gauge('lispwg_xtr_map_cache_entries', 'Map-cache entries, by kind', [
    { labels: { kind: 'positive' }, value: positive },
    { labels: { kind: 'negative' }, value: st.mapCache.length - positive },
  ]);
  w.gauge('lispwg_xtr_map_cache_limit', 'Map-cache entries at most (limits.map-cache)', limits.mapCache);

  // WireGuard peers (read from the data interface on this scrape)
  if (st.dataPlane === 'wireguard') {
    w.gauge('lispwg_xtr_peers', 'WireGuard peers installed', st.peers.length);
    w.gauge('lispwg_xtr_peers_limit', 'WireGuard peers installed at most (limits.peers)', limits.peers);
    const peers = st.peers.filter((p) => p.eidPrefixes.length > 0);
    const label = (p: (typeof peers)[number]) => ({ peer: p.eidPrefixes[0]! });
    w.counter('lispwg_xtr_peer_rx_bytes_total', 'Bytes received from a peer (WireGuard\'s count: starts again when the peer is re-created)', peers.map((p) => ({ labels: label(p), value: p.rxBytes })));
    w.counter('lispwg_xtr_peer_tx_bytes_total', 'Bytes sent to a peer (WireGuard\'s count: starts again when the peer is re-created)', peers.map((p) => ({ labels: label(p), value: p.txBytes })));
    w.gauge('lispwg_xtr_peer_last_handshake_timestamp_seconds', 'When a peer\'s last handshake completed (Unix time; 0: none yet)', peers.map((p) => ({ labels: label(p), value: p.latestHandshakeS === undefined ? 0 : round(now - p.latestHandshakeS) })));
  }

  // packets that waited for a mapping
  const b = st.buffer;
  w.gauge('lispwg_xtr_buffered_packets', 'Packets held until their destination is resolved', b.buffered);
  w.gauge('lispwg_xtr_buffered_destinations', 'Destinations with packets held', b.destinations);
  w.counter('lispwg_xtr_released_packets_total', 'Held packets released once their mapping was installed', b.released);
  w.counter('lispwg_xtr_dropped_packets_total', 'Packets that waited for a mapping and were dropped, by reason', Object.entries(b.dropped).map(([reason, value]) => ({ labels: { reason }, value })));

  // the agent's other counters
  const drops: Array<{ labels: { reason: string }; value: number }> = [];
  const events: Array<{ labels: { event: string }; value: number }> = [];
  for (const [name, value] of Object.entries(st.counters)) {
    if (name.startsWith(CONTROL_DROP)) drops.push({ labels: { reason: name.slice(CONTROL_DROP.length) }, value });
    else if (!OWN_FAMILY.has(name)) events.push({ labels: { event: name }, value });
  }
  w.counter('lispwg_xtr_control_drops_total', 'Control messages refused (wrong source, HMAC, replay...), by reason', drops);
  w.counter('lispwg_xtr_events_total', 'The agent\'s other counters, by name (as lispwg show prints them; a name appears once it happened)', events);
}

/** The `lispwg_xtr_*` families as exposition text (what the listener serves, without its own). */
export async function renderAgentMetrics(core: AgentCore): Promise<string> {
  const w = new MetricsWriter();
  await writeAgentMetrics(w, core);
  return w.text();
}

const round = (v: number) => Math.round(v * 1000) / 1000;
