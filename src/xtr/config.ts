/**
 * The agent's configuration: a YAML file read by src/util/config-file.ts (kebab-case keys,
 * durations with their unit: 500us, 250ms, 3s, 10m, 1h), validated with zod and resolved into
 * `AgentConfig` (durations in ms, paths absolute, addresses canonical). Every error names the
 * file, line, column and field, e.g. `mn1.yaml:12:15: map-server.public-key: ...`.
 *
 * ```yaml
 * name: mn1                        # prefixes interface names (mn1-ctl, mn1-wg, mn1-tun), socket, state
 * mode: mn                         # mn: the EID is on this node; xtr: EID hosts behind this router
 * instance-id: 0                   # the virtual network (LISP Instance ID)
 * eid-prefixes:
 *   - prefix: 198.18.100.1/32      # IPv4 or IPv6; mn with a shorter prefix: add `address:`
 *   - prefix: 2001:db8:100::1/128
 * rloc-interfaces:                 # their addresses are the RLOCs; re-registered at once on change
 *   - { name: eth0, priority: 1, weight: 100 }
 *   - { name: wlan0, priority: 2 }
 * map-server:
 *   address: 198.18.0.2            # underlay: the control tunnel's endpoint
 *   port: 51820                    # its control WireGuard port
 *   control-address: 100.100.0.1   # inside the tunnel: where LISP control messages go (UDP 4342)
 *   public-key: "base64..."        # its control WireGuard key
 *   shared-key: "site secret"      # or shared-key-file (mode 0600); Map-Register / Map-Notify HMAC
 *   key-id: 1                      # 1 HMAC-SHA-1-96 (as OOR), 2 HMAC-SHA-256-128
 *   replicas:                      # more Map-Servers of the same mapping system (one etcd store):
 *     - { address: 198.18.0.3, control-address: 100.100.0.3, public-key: "base64..." }
 *                                  # each one more peer of the control tunnel; registered with too,
 *                                  # Map-Requests fail over to them after one resolve timeout
 * control:
 *   address: 100.100.0.2/16        # this node inside the control tunnel
 *   private-key-file: mn1-control.key   # or private-key; generated (0600) when missing; refused if group/others may read it
 * data:
 *   port: 51820                    # the overlay's well-known WireGuard data port (see below)
 *   private-key-file: mn1-data.key # the key every EID prefix registers with
 * eid-space: [198.18.64.0/18, "2001:db8:100::/48"]   # routed into the TUN: misses
 * miss-policy: buffer              # buffer (hold and release) | drop (as OOR)
 * data-plane: wireguard           # wireguard (the paper's) | lisp (plain LISP in userspace: the OOR baseline)
 * control-channel: lisp           # lisp (Map-Request over UDP 4342) | grpc (the paper's comparison)
 * grpc-port: 4343                  # the Map-Server's gRPC front (control-channel: grpc)
 * miss-buffer: { packets: 64, bytes: 262144, destinations: 1024, max-age: 3s }
 * timers:
 *   register-refresh: 60s
 *   record-ttl: 10m
 *   idle-timeout: 5m               # no traffic (and no push) for this long: the peer and its route go
 *   refresh-before-expiry: 10s     # an entry used in its last 10 s is re-resolved; else it expires
 *   max-stale: 1h                  # no Map-Server answers: a live tunnel outlives its TTL this long
 *   stale-refresh: 30s             # ... asking again this often
 *   peer-silence: 3s               # sending, nothing back: re-resolve (double jump)
 *   smr-hold-down: 0s              # data-plane lisp: wait this long after a move before the SMRs (OOR: 4s)
 *   nonce-freshness: 60s           # a push whose nonce time is further from our clock is refused (keep clocks in sync)
 *   resolve: { first-timeout: 250ms, backoff: 2, max-timeout: 4s, attempts: 6, negative-ttl: 60s }
 * limits:                          # when full, new ones are refused and counted (limit-peers, ...)
 *   peers: 1024                    # WireGuard peers installed (none is evicted: each may carry traffic)
 *   map-cache: 10000               # entries; when full, expired then negative ones go first
 *   resolutions: 256               # destinations being resolved at once
 *   smr-hold-down: 4096            # data-plane lisp: EIDs remembered by the SMR and miss hold-downs
 *   probe-replies: 100             # data-plane lisp: RLOC probes answered per second at most
 * state-dir: /run/lispwg           # admin socket <name>.sock, state file <name>.state.json
 * event-log: /var/log/lispwg/mn1.events.jsonl
 * metrics-listen: 100.100.0.2:9142 # optional: Prometheus metrics, GET /metrics (IPv6: "[::1]:9142"); off by default
 * ```
 *
 * Deprecated (accepted with a warning until the next release): a bare number for a duration,
 * which meant seconds (`peer-silence: 3` is now `peer-silence: 3s`).
 *
 * One agent serves one virtual network (one instance ID): one TUN for misses, one data WireGuard
 * interface whose private key every EID prefix registers with, one control tunnel to the
 * Map-Server. Another instance ID on the same node is another agent (own interfaces, data port
 * and routing table, `table:`).
 *
 * The data port: a record's RLOC is an address without a port, so the overlay uses one
 * well-known WireGuard data port (`data.port`, 51820 by default) on every node of a virtual
 * network; the agent's data interface listens on it and every peer it installs gets the endpoint
 * `RLOC:data-port`. Nothing extra travels in the records, so any LISP decoder reads them.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve, basename, extname } from 'node:path';
import { z } from 'zod';
import { LispwgError } from '../util/errors.js';
import { familyBits, formatIp, formatPrefix, IpError, type IpFamily, isNetwork, maskPrefix, parseIp, parsePrefix as parseIpPrefix, prefixContains, tryParseIp } from '../ip/ip.js';
import { checkConfig, duration, readConfigText, type ConfigWarning, type Deprecation, type Path } from '../util/config-file.js';
import { parseKey } from '../wg/keys.js';
import { KeyId } from '../lisp/types.js';
import { readSecretFile } from '../util/secret-file.js';
import { listenAddressField, type ListenAddress } from '../metrics/http.js';

export type Mode = 'xtr' | 'mn';
export type MissPolicy = 'buffer' | 'drop';

/** An IP prefix in canonical text, with its parsed form. */
export interface Prefix {
  /** "198.18.100.0/24", "2001:db8:100::/48" */
  text: string;
  address: string;
  length: number;
  family: IpFamily;
}

