/**
 * `lispwg ms`: run the Map-Server / Map-Resolver; `lispwg ms show` and `lispwg ms reload` talk to
 * a running one through its admin socket.
 */
import { parseArgs } from 'node:util';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { LispwgError } from '../util/errors.js';
import { parseDuration } from '../util/config-file.js';
import { createLogger, type Level } from '../util/log.js';
import { defaultConfig, loadConfig, parseSiteFlag, withSites, PUSH_ORDERS, type MsConfig, type PushOrder } from '../ms/config.js';
import { adminRequest, defaultAdminSocket } from '../ms/admin.js';
import { runMapServer } from '../ms/daemon.js';
import { parseListenAddress } from '../metrics/http.js';
import type { MsSnapshot } from '../ms/server.js';

const USAGE = `usage:
  lispwg ms [--config FILE] [--listen ADDR]... [--port N] [--site SPEC]... [options]
  lispwg ms show [--admin PATH | --listen ADDR --port N] [--json] [--limit N]
  lispwg ms reload [--admin PATH | --listen ADDR --port N]

Runs the Map-Server / Map-Resolver (UDP 4342): stores each site's EID prefixes, RLOCs and
WireGuard key, answers Map-Requests, pushes the requester's key to the destination.

  --config FILE            YAML configuration (see src/ms/config.ts); flags override it
  --listen ADDR            underlay address to listen on (repeatable; default 0.0.0.0 and ::
                           without a control tunnel, none with one: the control address,
                           bound to the tunnel's interface, is always listened on)
  --port N                 UDP port (default 4342)
  --site SPEC              a site: name=S,key-file=PATH[,key-id=1|2],prefix=P[,prefix=P2][,iid=N]
                           [,ams=yes][,wg-key=BASE64] (repeatable; ams = accept more-specifics;
                           PATH holds the shared key, mode 0600; an inline key=K works, with a
                           warning: every local user can read it in /proc/PID/cmdline)
  --admin PATH             admin socket (default /run/lispwg/ms-<listen>-<port>.sock; for
                           'ms show|reload' in a lab node, $LISPWG_RUN_DIR/ms.sock)
  --registration-ttl D     how long a registration lives unrefreshed (default 180s)
  --push-order O           push-then-reply | reply-then-push | parallel | off
  --push-wait D            how long a reply waits for the push's Map-Notify-Ack (default 10ms)
  --rate-limit R           packets per second per source (0: off; default 1000)
  --metrics-listen A:P     serve Prometheus metrics at http://A:P/metrics (IPv6: [ADDR]:PORT;
                           YAML: metrics-listen; off by default)
  --grpc-port N            also serve resolution over gRPC (the control-channel baseline) on
                           this TCP port of the control address (src/grpc; 4343 is usual;
                           YAML: grpc-port)
  --log-level L            debug | info | warn | error
  --json                   (show) print JSON
  --limit N                (show) list at most N registrations (default 100)
  -h, --help               this text

Durations (D) carry their unit, as in the file: 500us, 250ms, 10s, 5m, 1h.

SIGHUP (or 'lispwg ms reload') re-reads the config file: removed sites, prefixes and WireGuard
keys are withdrawn at once and their subscribers notified.`;

