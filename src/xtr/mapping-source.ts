/**
 * The agent's mapping source: where its registrations go, where its resolutions come from, and
 * where pushed mappings arrive. Registration always travels over LISP (Map-Register, Map-Notify);
 * resolution and pushes over LISP (ECM Map-Request, Map-Notify) or, with `control-channel: grpc`,
 * over gRPC (Resolve, Watch). The core sees one interface either way.
 *
 * The LISP socket is bound to the control WireGuard interface (it hears only what the tunnel
 * decrypted, so only the Map-Server) and re-opened when that interface is re-created. The gRPC
 * channel is a TCP connection to the Map-Server's control address, routed into the tunnel.
 */
import type { MappingRecord } from '../lisp/index.js';
import { ControlClient, type DropReason, type MappingEvent, type Resolution, type WithdrawnEvent } from '../control/client.js';
import type { GrpcControlClient } from '../grpc/client.js';
import type { WgDevice } from '../wg/types.js';
import type { Logger } from '../util/log.js';
import type { AgentConfig } from './config.js';
import type { EventLog } from './events.js';
import { renewMapServerSession } from './site.js';

export interface MappingSource {
  /** The channel resolutions travel on. */
  readonly channel: 'lisp' | 'grpc';
  /** Registers the records (again at once when called again, then refreshed); resolves on the Map-Notify. */
  register(records: MappingRecord[]): Promise<void>;
  /** A route appeared during an unanswered registration: send the Map-Register again now. */
  hurryRegistration(): void;
  /** One request for the mapping of `eid` (an address), no retransmission; rejects when unanswered within `timeoutMs`. */
  resolve(eid: string, opts: { iid: number; sourceEid?: string; timeoutMs: number; attempt: number }): Promise<Resolution>;
  /** Control packets dropped, by reason. */
  readonly drops: Readonly<Record<string, number>>;
  /** The Map-Servers (by control address): which one Map-Requests go to first, when each last acknowledged our registration. */
  servers(): Array<{ address: string; preferred: boolean; lastNotifyAgoMs?: number }>;
  close(): Promise<void>;
}

export interface MappingSourceHooks {
  /** Pushed mappings and withdrawals; the Ack goes back when the promise resolves (bounded by the client). */
  push(events: Array<MappingEvent | WithdrawnEvent>): Promise<void>;
  /** The Map-Server acknowledged our registration (at performance.now() `t`). */
  registered(t: number): void;
  count(what: string): void;
}

const REJECTED: ReadonlySet<DropReason> = new Set(['bad-hmac', 'wrong-source', 'wrong-key-id', 'replayed', 'stale', 'future']);
const round = (v: number) => Math.round(v * 1000) / 1000;
/** A Map-Server's WireGuard session is renewed at most this often (a handshake each time). */
const RENEW_MIN_MS = 2000;

/**
 * The mapping source of an agent config: the LISP control client (its registrations and dropped
 * packets go to the event log and the counters) and, with `control-channel: grpc`, the gRPC
 * client (loaded only then: grpc-js is not small).
 */
export async function openMappingSource(config: AgentConfig, log: Logger, events: EventLog, hooks: MappingSourceHooks, tunnel?: WgDevice): Promise<MappingSource> {
  const client = await ControlClient.open({
    mapServer: { address: config.mapServer.controlAddress },
    replicas: config.mapServer.replicas.map((r) => ({ address: r.controlAddress })),
    localAddress: config.control.address.address,
    device: config.control.interface,
    nonceFreshnessMs: config.timers.nonceFreshnessMs,
    site: { key: config.mapServer.sharedKey, keyId: config.mapServer.keyId },
    registerIntervalMs: config.timers.registerRefreshMs,
    registerRetryMs: config.timers.registerRetryMs,
    onPush: hooks.push,
    logger: log.child({ component: 'control-client' }),
  });
  client.on('registered', (e) => {
    hooks.registered(e.t);
    events.emit('registered', { rttMs: round(e.rttMs), attempts: e.attempts }, e.t);
  });
  // wireguard-go restarted: its new interface has a new index, which the old socket is not bound to
  tunnel?.onRestart(() => client.reopen().catch((e: unknown) => log.error('cannot re-open the control socket', { error: (e as Error).message })));
  // a Map-Server that left us unanswered may have restarted and lost our WireGuard session: start a new one (at most every RENEW_MIN_MS each)
  const renewed = new Map<string, number>();
  client.on('silent', (e) => {
    if (!tunnel || performance.now() - (renewed.get(e.server.address) ?? -Infinity) < RENEW_MIN_MS) return;
    renewed.set(e.server.address, performance.now());
    renewMapServerSession(tunnel, config, e.server.address, e.sentAt)
      .then((r) => {
        log.debug('a Map-Server left a control message unanswered', { server: e.server.address, session: r, sentAt: new Date(e.sentAt).toISOString() });
        if (r !== 'renewed') return;
        hooks.count('control-session-renewed');
        client.resendTo(e.server.address);
      })
      .catch((err: unknown) => log.warn('cannot renew the WireGuard session with a Map-Server', { server: e.server.address, error: (err as Error).message }));
  });
  client.on('register-timeout', (e) => log.warn('no Map-Notify from the Map-Server yet: still trying', { attempts: e.attempts }));
  client.on('drop', (e) => {
    hooks.count(`control-drop-${e.reason}`);
    // what an attacker would try (a forged, replayed or misdirected packet); not noise such as a late reply
    if (REJECTED.has(e.reason)) events.emit('map-notify-rejected', { from: e.from.address, reason: e.reason }, e.t);
  });
  let grpc: GrpcControlClient | undefined;
  if (config.controlChannel.protocol === 'grpc') {
    const { GrpcControlClient, pushedMappingEvent } = await import('../grpc/client.js');
    const server = { address: config.mapServer.controlAddress, port: config.controlChannel.grpcPort };
    grpc = new GrpcControlClient({ server, log });
    grpc.watch(async (record) => {
      const e = pushedMappingEvent(record, server);
      if (e) await hooks.push([e]);
    });
  }
  return {
    channel: grpc ? 'grpc' : 'lisp',
    drops: client.drops,
    servers: () => client.mapServers,
    register: async (records) => {
      await client.register(records);
    },
    hurryRegistration: () => client.hurryRegistration(),
    resolve: (eid, o) =>
      grpc
        ? grpc.resolve(eid, { instanceId: o.iid, ...(o.sourceEid ? { sourceEid: o.sourceEid } : {}) }).then((res) => ({ ...res, nonce: 0n, attempts: 1, elapsedMs: res.rttMs }))
        : client.resolve(eid, { iid: o.iid, ...(o.sourceEid ? { sourceEid: o.sourceEid } : {}), retries: 0, timeoutMs: o.timeoutMs, attempt: o.attempt }),
    close: async () => {
      grpc?.close();
      await client.close();
    },
  };
}