export interface EidPrefixConfig {
  prefix: Prefix;
  /** mn mode: the address of this node inside the prefix (assigned to the data interface). */
  address?: string;
}

export interface RlocInterface {
  name: string;
  priority: number;
  weight: number;
}

/** A Map-Server as a peer of the control tunnel. */
export interface MapServerPeer {
  address: string;
  port: number;
  controlAddress: string;
  publicKey: string;
}

/** A private key: inline (base64) or a file, generated (0600) when the file does not exist. */
export type KeySource = { inline: string } | { file: string };

export interface AgentConfig {
  /** The file it was read from (for messages), or '<inline>'. */
  source: string;
  name: string;
  mode: Mode;
  instanceId: number;
  eidPrefixes: EidPrefixConfig[];
  rlocInterfaces: RlocInterface[];
  mapServer: {
    /** Underlay address of the Map-Server: the endpoint of the control tunnel. */
    address: string;
    /** UDP port of the Map-Server's control WireGuard interface. */
    port: number;
    /** The Map-Server's address inside the control tunnel, where LISP control messages go. */
    controlAddress: string;
    /** The Map-Server's control WireGuard public key (base64). */
    publicKey: string;
    /** The site's shared key for Map-Register / Map-Notify HMACs (never logged). */
    sharedKey: string;
    /** 1: HMAC-SHA-1-96 (as OOR), 2: HMAC-SHA-256-128. */
    keyId: 1 | 2;
    /** Further Map-Servers of the same mapping system (sharing its store): each one more peer of the control tunnel. */
    replicas: MapServerPeer[];
  };
  control: {
    interface: string;
    /** This node's control address with its prefix length ("100.100.0.2/16"). */
    address: Prefix;
    privateKey: KeySource;
    /** 0: any free port. */
    listenPort: number;
    persistentKeepaliveS: number;
  };
  data: {
    interface: string;
    /** The well-known WireGuard data port of the overlay (see above). */
    port: number;
    privateKey: KeySource;
  };
  tun: { interface: string };
  /** The EID space routed into the TUN (misses). */
  eidSpace: Prefix[];
  /** Routing table for the overlay's routes: 'main' or a number. */
  table: number;
  missPolicy: MissPolicy;
  /** WireGuard peers on demand (the paper's), or plain LISP encapsulation in userspace (the OOR baseline, src/dataplane/lisp). */
  dataPlane: 'wireguard' | 'lisp';
  /** How mappings are resolved: LISP Map-Requests, or gRPC to the Map-Server's gRPC front (src/grpc); registration is LISP either way. */
  controlChannel: { protocol: 'lisp' | 'grpc'; grpcPort: number };
  missBuffer: { packets: number; bytes: number; destinations: number; maxAgeMs: number };
  timers: {
    registerRefreshMs: number;
    /** First retransmission of an unanswered Map-Register (doubled each time). */
    registerRetryMs: number;
    /** TTL of the records this agent registers. */
    recordTtlMs: number;
    idleTimeoutMs: number;
    /** Re-resolve an entry this long before it expires when traffic continues. */
    refreshBeforeExpiryMs: number;
    /** A peer sent to but silent this long is re-resolved (double jump). */
    peerSilenceMs: number;
    /** Serve-stale (RFC 8767): how long past its TTL a mapping whose tunnel is alive is kept while no Map-Server answers. */
    maxStaleMs: number;
    /** ... and how often it is asked for again meanwhile. */
    staleRefreshMs: number;
    /** A new peer whose first handshake has not completed after this long is re-created. */
    handshakeRetryMs: number;
    /** Plain LISP data plane: the wait between a move (re-registered) and the SMRs; OOR has 4 s compiled in. */
    smrHoldDownMs: number;
    /** A pushed Map-Notify whose nonce time is further than this from our clock is refused. */
    nonceFreshnessMs: number;
    resolve: { firstTimeoutMs: number; backoff: number; maxTimeoutMs: number; attempts: number; negativeTtlMs: number };
  };
  /** Bounds: what would go beyond them is refused (and counted), never evicting what may carry traffic. */
  limits: {
    peers: number;
    mapCache: number;
    resolutions: number;
    /** Plain LISP data plane: entries of the SMR hold-down and of the worker's miss reports. */
    smrHoldDown: number;
    /** Plain LISP data plane: RLOC probes answered per second at most. */
    probeReplies: number;
  };
  wireguard: { backend: 'auto' | 'kernel' | 'userspace' };
  adminSocket: string;
  stateFile: string;
  eventLog?: string;
  /** Where Prometheus metrics are served (src/xtr/metrics.ts); none when absent. */
  metricsListen?: ListenAddress;
}

