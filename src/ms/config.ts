/**
 * The Map-Server's configuration: a YAML file (read by src/util/config-file.ts: kebab-case keys,
 * durations with their unit, every error naming the file, line, column and key), or flags alone
 * for quick use (`--listen`, `--site name=S,key=K,...`).
 *
 * ```yaml
 * listen: [0.0.0.0, "::"]          # underlay addresses to bind (UDP port `port`, default 4342);
 *                                   # default: none with a control-tunnel, else 0.0.0.0 and ::
 * public-resolution: true           # answer Map-Requests from senders that are no site's xTR
 * replay-window: 60s                # plain sites' timestamp nonces: this close to our clock
 * admin-socket: /run/lispwg/ms.sock
 * metrics-listen: 100.100.0.1:9142  # optional: Prometheus metrics, GET /metrics (IPv6: "[::1]:9142"); off by default
 * registration-ttl: 180s            # 3 x the xTRs' 60-s refresh, as OOR
 * negative-ttl: 15m                 # record TTL of negative replies outside every site (whole minutes)
 * unregistered-ttl: 1m              # ... inside a site with nothing registered there
 * push: { order: push-then-reply, wait: 10ms, retries: 3, retry: 200ms }
 * subscriptions: { enabled: true, max: 100000, retries: 3, retry: 500ms, max-ttl: 24h }  # full: the least recently renewed is evicted
 * rate-limit:                       # packets per second; rate 0 = off
 *   rate: 1000                      # per source address (each site address has its own bucket)
 *   burst: 2000
 *   table-size: 65536               # stranger (non-site) sources remembered
 *   strangers: { rate: 10000, burst: 20000 }  # one bucket shared by every non-site source
 * limits: { registrations: 2000000 }  # registrations held at most (all sites and static)
 * store:                            # where registrations and key bindings outlive a restart
 *   kind: embedded                  # embedded (a journal file, nothing to install) | memory
 *   path: /var/lib/lispwg/ms.db     # default: next to the admin socket (ms-ADDR-PORT.db)
 *   fsync: 1s                       # fdatasync interval of the journal; 0s: after every write
 *   # kind: etcd                    # replicas sharing one etcd cluster (src/ms/etcd-store.ts):
 *   # endpoints: [http://10.0.0.1:2379, http://10.0.0.2:2379, http://10.0.0.3:2379]
 *   # prefix: /lispwg/ms/           # every key of this Map-Server cluster starts with it
 *   # timeout: 2s                   # deadline of each etcd call
 *   # queue: 1000000                # writes waiting for etcd at most (then counted, written again later)
 * grpc-port: 4343                   # optional: also resolve over gRPC (the control-channel baseline)
 * control-tunnel:                   # the static WireGuard tunnel the xTRs reach us through;
 *                                   # with it, the server also listens on its control address,
 *                                   # bound to this interface (it hears only what came through)
 *   interface: lwgms0
 *   private-key-file: /etc/lispwg/ms.key
 *   listen-port: 51820
 *   address: 100.100.0.1/16
 * sites:
 *   - name: site-a
 *     key-file: site-a.key           # Map-Register / Map-Notify HMAC key (UTF-8, as OOR), in a
 *                                    # 0600 file (or `key:` inline, in this file)
 *     key-id: 1                      # 1 HMAC-SHA-1-96 (20-byte digest, as OOR), 2 HMAC-SHA-256-128
 *     max-registrations: 1000        # prefixes this site may hold registered at once
 *     prefixes:
 *       - { prefix: 198.18.1.0/24, iid: 0, accept-more-specifics: true }
 *     # - { prefix: 198.18.2.0/24, delegated-by: site-0 }   # inside site-0's prefix, by its leave
 *     replay-protection: timestamp   # sites without xtrs: timestamp (lispwg) | nonce-cache (OOR)
 *     wireguard-keys: [ "base64..." ]  # optional: the only WireGuard keys this site may register
 *     xtrs:                          # its xTRs on the control tunnel
 *       - { public-key: "base64...", control-address: 100.100.0.2 }
 * static:                            # as OOR's ms-static-registered-site
 *   - prefix: 198.18.9.0/24
 *     key: "base64..."               # WireGuard public key (optional)
 *     ttl: 24h                       # record TTL (whole minutes)
 *     rlocs: [ { address: 198.19.0.9, priority: 1, weight: 100 } ]
 * ```
 *
 * Deprecated (accepted with a warning until the next release): `push.wait-ms` and `retry-ms`
 * (now `wait`, `retry`), and bare numbers for the durations (`registration-ttl: 180` meant
 * seconds; `negative-ttl`, `unregistered-ttl`, `max-ttl` and a static `ttl` meant minutes).
 */
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, join } from 'node:path';
import { isIP } from 'node:net';
import { z } from 'zod';
import { LispwgError } from '../util/errors.js';
import { checkConfig, durationField, pathText, readConfigText, type ConfigWarning, type Deprecation } from '../util/config-file.js';
import { eidPrefixContains, formatEidPrefix, parseEidPrefix, type EidPrefix } from '../mapping/eid.js';
import { parseKey } from '../wg/keys.js';
import { MappingDatabase } from '../mapping/database.js';
import { readSecretFile } from '../util/secret-file.js';
import type { RateLimitConfig } from './rate-limit.js';
import type { StoreConfig } from './store.js';
import { listenAddressField, type ListenAddress } from '../metrics/http.js';

