/**
 * The Map-Server's Prometheus families (`lispwg_ms_*`), written from what it keeps anyway: its
 * counters and histograms (stats.ts) and the sizes of its tables (`MapServer.gauges()`). Nothing
 * is counted for the metrics' sake: a Map-Request does exactly the work it did without them.
 *
 * - every counter of stats.ts is `lispwg_ms_<name>_total` (`-` as `_`), except the drop reasons:
 *   one family `lispwg_ms_drops_total{reason}` (`drop-bad-hmac` is `reason="bad-hmac"`);
 * - the processing-time histograms (`lispwg_ms_map_request_duration_seconds`, ...);
 * - gauges: registrations per site (`{site}`), subscriptions, pending Map-Notifies, tables;
 * - the store's counters and gauges (`lispwg_ms_store_*`).
 * Labels stay bounded: `site` takes the configured sites' names, `reason` the drop reasons of
 * stats.ts, `kind` a fixed few.
 */
import { MetricsWriter, metricPart } from '../metrics/prometheus.js';
import type { MapServer } from './server.js';
import type { CounterName } from './stats.js';

type EventCounter = Exclude<CounterName, `drop-${string}`>;

/** HELP of each counter that is not a drop reason (a new counter without one does not compile). */
const COUNTER_HELP: Record<EventCounter, string> = {
  rx: 'Datagrams received (all sockets), before the rate limit',
  'rx-stranger': 'Datagrams from sources that are no site\'s xTR, past the rate limit',
  'rx-map-request': 'Map-Requests received (bare or in an ECM)',
  'rx-ecm': 'Encapsulated Control Messages received',
  'rx-map-register': 'Map-Registers received',
  'rx-map-notify-ack': 'Map-Notify-Acks received',
  'tx-map-reply': 'Map-Replies sent (negative ones included)',
  'tx-negative-map-reply': 'Negative records sent in Map-Replies (no registration for the EID)',
  'tx-map-notify-register': 'Map-Notifies sent to acknowledge a Map-Register',
  'tx-map-notify-push': 'Map-Notifies pushing a requester\'s key to a destination',
  'tx-map-notify-subscription': 'Map-Notifies telling a subscriber of a changed mapping',
  'tx-retransmit': 'Map-Notifies sent again for want of an Ack',
  'registrations-new': 'Registrations of a prefix not held before',
  'registrations-refreshed': 'Map-Registers that refreshed a registration unchanged',
  'registrations-changed': 'Registrations whose RLOCs or key changed',
  'registrations-expired': 'Registrations that expired unrefreshed',
  'registrations-withdrawn': 'Registrations withdrawn (reload, revocation, another replica)',
  deregistrations: 'Registrations removed by a Map-Register with TTL 0',
  'pushes-acked': 'Pushes acknowledged by the destination',
  'pushes-unacked': 'Pushes given up after every retransmission',
  'push-wait-timeouts': 'Map-Replies sent before their push was acknowledged (push.wait ran out)',
  'pushes-on-change': 'Pushes to a changed site of the keys of its subscribers',
  'subscriptions-added': 'Subscriptions added',
  'subscriptions-notified': 'Changes told to subscribers',
  'subscriptions-acked': 'Subscription Map-Notifies acknowledged',
  'subscriptions-unacked': 'Subscription Map-Notifies given up after every retransmission',
  'subscriptions-evicted': 'Subscriptions evicted by a full table (subscriptions.max)',
  'send-errors': 'Datagrams the kernel refused to send',
  'store-loaded': 'Registrations put back from the store at start',
  'store-expired-at-load': 'Stored registrations that had expired at start',
  'store-refused-at-load': 'Stored registrations the configuration no longer allows, at start',
  'store-remote-new': 'New registrations applied from another replica',
  'store-remote-changed': 'Changed registrations applied from another replica',
  'store-remote-refreshed': 'Refreshes applied from another replica',
  'store-remote-refused': 'Another replica\'s registrations this one\'s configuration refuses',
  'store-remote-errors': 'Another replica\'s changes that failed to apply',
  'store-remote-stale': 'Another replica\'s changes older than what this replica heard of the site (kept the newer, wrote it again)',
  'store-binding-conflicts': 'WireGuard keys bound to two sites at once through two replicas',
  'rx-map-request-stranger': 'Map-Requests from senders that are no site\'s xTR (answered, never believed)',
  'reply-records-cut-amplification': 'Map-Replies to strangers cut to the bytes they sent',
  'itr-rloc-not-senders': 'Map-Requests whose ITR-RLOC was not the sender\'s (answered at the source)',
  'source-eid-not-senders': 'Map-Requests whose source EID was not the sender\'s (no push, no subscription)',
  'register-nonce-zero': 'Map-Registers with nonce 0 from nonce-cache sites (not protected from replay)',
  'no-push-plain-site': 'Map-Requests for a plain site\'s EID (nothing to push to)',
};

const DROP_PREFIX = 'drop-';