// ---------------------------------------------------------------------------------------------
// Field parsers

/** Canonical text of an address, or undefined when it is not an IPv4/IPv6 address. */
function canonicalIp(text: string): string | undefined {
  const a = tryParseIp(text);
  return a && formatIp(a);
}

/** `ADDRESS/LENGTH` (src/ip), or the problem with it. */
export function parsePrefix(text: string): Prefix | string {
  try {
    const p = parseIpPrefix(text.trim());
    const address = formatIp(p);
    return { text: `${address}/${p.maskLen}`, address, length: p.maskLen, family: p.family };
  } catch (e) {
    if (e instanceof IpError) return e.message;
    throw e;
  }
}

/** True when `inner` (a prefix or an address) lies inside `outer`. */
export function prefixCovers(outer: Prefix, inner: { address: string; length?: number }): boolean {
  const a = parseIp(inner.address);
  return prefixContains(parseIpPrefix(outer.text), inner.length === undefined ? a : { ...a, maskLen: inner.length });
}

const prefixField = z.string().transform((v, ctx) => {
  const p = parsePrefix(v);
  if (typeof p === 'string') {
    ctx.addIssue({ code: 'custom', message: p });
    return z.NEVER;
  }
  return p;
});

/** A network prefix: no host bits set. */
const networkPrefix = prefixField.superRefine((p, ctx) => {
  const ip = parseIpPrefix(p.text);
  if (!isNetwork(ip)) ctx.addIssue({ code: 'custom', message: `${p.text} has host bits set (did you mean ${formatPrefix(maskPrefix(ip))}?)` });
});