export type PushOrder = 'push-then-reply' | 'reply-then-push' | 'parallel' | 'off';
export const PUSH_ORDERS: readonly PushOrder[] = ['push-then-reply', 'reply-then-push', 'parallel', 'off'];

export interface SitePrefixConfig {
  prefix: EidPrefix;
  acceptMoreSpecifics: boolean;
  /** The site whose prefix this one lies in, which gave it away (prefixes of two sites may nest only so). */
  delegatedBy?: string;
}

/**
 * How Map-Registers of a site without a control tunnel are protected against replay (a tunnel
 * site has WireGuard's). `timestamp`: the nonce carries the sender's clock (src/lisp/nonce.ts, as
 * lispwg's xTRs send it) and must be fresh and new. `nonce-cache`: for xTRs with random nonces
 * (OOR): a nonce seen in the site's last `NONCE_CACHE` Map-Registers is refused.
 */
export type ReplayProtection = 'timestamp' | 'nonce-cache';

export interface XtrConfig {
  /** WireGuard public key of the xTR's control interface (base64). */
  publicKey: string;
  /** Its address inside the control tunnel (100.100.0.0/16). */
  controlAddress: string;
}

export interface SiteConfig {
  name: string;
  /** Shared secret of Map-Register / Map-Notify (its UTF-8 bytes key the HMAC). */
  key: string;
  keyId: 1 | 2;
  prefixes: SitePrefixConfig[];
  /** Registrations the site may hold at once (refreshes always pass). */
  maxRegistrations: number;
  /** When set, the only WireGuard public keys (base64) this site may register. */
  wireguardKeys?: string[];
  xtrs: XtrConfig[];
  replayProtection: ReplayProtection;
}

export interface RlocConfig {
  address: string;
  priority: number;
  weight: number;
}

export interface StaticMappingConfig {
  prefix: EidPrefix;
  /** WireGuard public key (base64), when the record carries one. */
  key?: string;
  /** Record TTL in minutes. */
  ttl: number;
  rlocs: RlocConfig[];
}

export interface ControlTunnelConfig {
  interface: string;
  privateKey?: string;
  privateKeyFile?: string;
  listenPort: number;
  /** The Map-Server's control address with its prefix length (e.g. 100.100.0.1/16). */
  address: string;
}

/** A socket bound to one interface: only datagrams that arrived on it (through the tunnel) are read. */
export interface ControlListener {
  address: string;
  device: string;
}