/** The store's stats() keys that are counters (the rest of its numbers are gauges). */
const STORE_COUNTERS: Record<string, string> = {
  writes: 'Journal writes',
  'write-errors': 'Store writes that failed',
  compactions: 'Journal compactions',
  'records-appended': 'Records appended to the journal',
  'writes-queued': 'Changes queued for etcd',
  'writes-sent': 'Changes written to etcd',
  'bindings-held-already': 'Key bindings etcd held already for another site',
  'writes-refused-queue-full': 'Changes refused by a full etcd queue (written again later)',
  transactions: 'etcd transactions',
  'leases-granted': 'etcd leases granted',
  'events-applied': 'etcd watch events applied (other replicas\' changes)',
  'events-own': 'etcd watch events of this replica\'s own writes (skipped)',
  'corrupt-values': 'Values read from etcd that do not decode',
  'watch-restarts': 'etcd watches started again',
  'ranges-again': 'Full reads of etcd after a compaction or a data loss',
  resyncs: 'Full writes of every registration to etcd',
};
const STORE_GAUGES: Record<string, string> = {
  bytes: 'Bytes of the journal file',
  queued: 'Changes waiting for etcd',
  leases: 'etcd leases held',
  reachable: 'Whether etcd answers (1) or not (0)',
  revision: 'The etcd revision this replica has applied',
};

const HISTOGRAMS = [
  ['mapRequest', 'map_request', 'Map-Request processing: datagram in to Map-Reply sent, for replies sent at once'],
  ['mapRequestCompute', 'map_request_compute', 'Map-Request processing without the send syscall: datagram in to Map-Reply ready'],
  ['mapRequestPushed', 'map_request_pushed', 'Map-Request processing when the reply waited for its push\'s Ack (push-then-reply)'],
  ['mapRegister', 'map_register', 'Map-Register processing: datagram in to done (Map-Notify sent when asked)'],
] as const;

/** Writes every `lispwg_ms_*` family of `server` (the listener adds its own and `process_*`). */
export function writeMsMetrics(w: MetricsWriter, server: MapServer): void {
  const counters = server.counters.toJSON();
  const drops: Array<{ labels: { reason: string }; value: number }> = [];
  for (const [name, value] of Object.entries(counters) as Array<[CounterName, number]>) {
    if (name.startsWith(DROP_PREFIX)) drops.push({ labels: { reason: name.slice(DROP_PREFIX.length) }, value });
    else w.counter(`lispwg_ms_${metricPart(name)}_total`, COUNTER_HELP[name as EventCounter], value);
  }
  w.counter('lispwg_ms_drops_total', 'Packets or records refused, by reason (the drop-* counters of lispwg ms show; src/ms/README.md)', drops);
  for (const [key, part, help] of HISTOGRAMS) w.histogram(`lispwg_ms_${part}_duration_seconds`, help, server.histograms[key]);

  const g = server.gauges();
  w.gauge('lispwg_ms_start_time_seconds', 'When the Map-Server started (Unix time)', g.startedAt / 1000);
  w.gauge('lispwg_ms_registrations', 'Registrations held, by site', g.sites.map((s) => ({ labels: { site: s.name }, value: s.registrations })));
  w.gauge('lispwg_ms_site_registrations_limit', 'Registrations a site may hold (max-registrations), by site', g.sites.map((s) => ({ labels: { site: s.name }, value: s.maxRegistrations })));
  w.gauge('lispwg_ms_registrations_held', 'Registrations held in all, static mappings included', g.registrations);
  w.gauge('lispwg_ms_registrations_limit', 'Registrations held at most (limits.registrations)', g.registrationLimit);
  w.gauge('lispwg_ms_key_bindings', 'WireGuard keys bound to a site', g.keyBindings);
  w.gauge('lispwg_ms_plain_site_addresses', 'Underlay addresses that speak for plain sites', g.plainSiteAddresses);
  w.gauge('lispwg_ms_subscriptions', 'Subscriptions held', g.subscriptions);
  w.gauge('lispwg_ms_subscriptions_limit', 'Subscriptions held at most (subscriptions.max)', g.subscriptionLimit);
  w.gauge('lispwg_ms_pending_notifies', 'Map-Notifies (pushes, subscriptions) awaiting their Ack', g.pendingNotifies);
  w.gauge('lispwg_ms_pushes_in_flight', 'Pushes awaiting their Ack (shared by the requests of one pair)', g.pushesInFlight);
  w.gauge('lispwg_ms_rate_limit_sources', 'Rate-limit buckets held, by kind of source', [
    { labels: { kind: 'site' }, value: g.rateLimiter.siteSources },
    { labels: { kind: 'stranger' }, value: g.rateLimiter.strangerSources },
  ]);
  w.gauge('lispwg_ms_rate_limit_sources_limit', 'Stranger sources remembered at most (rate-limit.table-size)', g.rateLimiter.tableSize);

  const st = g.store;
  w.gauge('lispwg_ms_store_info', 'The registration store in use', [{ labels: { kind: String(st.kind) }, value: 1 }]);
  for (const [key, value] of Object.entries(st)) {
    if (typeof value !== 'number') continue;
    if (STORE_COUNTERS[key]) w.counter(`lispwg_ms_store_${metricPart(key)}_total`, STORE_COUNTERS[key], value);
    else if (STORE_GAUGES[key]) w.gauge(`lispwg_ms_store_${metricPart(key)}`, STORE_GAUGES[key], value);
    // anything else (fsyncMs) is configuration, not a measurement
  }
}

/** The `lispwg_ms_*` families as exposition text (what the listener serves, without its own). */
export function renderMsMetrics(server: MapServer): string {
  const w = new MetricsWriter();
  writeMsMetrics(w, server);
  return w.text();
}
