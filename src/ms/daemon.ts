/**
 * The `lispwg ms` daemon: the control tunnel (when configured), the MapServer, the admin socket,
 * the metrics listener (when configured), and the signals (SIGHUP reloads the config file; SIGINT/SIGTERM stop cleanly).
 */
import { rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { familyBits, parseIp } from '../ip/ip.js';
import { Rtnetlink } from '../net/rtnetlink.js';
import { openWireGuard, type WgDevice } from '../wg/wireguard.js';
import { loadPrivateKey, parseKey, keyToBase64 } from '../wg/keys.js';
import { LispwgError } from '../util/errors.js';
import { createLogger, type Logger } from '../util/log.js';
import { AdminServer, answers, defaultAdminSocket } from './admin.js';
import { loadConfig, type MsConfig } from './config.js';
import { MapServer } from './server.js';
import { EmbeddedStore, MemoryStore, type RegistrationStore } from './store.js';
import { TunnelEndpoints } from './tunnel-endpoints.js';
// the etcd client (gRPC, protobufjs) is loaded only where configured: it is most of a lone Map-Server's start-up
import { MetricsListener, type ListenAddress } from '../metrics/http.js';
import { writeMsMetrics } from './metrics.js';

export interface RunningMapServer {
  server: MapServer;
  admin: AdminServer;
  /** The Prometheus listener (`metrics-listen`), when configured. */
  metrics: MetricsListener | undefined;
  tunnel: WgDevice | undefined;
  /** Re-reads the config file and applies it (what SIGHUP does). */
  reload(): Promise<unknown>;
  stop(): Promise<void>;
}

/** The control-tunnel peers a config asks for: each xTR's key, its control address as allowed IP. */
function tunnelPeers(config: MsConfig): Map<string, string[]> {
  const peers = new Map<string, string[]>();
  for (const site of config.sites) {
    for (const x of site.xtrs) {
      const list = peers.get(x.publicKey) ?? [];
      list.push(`${x.controlAddress}/${familyBits(parseIp(x.controlAddress, 'control address').family)}`);
      peers.set(x.publicKey, list);
    }
  }
  return peers;
}

async function syncTunnelPeers(dev: WgDevice, config: MsConfig): Promise<void> {
  const wanted = tunnelPeers(config);
  for (const p of await dev.peers()) {
    if (!wanted.has(keyToBase64(p.publicKey))) await dev.removePeer(p.publicKey);
  }
  for (const [key, allowedIps] of wanted) await dev.setPeer({ publicKey: parseKey(key), allowedIps, replaceAllowedIps: true });
}

/**
 * A Map-Server that crashed (SIGKILL, with the kernel backend) leaves its control interface
 * behind, and creating it again fails (NLM_F_EXCL). The configured name is this Map-Server's
 * (no other runs: its admin socket was checked first), so a link of that name is a leftover:
 * removed, with wireguard-go's stale UAPI socket. Any other interface is left alone.
 */
function removeLeftoverInterface(name: string, log: Logger): void {
  const rt = Rtnetlink.open();
  try {
    const link = rt.link(name);
    if (!link) return;
    log.warn('removing the control interface a previous run left behind', { interface: name, index: link.index });
    rt.deleteLink(link.index);
  } finally {
    rt.close();
  }
  rmSync(`/var/run/wireguard/${name}.sock`, { force: true });
}

async function openControlTunnel(config: MsConfig, log: Logger): Promise<WgDevice | undefined> {
  const t = config.controlTunnel;
  if (!t) return undefined;
  removeLeftoverInterface(t.interface, log);
  const privateKey = t.privateKey ? parseKey(t.privateKey, 'control-tunnel.private-key') : await loadPrivateKey(t.privateKeyFile!);
  const dev = await openWireGuard({ name: t.interface, privateKey, listenPort: t.listenPort, addresses: [t.address], log });
  try {
    await syncTunnelPeers(dev, config);
  } catch (e) {
    await dev.close();
    throw e;
  }
  log.info('control tunnel up', { interface: t.interface, backend: dev.backend, address: t.address, listenPort: t.listenPort, peers: tunnelPeers(config).size });
  return dev;
}

/** The embedded store's journal by default: next to the admin socket, named after it. */
function defaultStorePath(adminSocket: string): string {
  return join(dirname(adminSocket), `${basename(adminSocket, '.sock')}.db`);
}

/** Starts everything; resolves once the Map-Server listens. */
/** `metricsListen` overrides the config's `metrics-listen` (the --metrics-listen flag). */
export async function runMapServer(config: MsConfig, opts: { adminSocket?: string; metricsListen?: ListenAddress; logger?: Logger; handleSignals?: boolean } = {}): Promise<RunningMapServer> {
  const log = opts.logger ?? createLogger({ component: 'ms' });
  const path = opts.adminSocket ?? config.adminSocket ?? defaultAdminSocket(config.listen[0] ?? '0.0.0.0', config.port);
  // before the control interface is touched: a live Map-Server's is not a leftover
  if (await answers(path)) throw new LispwgError('ADMIN_SOCKET_BUSY', `another daemon answers on the admin socket ${path}: give this one --admin PATH`);
  const tunnel = await openControlTunnel(config, log);
  // the sites' ends of the tunnel, as they were: a restarted Map-Server reaches them at once
  const endpoints = tunnel && new TunnelEndpoints(join(dirname(path), `${basename(path, '.sock')}.endpoints.json`), tunnel, log);
  await endpoints?.restore().catch((e: unknown) => log.warn('cannot put the control-tunnel endpoints back', { error: (e as Error).message }));
  endpoints?.track();
  let server: MapServer;
  let store: RegistrationStore;
  try {
    const source = () => server.storeSource();
    store =
      config.store.kind === 'memory'
        ? new MemoryStore()
        : config.store.kind === 'etcd'
          ? await (await import('./etcd-store.js')).EtcdStore.open(config.store.etcd!, source, log)
          : new EmbeddedStore(config.store.path ?? defaultStorePath(path), config.store.fsyncMs, source, log);
    server = new MapServer(config, { logger: log, store });
  } catch (e) {
    await endpoints?.close();
    await tunnel?.close();
    throw e;
  }
  let admin: AdminServer | undefined;
  let metrics: MetricsListener | undefined;
  const metricsAt = opts.metricsListen ?? config.metricsListen;
  try {
    await server.start();
    if (metricsAt) metrics = await MetricsListener.listen(metricsAt, (w) => writeMsMetrics(w, server), { prefix: 'lispwg_ms', log });
    admin = await AdminServer.listen(path, async (req) => (req.cmd === 'show' ? server.snapshot(req.limit) : reload()));
  } catch (e) {
    await metrics?.close();
    await server.close();
    await endpoints?.close();
    await tunnel?.close();
    throw e;
  }
  log.info('admin socket', { path: admin.path });
  if (metrics) log.info('metrics listening', { url: metrics.url });

  let current = config;
  const reload = async () => {
    if (!current.file) throw new LispwgError('RELOAD_NO_FILE', 'this Map-Server was started from flags, not from a config file: there is nothing to reload');
    const next = await loadConfig(current.file);
    if (tunnel) await syncTunnelPeers(tunnel, next);
    const r = server.reload(next);
    current = next;
    return r;
  };

  const onHup = () => {
    reload().catch((e: Error) => log.error('reload failed, the previous configuration stays', { error: e.message }));
  };
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      process.off('SIGHUP', onHup);
      await metrics?.close();
      await admin!.close();
      await server.close();
      await endpoints?.close();
      await tunnel?.close();
      log.info('map-server stopped');
    })());
  if (opts.handleSignals) {
    process.on('SIGHUP', onHup);
    const onTerm = () => {
      void stop().then(() => process.exit(0));
    };
    process.once('SIGINT', onTerm);
    process.once('SIGTERM', onTerm);
  }
  return { server, admin, metrics, tunnel, reload, stop };
}