export async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string' },
      listen: { type: 'string', multiple: true },
      port: { type: 'string' },
      site: { type: 'string', multiple: true },
      admin: { type: 'string' },
      'registration-ttl': { type: 'string' },
      'push-order': { type: 'string' },
      'push-wait': { type: 'string' },
      'push-wait-ms': { type: 'string' }, // deprecated: --push-wait
      'rate-limit': { type: 'string' },
      'grpc-port': { type: 'string' },
      'metrics-listen': { type: 'string' },
      'log-level': { type: 'string' },
      json: { type: 'boolean', default: false },
      limit: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const [verb, ...extra] = positionals;
  if (extra.length || (verb && verb !== 'show' && verb !== 'reload')) {
    process.stderr.write(`lispwg ms: unexpected '${positionals.join(' ')}'\n\n${USAGE}\n`);
    return 1;
  }
  const num = (name: string, v: string | undefined, min: number, max: number): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n) || n < min || n > max) throw new LispwgError('BAD_FLAG', `--${name} must be a number in ${min}..${max}, got '${v}'`);
    return n;
  };
  /** A duration flag in ms; `legacy`: the unit a bare number had, accepted with a warning for one release. */
  const dur = (name: string, v: string | undefined, max: number, legacy?: { unit: string; flag?: string }): number | undefined => {
    if (v === undefined) return undefined;
    let text = v;
    if (legacy && /^\d+(\.\d+)?$/.test(v.trim())) {
      text = `${v.trim()}${legacy.unit}`;
      process.stderr.write(`warning: --${legacy.flag ?? name} ${v} is deprecated: write --${name} ${text} (the old spelling goes in the next release)\n`);
    }
    const ms = parseDuration(text);
    if (typeof ms === 'string') throw new LispwgError('BAD_FLAG', `--${name}: ${ms}`);
    if (ms <= 0 && name === 'registration-ttl') throw new LispwgError('BAD_FLAG', `--${name} must be longer than 0`);
    if (ms > max) throw new LispwgError('BAD_FLAG', `--${name} must be at most ${max / 1000}s, got '${v}'`);
    return ms;
  };
  const port = num('port', values.port, 0, 65535);
  for (const a of values.listen ?? []) if (!isIP(a)) throw new LispwgError('BAD_FLAG', `--listen '${a}' is not an IP address`);
  const runDir = process.env.LISPWG_RUN_DIR;
  const adminPath = () => values.admin ?? (runDir && !values.listen && port === undefined ? join(runDir, 'ms.sock') : defaultAdminSocket(values.listen?.[0] ?? '0.0.0.0', port ?? 4342));

  if (verb === 'show') {
    const data = (await adminRequest(adminPath(), { cmd: 'show', limit: num('limit', values.limit, 0, 10_000_000) ?? 100 })) as MsSnapshot;
    process.stdout.write(values.json ? JSON.stringify(data) + '\n' : formatShow(data));
    return 0;
  }
  if (verb === 'reload') {
    const data = await adminRequest(adminPath(), { cmd: 'reload' });
    process.stdout.write(JSON.stringify(data) + '\n');
    return 0;
  }

  let config: MsConfig = values.config ? await loadConfig(values.config) : defaultConfig();
  if (values.listen?.length) config = { ...config, listen: values.listen, listenDefault: false };
  if (port !== undefined) config = { ...config, port };
  const ttl = dur('registration-ttl', values['registration-ttl'], 86_400_000, { unit: 's' });
  if (ttl !== undefined) config = { ...config, registrationTtl: ttl / 1000 };
  if (values['push-order'] !== undefined) {
    if (!PUSH_ORDERS.includes(values['push-order'] as PushOrder)) throw new LispwgError('BAD_FLAG', `--push-order must be one of ${PUSH_ORDERS.join(', ')}`);
    config = { ...config, push: { ...config.push, order: values['push-order'] as PushOrder } };
  }
  if (values['push-wait'] !== undefined && values['push-wait-ms'] !== undefined) throw new LispwgError('BAD_FLAG', 'give --push-wait only (--push-wait-ms is its old spelling)');
  const wait = dur('push-wait', values['push-wait'] ?? values['push-wait-ms'], 10_000, values['push-wait-ms'] !== undefined ? { unit: 'ms', flag: 'push-wait-ms' } : undefined);
  if (wait !== undefined) config = { ...config, push: { ...config.push, waitMs: wait } };
  const rate = num('rate-limit', values['rate-limit'], 0, 1e9);
  if (rate !== undefined) config = { ...config, rateLimit: { ...config.rateLimit, rate, burst: Math.max(config.rateLimit.burst, rate * 2) } };
  if (values.site?.length) config = withSites(config, values.site.map((s) => parseSiteFlag(s, (m) => process.stderr.write(`warning: ${m}\n`))));
  if (!config.sites.length && !config.static.length) {
    throw new LispwgError('NO_SITES', 'the Map-Server has no sites: give --config FILE or --site name=S,key-file=PATH,prefix=P');
  }
  const level = values['log-level'] as Level | undefined;
  if (level && !['debug', 'info', 'warn', 'error'].includes(level)) throw new LispwgError('BAD_FLAG', `--log-level must be debug, info, warn or error`);
  const logger = createLogger({ component: 'ms' }, level ? { level } : {});
  const grpcPort = num('grpc-port', values['grpc-port'], 1, 65535) ?? config.grpcPort;
  const metricsListen = values['metrics-listen'] !== undefined ? parseListenAddress(values['metrics-listen'], '--metrics-listen') : undefined;
  const running = await runMapServer(config, { ...(values.admin ? { adminSocket: values.admin } : {}), ...(metricsListen ? { metricsListen } : {}), logger, handleSignals: true });
  // loaded only when asked for (grpc-js is not small); stops with the process
  if (grpcPort !== undefined) await (await import('../grpc/ms-front.js')).startGrpcFront(running.server, config, { port: grpcPort, log: logger });
  // runs until SIGINT/SIGTERM
  await new Promise<never>(() => undefined);
  return 0;
}