export interface MsConfig {
  /** The file this came from (for reload), when any. */
  file?: string;
  /** Underlay addresses: what arrives there is trusted only as far as its HMAC goes. */
  listen: string[];
  /** The control address inside the tunnel (from `control-tunnel`): the only trusted socket. */
  controlListen?: ControlListener;
  /** Answer Map-Requests of senders that are no site's xTR (no push, no subscription, <= 1x their bytes). */
  publicResolution: boolean;
  /** A `timestamp` Map-Register's nonce must carry a time this close to ours (replay.ts). */
  replayWindowMs: number;
  /** True when `listen` was not given: a failure to bind '::' is then only a warning. */
  listenDefault: boolean;
  port: number;
  adminSocket?: string;
  /** Where Prometheus metrics are served (src/ms/metrics.ts); none when absent. */
  metricsListen?: ListenAddress;
  /** Seconds a registration lives without a refresh. */
  registrationTtl: number;
  /** Record TTL (minutes) of negative replies for EIDs outside every site. */
  negativeTtl: number;
  /** Record TTL (minutes) of negative replies for EIDs inside a site with nothing registered there. */
  unregisteredTtl: number;
  push: { order: PushOrder; waitMs: number; retries: number; retryMs: number };
  subscriptions: { enabled: boolean; max: number; retries: number; retryMs: number; maxTtl: number };
  rateLimit: RateLimitConfig;
  /** Registrations held at most, all sites and static mappings together. */
  limits: { registrations: number };
  /** The registration store (store.ts). */
  store: StoreConfig;
  /** Also serve resolution over gRPC on this TCP port of the control address (src/grpc). */
  grpcPort?: number;
  sites: SiteConfig[];
  static: StaticMappingConfig[];
  controlTunnel?: ControlTunnelConfig;
}

// ---------------------------------------------------------------------------------------------
// Schema (kebab-case keys, as in the file)

const custom = (ctx: z.RefinementCtx, message: string) => {
  ctx.addIssue({ code: 'custom', message });
  return z.NEVER;
};

const eidPrefix = z.string().transform((v, ctx) => {
  try {
    return parseEidPrefix(v);
  } catch (e) {
    return custom(ctx, (e as Error).message);
  }
});

const wgKey = z.string().transform((v, ctx) => {
  try {
    parseKey(v);
    return v.trim();
  } catch (e) {
    return custom(ctx, (e as Error).message);
  }
});

const ipAddress = z.string().refine((v) => isIP(v) !== 0, { message: 'not an IPv4 or IPv6 address' });
const uint = (max: number) => z.number().int().min(0).max(max);
/** A record TTL: whole minutes on the wire (RFC 9301), in minutes here. */
const recordTtl = (max: number) => durationField({ whole: 'm', max: max * 60_000 }).transform((ms) => ms / 60_000);

const prefixSchema = z
  .strictObject({
    prefix: eidPrefix,
    iid: uint(0xffffff).optional(),
    'accept-more-specifics': z.boolean().default(false),
    'delegated-by': z.string().optional(),
  })
  .transform((p): SitePrefixConfig => ({
    prefix: p.iid !== undefined && p.prefix.iid === 0 ? { ...p.prefix, iid: p.iid } : p.prefix,
    acceptMoreSpecifics: p['accept-more-specifics'],
    ...(p['delegated-by'] !== undefined ? { delegatedBy: p['delegated-by'] } : {}),
  }));

/** A site's default `max-registrations`. */
export const DEFAULT_SITE_REGISTRATIONS = 1000;

const siteSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'a site name is 1-64 letters, digits, ".", "_" or "-"'),
  key: z.string().min(1, 'the shared key is empty').optional(),
  'key-file': z.string().min(1).optional(),
  'key-id': z.union([z.literal(1), z.literal(2)]).default(1),
  prefixes: z
    .array(z.preprocess((v) => (typeof v === 'string' ? { prefix: v } : v), prefixSchema)) // a bare string is { prefix }
    .min(1, 'a site needs at least one EID prefix'),
  'max-registrations': uint(100_000_000).min(1).default(DEFAULT_SITE_REGISTRATIONS),
  'wireguard-keys': z.array(wgKey).optional(),
  xtrs: z.array(z.strictObject({ 'public-key': wgKey, 'control-address': ipAddress })).default([]),
  'replay-protection': z.enum(['timestamp', 'nonce-cache']).default('timestamp'),
}).refine((s) => (s.key === undefined) !== (s['key-file'] === undefined), { message: 'give exactly one of key and key-file' });

const staticSchema = z.strictObject({
  prefix: eidPrefix,
  iid: uint(0xffffff).optional(),
  key: wgKey.optional(),
  ttl: recordTtl(0xffffffff).default(1440),
  rlocs: z.array(z.strictObject({ address: ipAddress, priority: uint(255).default(1), weight: uint(255).default(100) })).min(1, 'a static mapping needs at least one RLOC'),
});