const ipAddress = z.string().transform((v, ctx) => {
  const a = canonicalIp(v.trim());
  if (!a) {
    ctx.addIssue({ code: 'custom', message: `'${v}' is not an IPv4 or IPv6 address` });
    return z.NEVER;
  }
  return a;
});

const wgPublicKey = z.string().superRefine((v, ctx) => {
  try {
    parseKey(v, 'public key');
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: (e as Error).message });
  }
});

/** Linux interface names: at most 15 bytes, no '/', no whitespace. */
const ifName = z
  .string()
  .min(1)
  .max(15, 'an interface name has at most 15 characters')
  .regex(/^[^/\s:]+$/, "an interface name has no '/', ':' or whitespace");

const port = z.number().int().min(0).max(65535);

const keyFields = {
  'private-key': z.string().optional(),
  'private-key-file': z.string().optional(),
};

// ---------------------------------------------------------------------------------------------
// The schema (YAML names)

const schema = z
  .object({
    name: z
      .string()
      .regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,10}$/, 'a name is 1-11 letters, digits, _ . - (it prefixes interface names of at most 15 characters)')
      .optional(),
    mode: z.enum(['xtr', 'mn']),
    'instance-id': z.number().int().min(0).max(0xffffff).default(0),
    'eid-prefixes': z
      .array(
        z.strictObject({
          prefix: prefixField,
          address: ipAddress.optional(),
        }),
      )
      .min(1, 'at least one EID prefix is needed'),
    'rloc-interfaces': z
      .array(
        z.strictObject({
          name: ifName,
          priority: z.number().int().min(0).max(255).default(1),
          weight: z.number().int().min(0).max(255).default(100),
        }),
      )
      .min(1, 'at least one RLOC interface is needed'),
    'map-server': z.strictObject({
      address: ipAddress,
      port: port.default(51820),
      'control-address': ipAddress,
      'public-key': wgPublicKey,
      'shared-key': z.string().min(1).optional(),
      'shared-key-file': z.string().optional(),
      'key-id': z.union([z.literal(1), z.literal(2), z.enum(['hmac-sha1-96', 'hmac-sha256-128'])]).default(1),
      replicas: z
        .array(
          z.strictObject({
            address: ipAddress,
            port: port.default(51820),
            'control-address': ipAddress,
            'public-key': wgPublicKey,
          }),
        )
        .default([]),
    }),
    control: z.strictObject({
      interface: ifName.optional(),
      address: prefixField,
      'listen-port': port.default(0),
      'persistent-keepalive': duration.default(25_000),
      ...keyFields,
    }),
    data: z
      .strictObject({
        interface: ifName.optional(),
        port: port.min(1).default(51820),
        ...keyFields,
      })
      .prefault({}),
    tun: z.strictObject({ interface: ifName.optional() }).prefault({}),
    'eid-space': z.array(networkPrefix).min(1, 'name the EID space routed to the overlay (e.g. [198.18.64.0/18])'),
    table: z.union([z.literal('main'), z.number().int().min(1).max(0xffffffff)]).default('main'),
    'miss-policy': z.enum(['buffer', 'drop']).default('buffer'),
    'data-plane': z.enum(['wireguard', 'lisp']).default('wireguard'),
    'control-channel': z.enum(['lisp', 'grpc']).default('lisp'),
    'grpc-port': port.min(1).default(4343),
    'miss-buffer': z
      .strictObject({
        packets: z.number().int().min(1).default(64),
        bytes: z.number().int().min(1).default(256 * 1024),
        destinations: z.number().int().min(1).default(1024),
        'max-age': duration.default(3000),
      })
      .prefault({}),
    timers: z
      .strictObject({
        'register-refresh': duration.default(60_000),
        // short: after a handover the first Map-Register may leave before the new route exists
        'register-retry': duration.default(250),
        'record-ttl': duration.default(600_000),
        'idle-timeout': duration.default(300_000),
        'refresh-before-expiry': duration.default(10_000),
        'peer-silence': duration.default(3000),
        'max-stale': duration.default(3_600_000),
        'stale-refresh': duration.default(30_000),
        'handshake-retry': duration.default(150),
        'smr-hold-down': duration.default(0),
        'nonce-freshness': duration.default(60_000),
        resolve: z
          .strictObject({
            'first-timeout': duration.default(250),
            backoff: z.number().min(1).default(2),
            'max-timeout': duration.default(4000),
            attempts: z.number().int().min(1).default(6),
            'negative-ttl': duration.default(60_000),
          })
          .prefault({}),
      })
      .prefault({}),
    limits: z
      .strictObject({
        peers: z.number().int().min(1).default(1024),
        'map-cache': z.number().int().min(1).default(10_000),
        resolutions: z.number().int().min(1).default(256),
        'smr-hold-down': z.number().int().min(1).default(4096),
        'probe-replies': z.number().int().min(1).default(100),
      })
      .prefault({}),
    wireguard: z.strictObject({ backend: z.enum(['auto', 'kernel', 'userspace']).default('auto') }).prefault({}),
    'admin-socket': z.string().optional(),
    'state-dir': z.string().default('/run/lispwg'),
    'event-log': z.string().optional(),
    'metrics-listen': listenAddressField().optional(),
  })
  .strict();