function formatShow(s: MsSnapshot): string {
  const out: string[] = [];
  out.push(`map-server: ${s.listen.join(', ')}  up ${s.uptimeSeconds}s  push ${s.pushOrder}${s.config ? `  config ${s.config}` : ''}`);
  out.push(`  registrations ${s.registrationCount}/${s.registrationLimit} (plain sites at ${s.plainSiteAddresses} addresses)  subscriptions ${s.subscriptions}/${s.subscriptionLimit}  pending notifies ${s.pendingNotifies}`);
  out.push(`  rate-limit buckets: ${s.rateLimiter.siteSources} site addresses, ${s.rateLimiter.strangerSources}/${s.rateLimiter.tableSize} other sources  heap ${Math.round(s.heapUsedBytes / 2 ** 20)} MiB`);
  out.push('');
  out.push('sites:');
  for (const site of s.sites) {
    out.push(`  ${site.name}  key-id ${site.keyId}  ${site.prefixes.join(' ')}  registered ${site.registrations}/${site.maxRegistrations}${site.xtrs.length ? `  xtrs ${site.xtrs.join(' ')}` : ''}`);
  }
  out.push('');
  out.push(`registrations${s.registrations.length < s.registrationCount ? ` (first ${s.registrations.length} of ${s.registrationCount})` : ''}:`);
  for (const r of s.registrations) {
    out.push(`  ${r.prefix}  ${r.site ?? '(static)'}  ttl ${r.ttlMinutes}m  age ${r.ageSeconds}s  ${r.expiresInSeconds === null ? 'static' : `expires in ${r.expiresInSeconds}s`}${r.source ? `  from ${r.source}` : ''}`);
    if (r.wireguardKey) out.push(`      key ${r.wireguardKey}`);
    for (const l of r.rlocs) out.push(`      rloc ${l.address}  priority ${l.priority} weight ${l.weight}`);
  }
  out.push('');
  out.push('latency (us, datagram in -> reply sent):');
  for (const [name, h] of Object.entries(s.latencyMicroseconds)) {
    if (h.count) out.push(`  ${name.padEnd(17)} n=${h.count}  median ${h.median}  p90 ${h.p90}  p99 ${h.p99}  max ${h.max}`);
  }
  out.push('');
  out.push('counters:');
  const nonZero = Object.entries(s.counters).filter(([, v]) => v);
  for (const [k, v] of nonZero) out.push(`  ${k.padEnd(28)} ${v}`);
  return out.join('\n') + '\n';
}