const fileSchema = z.strictObject({
  listen: z.union([z.string(), z.array(z.string())]).optional(),
  'public-resolution': z.boolean().default(true),
  'replay-window': durationField({ positive: true, max: 3_600_000 }).default(60_000),
  port: uint(65535).default(4342),
  'admin-socket': z.string().optional(),
  'metrics-listen': listenAddressField().optional(),
  // seconds
  'registration-ttl': durationField({ positive: true })
    .transform((ms) => ms / 1000)
    .default(180),
  'negative-ttl': recordTtl(0xffffffff).default(15),
  'unregistered-ttl': recordTtl(0xffffffff).default(1),
  push: z
    .strictObject({
      order: z.enum(PUSH_ORDERS as [PushOrder, ...PushOrder[]]).default('push-then-reply'),
      wait: durationField({ max: 10_000 }).default(10),
      retries: uint(20).default(3),
      retry: durationField({ positive: true, max: 60_000 }).default(200),
    })
    .prefault({}),
  subscriptions: z
    .strictObject({
      enabled: z.boolean().default(true),
      max: uint(10_000_000).min(1).default(100_000),
      retries: uint(20).default(3),
      retry: durationField({ positive: true, max: 60_000 }).default(500),
      'max-ttl': durationField({ positive: true })
        .transform((ms) => ms / 60_000)
        .default(1440),
    })
    .prefault({}),
  'rate-limit': z
    .strictObject({
      rate: z.number().min(0).default(1000),
      burst: z.number().min(1).default(2000),
      'table-size': uint(10_000_000).min(1).default(65_536),
      strangers: z
        .strictObject({
          rate: z.number().min(0).default(10_000),
          burst: z.number().min(1).default(20_000),
        })
        .prefault({}),
    })
    .prefault({}),
  limits: z
    .strictObject({
      registrations: uint(100_000_000).min(1).default(2_000_000),
    })
    .prefault({}),
  store: z
    .strictObject({
      kind: z.enum(['embedded', 'memory', 'etcd']).default('embedded'),
      path: z.string().min(1).optional(),
      fsync: durationField({ max: 60_000 }).default(1000),
      endpoints: z.array(z.string().regex(/^https?:\/\/[^/\s]+$/, 'an etcd endpoint is http://HOST:PORT')).min(1).optional(),
      prefix: z.string().regex(/^\/[\x21-\x7e]*\/$/, 'a key prefix starts and ends with /, e.g. /lispwg/ms/').default('/lispwg/ms/'),
      timeout: durationField({ max: 60_000 }).default(2000),
      queue: uint(10_000_000).min(1).default(1_000_000),
    })
    .refine((st) => st.kind !== 'etcd' || st.endpoints !== undefined, { message: 'store kind etcd needs endpoints, e.g. [http://127.0.0.1:2379]' })
    .prefault({}),
  'grpc-port': uint(65535).min(1).optional(),
  'control-tunnel': z
    .strictObject({
      interface: z.string().regex(/^[A-Za-z0-9_.-]{1,15}$/, 'an interface name is 1-15 characters'),
      'private-key': wgKey.optional(),
      'private-key-file': z.string().optional(),
      'listen-port': uint(65535).default(51820),
      address: z.string().regex(/^[0-9.]+\/\d{1,2}$|^[0-9a-fA-F:]+\/\d{1,3}$/, 'expected ADDRESS/PREFIXLEN, e.g. 100.100.0.1/16'),
    })
    .refine((t) => (t['private-key'] === undefined) !== (t['private-key-file'] === undefined), { message: 'give exactly one of private-key and private-key-file' })
    .optional(),
  sites: z.array(siteSchema).default([]),
  static: z.array(staticSchema).default([]),
});

type FileConfig = z.output<typeof fileSchema>;