type Raw = z.output<typeof schema>;

// ---------------------------------------------------------------------------------------------
// Loading

/** Durations were a bare number of seconds before the one config loader; accepted for one release. */
const DEPRECATED: readonly Deprecation[] = [
  'control.persistent-keepalive',
  'miss-buffer.max-age',
  ...['register-refresh', 'register-retry', 'record-ttl', 'idle-timeout', 'refresh-before-expiry', 'peer-silence', 'handshake-retry', 'smr-hold-down'].map((k) => `timers.${k}`),
  ...['first-timeout', 'max-timeout', 'negative-ttl'].map((k) => `timers.resolve.${k}`),
].map((path) => ({ path, unit: 's' }));

export interface ParseOptions {
  /** Each deprecation warning (default: printed on stderr). */
  onWarning?: (w: ConfigWarning) => void;
}

/** Reads and validates a config file; throws CONFIG_INVALID naming file, line, column and field. */
export function loadConfig(path: string, opts: ParseOptions = {}): AgentConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new LispwgError('CONFIG_READ', `cannot read the agent config ${path}: ${(e as Error).message}`);
  }
  return parseConfig(text, resolve(path), opts);
}

/** Validates config text; `source` names the file in messages and anchors relative paths. */
export function parseConfig(text: string, source = '<inline>', opts: ParseOptions = {}): AgentConfig {
  const { data, doc } = readConfigText(text, source, { code: 'CONFIG_INVALID', deprecations: DEPRECATED, ...opts });
  const raw = checkConfig(schema, data, doc);
  const semantic = (path: Path, message: string): never => {
    throw doc.error([{ path, message }]);
  };
  return resolveConfig(raw, source, semantic);
}