function fromFile(c: FileConfig, file: string | undefined, siteKey: (i: number, path: string) => string): MsConfig {
  const t = c['control-tunnel'];
  return {
    ...(file ? { file } : {}),
    // the control address is listened on bound to the tunnel: listed under `listen` too, it is that listener
    listen: c.listen === undefined ? (t ? [] : ['0.0.0.0', '::']) : (Array.isArray(c.listen) ? c.listen : [c.listen]).filter((a) => !t || a !== t.address.split('/')[0]),
    listenDefault: c.listen === undefined,
    ...(t ? { controlListen: { address: t.address.split('/')[0]!, device: t.interface } } : {}),
    publicResolution: c['public-resolution'],
    replayWindowMs: c['replay-window'],
    port: c.port,
    ...(c['admin-socket'] ? { adminSocket: c['admin-socket'] } : {}),
    ...(c['metrics-listen'] ? { metricsListen: c['metrics-listen'] } : {}),
    registrationTtl: c['registration-ttl'],
    negativeTtl: c['negative-ttl'],
    unregisteredTtl: c['unregistered-ttl'],
    push: { order: c.push.order, waitMs: c.push.wait, retries: c.push.retries, retryMs: c.push.retry },
    subscriptions: {
      enabled: c.subscriptions.enabled,
      max: c.subscriptions.max,
      retries: c.subscriptions.retries,
      retryMs: c.subscriptions.retry,
      maxTtl: c.subscriptions['max-ttl'],
    },
    rateLimit: {
      rate: c['rate-limit'].rate,
      burst: c['rate-limit'].burst,
      tableSize: c['rate-limit']['table-size'],
      strangers: { rate: c['rate-limit'].strangers.rate, burst: c['rate-limit'].strangers.burst },
    },
    limits: { registrations: c.limits.registrations },
    store: {
      kind: c.store.kind,
      ...(c.store.path ? { path: c.store.path } : {}),
      fsyncMs: c.store.fsync,
      ...(c.store.kind === 'etcd' ? { etcd: { endpoints: c.store.endpoints!, prefix: c.store.prefix, timeoutMs: c.store.timeout, queue: c.store.queue } } : {}),
    },
    ...(c['grpc-port'] !== undefined ? { grpcPort: c['grpc-port'] } : {}),
    sites: c.sites.map((s, i) => ({
      name: s.name,
      key: s.key ?? siteKey(i, s['key-file']!),
      keyId: s['key-id'],
      prefixes: s.prefixes,
      maxRegistrations: s['max-registrations'],
      ...(s['wireguard-keys'] ? { wireguardKeys: s['wireguard-keys'] } : {}),
      xtrs: s.xtrs.map((x) => ({ publicKey: x['public-key'], controlAddress: x['control-address'] })),
      replayProtection: s['replay-protection'],
    })),
    static: c.static.map((s) => ({
      prefix: s.iid !== undefined && s.prefix.iid === 0 ? { ...s.prefix, iid: s.iid } : s.prefix,
      ...(s.key ? { key: s.key } : {}),
      ttl: s.ttl,
      rlocs: s.rlocs.map((r) => ({ address: r.address, priority: r.priority, weight: r.weight })),
    })),
    ...(t
      ? {
          controlTunnel: {
            interface: t.interface,
            ...(t['private-key'] ? { privateKey: t['private-key'] } : {}),
            ...(t['private-key-file'] ? { privateKeyFile: t['private-key-file'] } : {}),
            listenPort: t['listen-port'],
            address: t.address,
          },
        }
      : {}),
  };
}

/**
 * Checks what the schema cannot: unique names; one owner per prefix; prefixes of two sites nest
 * only where the inner one says it was `delegated-by` the site of the closest prefix around it;
 * a WireGuard key listed by one site only; a control address used by one site only.
 * Returns [path, message].
 */
function crossCheck(c: MsConfig): Array<[Array<string | number>, string]> {
  const problems: Array<[Array<string | number>, string]> = [];
  const names = new Map<string, number>();
  const owners = new Map<string, string>();
  const tree = new MappingDatabase<{ site: string; i: number; j: number }>();
  const wgKeys = new Map<string, string>();
  const controls = new Map<string, string>();
  c.sites.forEach((s, i) => {
    if (names.has(s.name)) problems.push([['sites', i, 'name'], `site name '${s.name}' is used twice (also sites[${names.get(s.name)}])`]);
    names.set(s.name, i);
    s.prefixes.forEach((p, j) => {
      const k = formatEidPrefix(p.prefix);
      const other = owners.get(k);
      if (other !== undefined) problems.push([['sites', i, 'prefixes', j], `EID prefix ${k} is configured twice (also in ${other})`]);
      owners.set(k, `site '${s.name}'`);
      tree.set(p.prefix, { site: s.name, i, j });
    });
    (s.wireguardKeys ?? []).forEach((key, j) => {
      const other = wgKeys.get(key);
      if (other !== undefined && other !== s.name) problems.push([['sites', i, 'wireguard-keys', j], `WireGuard key ${key} is listed by site '${other}' too: a key belongs to one site`]);
      wgKeys.set(key, s.name);
    });
    s.xtrs.forEach((x, j) => {
      const other = controls.get(x.controlAddress);
      if (other !== undefined && other !== s.name) problems.push([['sites', i, 'xtrs', j, 'control-address'], `control address ${x.controlAddress} is site '${other}'s too: it names the site its packets speak for`]);
      controls.set(x.controlAddress, s.name);
    });
  });
  c.sites.forEach((s, i) => {
    s.prefixes.forEach((p, j) => {
      const around = p.prefix.maskLen > 0 ? tree.covering({ ...p.prefix, maskLen: p.prefix.maskLen - 1 }) : undefined;
      const k = formatEidPrefix(p.prefix);
      if (p.delegatedBy !== undefined && !names.has(p.delegatedBy)) problems.push([['sites', i, 'prefixes', j, 'delegated-by'], `no site '${p.delegatedBy}'`]);
      else if (around && around.value.site !== s.name && p.delegatedBy !== around.value.site)
        problems.push([['sites', i, 'prefixes', j], `EID prefix ${k} lies inside site '${around.value.site}'s ${formatEidPrefix(around.prefix)}: prefixes of two sites may not overlap unless the inner one says \`delegated-by: ${around.value.site}\``]);
      else if (p.delegatedBy !== undefined && around?.value.site !== p.delegatedBy)
        problems.push([['sites', i, 'prefixes', j, 'delegated-by'], `EID prefix ${k} does not lie inside a prefix of site '${p.delegatedBy}'`]);
    });
  });
  c.static.forEach((s, i) => {
    const k = formatEidPrefix(s.prefix);
    const other = owners.get(k);
    if (other !== undefined) problems.push([['static', i, 'prefix'], `EID prefix ${k} is configured twice (also in ${other})`]);
    owners.set(k, `static[${i}]`);
    const site = c.sites.find((x) => x.prefixes.some((p) => eidPrefixContains(p.prefix, s.prefix)));
    if (site) problems.push([['static', i, 'prefix'], `static mapping ${k} lies inside site '${site.name}'s prefix: give it to the site or move it`]);
  });
  return problems;
}

/** The spellings of before the one config loader, accepted with a warning for one release. */
const DEPRECATED: readonly Deprecation[] = [
  { path: 'registration-ttl', unit: 's' },
  { path: 'negative-ttl', unit: 'm' },
  { path: 'unregistered-ttl', unit: 'm' },
  { path: 'push.wait-ms', rename: 'wait', unit: 'ms' },
  { path: 'push.retry-ms', rename: 'retry', unit: 'ms' },
  { path: 'subscriptions.retry-ms', rename: 'retry', unit: 'ms' },
  { path: 'subscriptions.max-ttl', unit: 'm' },
  { path: 'static.*.ttl', unit: 'm' },
];

export interface ParseOptions {
  /** Each deprecation warning (default: printed on stderr). */
  onWarning?: (w: ConfigWarning) => void;
}

/** Parses and validates YAML text; errors are `file:line:col: key: message`. */
export function parseConfig(text: string, file = '<config>', opts: ParseOptions = {}): MsConfig {
  const { data, doc } = readConfigText(text, file, { code: 'CONFIG_INVALID', deprecations: DEPRECATED, ...opts });
  const named = file === '<config>' ? undefined : file;
  // a key file is read where it is named (relative to the config file), with its mode checked
  const siteKey = (i: number, path: string): string => {
    try {
      return readSecretFile(named && !isAbsolute(path) ? join(dirname(named), path) : path, 'site key file');
    } catch (e) {
      throw doc.error([{ path: ['sites', i, 'key-file'], message: (e as Error).message }]);
    }
  };
  const config = fromFile(checkConfig(fileSchema, data, doc), named, siteKey);
  const problems = crossCheck(config);
  if (problems.length) throw doc.error(problems.map(([path, message]) => ({ path, message })));
  return config;
}

/** Reads and validates a YAML config file. */
export async function loadConfig(file: string, opts: ParseOptions = {}): Promise<MsConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new LispwgError('CONFIG_READ', `cannot read Map-Server config ${file}: ${(e as Error).message}`);
  }
  return parseConfig(text, file, opts);
}