function resolveConfig(raw: Raw, source: string, fail: (path: Path, message: string) => never): AgentConfig {
  const base = source === '<inline>' ? process.cwd() : dirname(source);
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(base, p));
  const name = raw.name ?? (source === '<inline>' ? undefined : basename(source, extname(source)).slice(0, 11));
  if (!name || !/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,10}$/.test(name)) {
    fail(['name'], 'give the agent a name (1-11 letters, digits, _ . -): it prefixes its interface names');
  }
  const stateDir = abs(raw['state-dir']);

  const eidPrefixes: EidPrefixConfig[] = raw['eid-prefixes'].map((e, i) => {
    if (e.address !== undefined && !prefixCovers(e.prefix, { address: e.address })) {
      fail(['eid-prefixes', i, 'address'], `${e.address} is not inside ${e.prefix.text}`);
    }
    let address = e.address;
    if (raw.mode === 'mn' && address === undefined) {
      if (e.prefix.length !== familyBits(e.prefix.family)) {
        fail(['eid-prefixes', i, 'address'], `a mobile node needs its own address inside ${e.prefix.text} (or a host prefix /32, /128)`);
      }
      address = e.prefix.address;
    }
    return address === undefined ? { prefix: e.prefix } : { prefix: e.prefix, address };
  });
  for (let i = 0; i < eidPrefixes.length; i++) {
    for (let j = 0; j < i; j++) {
      if (eidPrefixes[i]!.prefix.text === eidPrefixes[j]!.prefix.text) fail(['eid-prefixes', i, 'prefix'], `${eidPrefixes[i]!.prefix.text} is listed twice`);
    }
  }
  for (const [i, e] of eidPrefixes.entries()) {
    const inside = raw['eid-space'].some((s) => prefixCovers(s, e.prefix));
    if (!inside) fail(['eid-prefixes', i, 'prefix'], `${e.prefix.text} is outside the eid-space (${raw['eid-space'].map((s) => s.text).join(', ')})`);
  }

  const ms = raw['map-server'];
  if ((ms['shared-key'] === undefined) === (ms['shared-key-file'] === undefined)) {
    fail(['map-server'], 'give the site key as exactly one of shared-key or shared-key-file');
  }
  let sharedKey = ms['shared-key'];
  if (sharedKey === undefined) {
    try {
      sharedKey = readSecretFile(abs(ms['shared-key-file']!), 'the site key file');
    } catch (e) {
      fail(['map-server', 'shared-key-file'], (e as Error).message);
    }
  }
  const keyId: 1 | 2 = ms['key-id'] === 'hmac-sha1-96' ? KeyId.HmacSha1_96 : ms['key-id'] === 'hmac-sha256-128' ? KeyId.HmacSha256_128 : ms['key-id'];

  const ctl = raw.control;
  const controlAddress = ctl.address.address;
  if (ctl.address.family !== (ms['control-address'].includes(':') ? 'ipv6' : 'ipv4')) {
    fail(['control', 'address'], `the control address and the Map-Server's control-address ${ms['control-address']} must be of one family`);
  }
  if (controlAddress === ms['control-address']) fail(['control', 'address'], 'the control address must differ from the Map-Server control-address');
  const seen = new Map<string, string>([[ms['control-address'], 'map-server.control-address'], [controlAddress, 'control.address']]);
  for (const [i, r] of ms.replicas.entries()) {
    const at = ['map-server', 'replicas', i, 'control-address'];
    if (ctl.address.family !== (r['control-address'].includes(':') ? 'ipv6' : 'ipv4')) fail(at, `the control address and every Map-Server's control-address must be of one family`);
    const dup = seen.get(r['control-address']);
    if (dup) fail(at, `${r['control-address']} is already ${dup}`);
    seen.set(r['control-address'], `map-server.replicas[${i}].control-address`);
    if (r['public-key'].trim() === ms['public-key'].trim() || ms.replicas.some((o, j) => j < i && o['public-key'].trim() === r['public-key'].trim())) fail(['map-server', 'replicas', i, 'public-key'], 'each Map-Server has its own control key (WireGuard routes a peer by its key)');
  }

  const keySource = (section: 'control' | 'data', defaultFile: string): KeySource => {
    const s = raw[section];
    if (s['private-key'] !== undefined && s['private-key-file'] !== undefined) fail([section], 'give at most one of private-key and private-key-file');
    if (s['private-key'] !== undefined) {
      try {
        parseKey(s['private-key'], `${section}.private-key`);
      } catch (e) {
        fail([section, 'private-key'], (e as Error).message);
      }
      return { inline: s['private-key'].trim() };
    }
    return { file: abs(s['private-key-file'] ?? defaultFile) };
  };

  const ifname = (given: string | undefined, suffix: string) => given ?? `${name}-${suffix}`;
  const names = {
    control: ifname(ctl.interface, 'ctl'),
    data: ifname(raw.data.interface, 'wg'),
    tun: ifname(raw.tun.interface, 'tun'),
  };
  if (new Set(Object.values(names)).size !== 3) fail(['data', 'interface'], `the control, data and tun interfaces need three different names (${Object.values(names).join(', ')})`);
  for (const [i, r] of raw['rloc-interfaces'].entries()) {
    if (Object.values(names).includes(r.name)) fail(['rloc-interfaces', i, 'name'], `${r.name} is one of the agent's own interfaces`);
  }

  const t = raw.timers;
  if (t['record-ttl'] < 60_000) fail(['timers', 'record-ttl'], 'a record TTL is carried in whole minutes: use at least 1m');
  if (t.resolve['max-timeout'] < t.resolve['first-timeout']) fail(['timers', 'resolve', 'max-timeout'], 'must be at least first-timeout');

  return {
    source,
    name: name!,
    mode: raw.mode,
    instanceId: raw['instance-id'],
    eidPrefixes,
    rlocInterfaces: raw['rloc-interfaces'],
    mapServer: {
      address: ms.address,
      port: ms.port,
      controlAddress: ms['control-address'],
      publicKey: ms['public-key'].trim(),
      sharedKey: sharedKey!,
      keyId,
      replicas: ms.replicas.map((r) => ({ address: r.address, port: r.port, controlAddress: r['control-address'], publicKey: r['public-key'].trim() })),
    },
    control: {
      interface: names.control,
      address: ctl.address,
      privateKey: keySource('control', `${stateDir}/${name}-control.key`),
      listenPort: ctl['listen-port'],
      persistentKeepaliveS: Math.round(ctl['persistent-keepalive'] / 1000),
    },
    data: { interface: names.data, port: raw.data.port, privateKey: keySource('data', `${stateDir}/${name}-data.key`) },
    tun: { interface: names.tun },
    eidSpace: raw['eid-space'],
    table: raw.table === 'main' ? 254 : raw.table,
    missPolicy: raw['miss-policy'],
    dataPlane: raw['data-plane'],
    controlChannel: { protocol: raw['control-channel'], grpcPort: raw['grpc-port'] },
    missBuffer: {
      packets: raw['miss-buffer'].packets,
      bytes: raw['miss-buffer'].bytes,
      destinations: raw['miss-buffer'].destinations,
      maxAgeMs: raw['miss-buffer']['max-age'],
    },
    timers: {
      registerRefreshMs: t['register-refresh'],
      registerRetryMs: t['register-retry'],
      recordTtlMs: t['record-ttl'],
      idleTimeoutMs: t['idle-timeout'],
      refreshBeforeExpiryMs: t['refresh-before-expiry'],
      peerSilenceMs: t['peer-silence'],
      maxStaleMs: t['max-stale'],
      staleRefreshMs: t['stale-refresh'],
      handshakeRetryMs: t['handshake-retry'],
      smrHoldDownMs: t['smr-hold-down'],
      nonceFreshnessMs: t['nonce-freshness'],
      resolve: {
        firstTimeoutMs: t.resolve['first-timeout'],
        backoff: t.resolve.backoff,
        maxTimeoutMs: t.resolve['max-timeout'],
        attempts: t.resolve.attempts,
        negativeTtlMs: t.resolve['negative-ttl'],
      },
    },
    limits: { peers: raw.limits.peers, mapCache: raw.limits['map-cache'], resolutions: raw.limits.resolutions, smrHoldDown: raw.limits['smr-hold-down'], probeReplies: raw.limits['probe-replies'] },
    wireguard: raw.wireguard,
    adminSocket: abs(raw['admin-socket'] ?? `${stateDir}/${name}.sock`),
    stateFile: `${stateDir}/${name}.state.json`,
    ...(raw['event-log'] !== undefined ? { eventLog: abs(raw['event-log']) } : {}),
    ...(raw['metrics-listen'] !== undefined ? { metricsListen: raw['metrics-listen'] } : {}),
  };
}