/** The defaults of every setting, with no sites. */
export function defaultConfig(): MsConfig {
  return parseConfig('{}');
}

/**
 * Parses one `--site` flag: `name=S,key-file=PATH|key=K[,key-id=1|2],prefix=P[,prefix=P2][,ams=yes]
 * [,iid=N][,wg-key=BASE64][,max-registrations=N]...` (`ams`: accept more specifics for the
 * prefixes). The key file (mode 0600) holds the shared key; an inline `key=` works but is visible
 * to every local user in /proc/PID/cmdline: `warn` is told so.
 */
export function parseSiteFlag(text: string, warn: (message: string) => void = () => undefined): SiteConfig {
  // the text may hold the key: messages name the site, not the flag
  const bad = (why: string) => new LispwgError('SITE_FLAG_INVALID', `--site ${name ? `'name=${name},...'` : '(unnamed)'}: ${why} (expected name=S,key-file=PATH,key-id=1,prefix=P[,prefix=P2])`);
  let name: string | undefined;
  let key: string | undefined;
  let keyFile: string | undefined;
  let keyId: 1 | 2 = 1;
  let iid = 0;
  let ams = false;
  let maxRegistrations = DEFAULT_SITE_REGISTRATIONS;
  const prefixes: string[] = [];
  const wireguardKeys: string[] = [];
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) throw bad(`'${part}' is not key=value`);
    const k = part.slice(0, eq).trim();
    const v = part.slice(eq + 1).trim();
    switch (k) {
      case 'name':
        name = v;
        break;
      case 'key':
        key = v;
        break;
      case 'key-file':
        keyFile = v;
        break;
      case 'key-id':
        if (v !== '1' && v !== '2') throw bad(`key-id must be 1 or 2, got '${v}'`);
        keyId = v === '1' ? 1 : 2;
        break;
      case 'prefix':
        prefixes.push(v);
        break;
      case 'iid':
        iid = Number(v);
        if (!Number.isInteger(iid) || iid < 0 || iid > 0xffffff) throw bad(`iid must be 0..16777215, got '${v}'`);
        break;
      case 'ams':
      case 'accept-more-specifics':
        ams = /^(yes|true|on|1)$/i.test(v);
        break;
      case 'wg-key':
        parseKey(v, `--site wg-key`);
        wireguardKeys.push(v);
        break;
      case 'max-registrations':
        maxRegistrations = Number(v);
        if (!Number.isInteger(maxRegistrations) || maxRegistrations < 1 || maxRegistrations > 100_000_000) throw bad(`max-registrations must be 1..100000000, got '${v}'`);
        break;
      default:
        throw bad(`unknown field '${k}'`);
    }
  }
  if (!name || !/^[A-Za-z0-9._-]{1,64}$/.test(name)) throw bad('a name (1-64 letters, digits, ".", "_", "-") is required');
  if (key !== undefined && keyFile !== undefined) throw bad('give key-file or key, not both');
  if (keyFile !== undefined) {
    try {
      key = readSecretFile(keyFile, `the key file of site '${name}'`);
    } catch (e) {
      throw bad((e as Error).message);
    }
  } else if (key) warn(`--site '${name}': the key given inline is visible to every local user in /proc/${process.pid}/cmdline; put it in a file (chmod 600) and give key-file=PATH`);
  if (!key) throw bad('a key is required (key-file=PATH)');
  if (!prefixes.length) throw bad('at least one prefix is required');
  return {
    name,
    key,
    keyId,
    prefixes: prefixes.map((p) => {
      const prefix = parseEidPrefix(p, iid);
      return { prefix, acceptMoreSpecifics: ams };
    }),
    maxRegistrations,
    ...(wireguardKeys.length ? { wireguardKeys } : {}),
    xtrs: [],
    replayProtection: 'timestamp',
  };
}

/** Adds flag-given sites to a config, checking the result as a file would be checked. */
export function withSites(config: MsConfig, sites: SiteConfig[]): MsConfig {
  const merged = { ...config, sites: [...config.sites, ...sites] };
  const problems = crossCheck(merged);
  if (problems.length) {
    throw new LispwgError('CONFIG_INVALID', `invalid Map-Server configuration:\n  ${problems.map(([p, m]) => `${pathText(p)}: ${m}`).join('\n  ')}`);
  }
  return merged;
}
