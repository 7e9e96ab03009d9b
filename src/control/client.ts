/**
 * ControlClient: the xTR's side of the control protocol with the Map-Server (also our `lig`).
 *
 * - register(records): Map-Register (HMAC with the site key, M bit, P bit), retransmitted with
 *   backoff until the Map-Notify verifies, then refreshed every `registerIntervalMs` (60 s);
 *   calling it again with new records re-registers at once. deregister() sends TTL 0.
 * - resolve(eid): one ECM Map-Request (ITR-RLOC = our address, inner UDP source port = our
 *   port), retransmitted on timeout; resolves with the Map-Reply's records and the RTT.
 * - Map-Notifies pushed by the Map-Server (a requester's key, a subscription update, a
 *   withdrawal) are verified with the site key, answered with a Map-Notify-Ack, and emitted:
 *   'mapping' for a record with locators, 'withdrawn' for a record without (the Map-Server's
 *   withdrawal: no locators, ACT drop, TTL 0, the revoked key with the Security Key R bit).
 *   A retransmitted Map-Notify is acknowledged again but emitted once.
 *
 * Several Map-Servers (`replicas`: one mapping system, one shared store, src/ms/store.ts): every
 * Map-Register goes to each of them, as LISP registers with every Map-Server of a site (RFC 9301
 * section 4.1), so that losing one loses no registration and none waits for a failover; the round
 * is answered by the first Map-Notify and goes on, at its backoff, to those that have not
 * answered. A Map-Request goes to the Map-Server that answered last; each retransmission after a
 * timeout goes to the next one, so a dead replica costs one timeout (`requestTimeoutMs`).
 * Pushes are taken from any of them, each with its own replay window (their nonce clocks differ).
 *
 * What it acts on: only Map-Replies and Map-Notifies whose source is a Map-Server's address
 * (`wrong-source` otherwise), signed with the configured key ID (`wrong-key-id`). With `device`
 * (the control WireGuard interface) the socket hears nothing but what that interface decrypted
 * (src/net/udp.ts): a datagram sent over the underlay to the control address, which Linux's weak
 * host model would accept, is never read. Pushed Map-Notifies carry the Map-Server's monotonic
 * nonces: one already applied comes again only as a retransmission (acked, not applied again,
 * within RETRANSMISSION_MS); later, or older than the replay window, it is refused (`replayed`,
 * `stale`, `future`). Map-Register nonces are monotonic too (the Map-Server refuses a stale one
 * from a site without a control tunnel).
 *
 * Every event carries `t` (monotonic ms, performance.now()) and `at` (wall-clock ms), so an agent
 * or an experiment can build a timeline. Unauthenticated packets change nothing: they are counted
 * in `drops` and emitted as 'drop'.
 */
import dgram from 'node:dgram';
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import { isIPv6 } from 'node:net';
import {
  LISP_CONTROL_PORT,
  LispAuthError,
  LispDecodeError,
  decodeMessage,
  eidAddress,
  eidOf,
  encodeMessage,
  encodingLength,
  recordKey,
  signMessage,
  wrapWireguardKey,
  verifyMessage,
  type Address,
  type MapNotify,
  type MapReply,
  type MapRequest,
  type MappingRecord,
} from '../lisp/index.js';
import { MonotonicNonces, ReplayWindow } from '../lisp/nonce.js';
import { prefixOf } from '../mapping/database.js';
import type { EidPrefix } from '../mapping/eid.js';
import { familyBits } from '../ip/ip.js';
import { openUdpSocket } from '../net/udp.js';
import { LispwgError } from '../util/errors.js';
import { createLogger, type Logger } from '../util/log.js';

export interface Endpoint {
  address: string;
  port: number;
}

export interface ControlClientOptions {
  /** The Map-Server (port defaults to 4342). */
  mapServer: { address: string; port?: number };
  /** Further Map-Servers of the same mapping system (replicas sharing one store). */
  replicas?: Array<{ address: string; port?: number }>;
  /** Local address to bind (the control address in tunnel mode); default: the wildcard. */
  localAddress?: string;
  /** Local UDP port; default 0 (any). Replies, pushes and notifications arrive here. */
  localPort?: number;
  /** Hear only what arrives on this interface (the control WireGuard interface); needs `localAddress`. */
  device?: string;
  /** The ITR-RLOC put in Map-Requests; default: the local address that reaches the Map-Server. */
  itrRloc?: string;
  /** The site's shared key: needed to register and to accept Map-Notifies. */
  site?: { key: string; keyId?: 1 | 2 };
  /** Refresh period of registrations (ms); default 60 000, as OOR. */
  registerIntervalMs?: number;
  /** First retransmission of an unanswered Map-Register (ms, doubled each time); default 1 000. */
  registerRetryMs?: number;
  /** Map-Register attempts before register() rejects (it keeps trying afterwards); default 4. */
  registerAttempts?: number;
  /** Map-Request timeout per attempt (ms); default 1 000. */
  requestTimeoutMs?: number;
  /** Additional Map-Requests after a timeout; default 2 (OOR's map-request-retries). */
  requestRetries?: number;
  /**
   * Handles a pushed Map-Notify's records (install the peer, or remove it); the Map-Notify-Ack
   * goes back when the returned promise resolves: the Map-Server answers the requester only after
   * that Ack, so the requester's first WireGuard handshake finds our peer in place (else WireGuard
   * drops the handshake and retries only after 5 s). Waited for at most `pushAckBoundMs`.
   */
  onPush?: (events: Array<MappingEvent | WithdrawnEvent>) => Promise<void>;
  /** Longest wait for `onPush` before the Ack goes anyway (ms); default 50. */
  pushAckBoundMs?: number;
  /** A pushed Map-Notify whose nonce's time is further than this from our clock is refused (ms); default 60 000. */
  nonceFreshnessMs?: number;
  logger?: Logger;
}

/** Common to every event. */
export interface Timestamped {
  /** Monotonic ms (performance.now()). */
  t: number;
  /** Wall-clock ms (Date.now()). */
  at: number;
}

export interface RegisteredEvent extends Timestamped {
  nonce: bigint;
  /** From the first Map-Register of this round to the Map-Notify. */
  rttMs: number;
  attempts: number;
  records: number;
}

export interface MappingEvent extends Timestamped {
  prefix: EidPrefix;
  record: MappingRecord;
  /** The WireGuard public key the record carries (none for a plain record). */
  key: Uint8Array | undefined;
  from: Endpoint;
}

export interface WithdrawnEvent extends Timestamped {
  prefix: EidPrefix;
  /** The revoked WireGuard key, when the withdrawal names one. */
  key: Uint8Array | undefined;
  from: Endpoint;
}

export const DROP_REASONS = ['malformed', 'bad-hmac', 'no-site-key', 'unexpected', 'unknown-nonce', 'wrong-source', 'wrong-key-id', 'replayed', 'stale', 'future'] as const;
export type DropReason = (typeof DROP_REASONS)[number];

export interface DropEvent extends Timestamped {
  reason: DropReason;
  from: Endpoint;
}

export interface Resolution extends Timestamped {
  nonce: bigint;
  records: MappingRecord[];
  /** Round trip of the Map-Request that was answered (ms). */
  rttMs: number;
  /** From the first Map-Request to the reply (ms), retransmissions included. */
  elapsedMs: number;
  attempts: number;
}

export interface ResolveOptions {
  /** Instance ID of the EID (and of the source EID); default 0. */
  iid?: number;
  /** Our own EID (so the Map-Server pushes our key to the destination); default none. */
  sourceEid?: string;
  timeoutMs?: number;
  retries?: number;
  /**
   * A caller that retransmits on its own (the agent's resolver) numbers its attempts from 1:
   * attempt k goes to the k-th Map-Server from the one that answered last, and tells that the
   * one asked at attempt k - 1 left it unanswered ('silent').
   */
  attempt?: number;
}

export interface ControlClientEvents {
  registered: [RegisteredEvent];
  'register-timeout': [Timestamped & { attempts: number }];
  /** A Map-Server left a Map-Request or a Map-Register unanswered within its timeout; `sentAt` (epoch ms) is when that message went. */
  silent: [Timestamped & { server: Endpoint; sentAt: number }];
  mapping: [MappingEvent];
  withdrawn: [WithdrawnEvent];
  'map-notify': [Timestamped & { notify: MapNotify; from: Endpoint }];
  drop: [DropEvent];
}

interface PendingRequest {
  nonce: bigint;
  bytes: Buffer;
  firstSent: number;
  lastSent: number;
  attempts: number;
  retries: number;
  timeoutMs: number;
  timer: NodeJS.Timeout | undefined;
  /** Where the last attempt went. */
  server?: Endpoint;
  resolve: (r: Resolution) => void;
  reject: (e: Error) => void;
}

const stamp = (): Timestamped => ({ t: performance.now(), at: Date.now() });
/** The epoch time (ms) of a performance.now() instant. */
const epochOf = (t: number): number => Date.now() - (performance.now() - t);
const text = (m: Endpoint): string => `${m.address}:${m.port}`;
/** Set in our Map-Register nonces, never in the Map-Server's (it would need 2^19 Map-Notifies in one millisecond). */
const REGISTER_NONCE_MARK = 1n << 19n;
/** Map-Register nonces remembered (their Map-Notifies are answers, not pushes). */
const RECENT_REGISTERS = 1024;
/**
 * A pushed Map-Notify seen again this soon is the Map-Server's retransmission (our Ack was lost):
 * acked again. The notifier gives up after a few retries of at most some seconds each.
 */
const RETRANSMISSION_MS = 30_000;
/** Pushes remembered for retransmissions at most (the oldest go first). */
const RECENT_PUSHES = 4096;
/** Push nonces the replay window remembers (reordered and lost-then-retransmitted pushes are still accepted). */
const PUSH_WINDOW = 1024;

/** Resolves when `p` settles or after `ms`, whichever comes first (never rejects). */
function boundedWait(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  return Promise.race([p.then(() => undefined, () => undefined), bound]).finally(() => clearTimeout(timer));
}

/** After a route appeared, a Map-Register goes again this much later (routes come in bursts). */
const HURRY_MS = 3;

/** One registration round: Map-Registers with backoff until a Map-Notify answers one of them. */
interface RegisterRound {
  start: number;
  /** When the last Map-Register of the round went (performance.now()). */
  lastSent: number;
  attempts: number;
  timer: NodeJS.Timeout | undefined;
  done: boolean;
  nonces: Set<bigint>;
  /** The Map-Servers whose Map-Notify this round still waits for. */
  unanswered: Set<string>;
  /** Sends one more Map-Register now, outside the retry schedule. */
  resend: () => void;
  /** A resend after a route appeared, pending. */
  hurry?: NodeJS.Timeout;
}

export class ControlClient extends EventEmitter<ControlClientEvents> {
  readonly drops = Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Record<DropReason, number>;
  private socket: dgram.Socket;
  /** The Map-Servers: `mapServer`, then the replicas. */
  private readonly servers: Endpoint[];
  /** Where the next Map-Request goes: the Map-Server that answered last. */
  private preferred = 0;
  /** When each Map-Server last acknowledged a Map-Register of ours (performance.now()). */
  private readonly lastNotify = new Map<string, number>();
  /** When we last sent each Map-Server (by address) a Map-Register or a Map-Request (performance.now()). */
  private readonly lastSentTo = new Map<string, number>();
  private readonly opts: Required<Pick<ControlClientOptions, 'registerIntervalMs' | 'registerRetryMs' | 'registerAttempts' | 'requestTimeoutMs' | 'requestRetries'>>;
  private readonly log: Logger;
  private readonly site: { key: string; keyId: 1 | 2 } | undefined;
  private itrRloc = '';
  private readonly requests = new Map<bigint, PendingRequest>();
  /** warmUp's Map-Reply to itself, while it is on its way */
  private warming: { nonce: bigint; done: () => void } | undefined;
  /** Pushed Map-Notifies applied recently, by server and nonce: their handling and when they came (a retransmission is acked once handled). */
  private readonly recentPushes = new Map<string, { handled: Promise<void>; at: number }>();
  /** Each Map-Server's push nonces (only their addresses get this far). */
  private readonly pushWindows = new Map<string, ReplayWindow>();
  private readonly registerNonces = new MonotonicNonces();
  private readonly socketOpts: Pick<ControlClientOptions, 'mapServer' | 'localAddress' | 'device'>;
  private readonly nonceFreshnessMs: number;
  private readonly onPush: ControlClientOptions['onPush'];
  private readonly pushAckBoundMs: number;
  // registration state
  private records: MappingRecord[] = [];
  /** Nonces of recent Map-Registers (all rounds, bounded): their Map-Notifies are not pushes. */
  private readonly regNonces = new Set<bigint>();
  private regRound: RegisterRound | undefined;
  private refreshTimer: NodeJS.Timeout | undefined;
  private regWaiters: Array<{ resolve: (e: RegisteredEvent) => void; reject: (e: Error) => void }> = [];
  private closed = false;

  private constructor(socket: dgram.Socket, opts: ControlClientOptions) {
    super();
    this.socket = socket;
    this.servers = [opts.mapServer, ...(opts.replicas ?? [])].map((m) => ({ address: m.address, port: m.port ?? LISP_CONTROL_PORT }));
    this.site = opts.site ? { key: opts.site.key, keyId: opts.site.keyId ?? 1 } : undefined;
    this.opts = {
      registerIntervalMs: opts.registerIntervalMs ?? 60_000,
      registerRetryMs: opts.registerRetryMs ?? 1_000,
      registerAttempts: opts.registerAttempts ?? 4,
      requestTimeoutMs: opts.requestTimeoutMs ?? 1_000,
      requestRetries: opts.requestRetries ?? 2,
    };
    this.onPush = opts.onPush;
    this.pushAckBoundMs = opts.pushAckBoundMs ?? 50;
    this.log = opts.logger ?? createLogger({ component: 'control-client' });
    this.nonceFreshnessMs = opts.nonceFreshnessMs ?? 60_000;
    this.socketOpts = { mapServer: opts.mapServer, ...(opts.localAddress ? { localAddress: opts.localAddress } : {}), ...(opts.device ? { device: opts.device } : {}) };
    this.listen(socket);
  }

  private listen(socket: dgram.Socket): void {
    socket.on('message', (buf, rinfo) => {
      const from = { address: rinfo.address, port: rinfo.port };
      try {
        this.onDatagram(buf, from);
      } catch (e) {
        // a bug, not the packet's fault (the codec only throws its own errors): count it, carry on
        this.log.error('internal error on a control packet', { error: e instanceof Error ? e.message : String(e) });
        this.drop('malformed', from);
      }
    });
    socket.on('error', (e) => this.log.error('control socket error', { error: e.message }));
  }

  /** Opens the socket and works out the ITR-RLOC. */
  static async open(opts: ControlClientOptions): Promise<ControlClient> {
    if (opts.device && !opts.localAddress) throw new LispwgError('CONTROL_SOCKET', `a control socket bound to ${opts.device} needs its local address`);
    const addresses = [opts.mapServer, ...(opts.replicas ?? [])].map((m) => m.address);
    if (new Set(addresses).size !== addresses.length) throw new LispwgError('CONTROL_CONFIG', `a Map-Server is listed twice: ${addresses.join(', ')}`);
    const client = new ControlClient(await openSocket(opts, opts.localPort ?? 0), opts);
    client.itrRloc = opts.itrRloc ?? opts.localAddress ?? (await localAddressTowards(opts.mapServer.address, opts.mapServer.port ?? LISP_CONTROL_PORT));
    return client;
  }

  /**
   * Opens the socket again on the same port (its interface was re-created: a socket bound to a
   * device keeps the old interface's index and would hear nothing more).
   */
  async reopen(): Promise<void> {
    if (this.closed) return;
    const port = this.socket.address().port;
    await new Promise<void>((r) => this.socket.close(() => r()));
    this.socket = await openSocket(this.socketOpts, port);
    this.listen(this.socket);
  }

  get local(): Endpoint {
    return { address: this.itrRloc, port: this.socket.address().port };
  }

  // --- registration -----------------------------------------------------------------------------

  /**
   * Registers `records` (replacing the previous ones) at once, and keeps them registered.
   * Resolves on the Map-Notify; rejects (REGISTER_TIMEOUT) after `registerAttempts` unanswered
   * tries, while registering goes on in the background.
   */
  register(records: MappingRecord[]): Promise<RegisteredEvent> {
    if (!this.site) throw new LispwgError('NO_SITE_KEY', 'register() needs the site key (ControlClientOptions.site)');
    this.records = records;
    const p = new Promise<RegisteredEvent>((resolve, reject) => this.regWaiters.push({ resolve, reject }));
    this.startRound();
    return p;
  }

  /** Withdraws the registered records (TTL 0) and stops refreshing. */
  async deregister(): Promise<void> {
    if (!this.records.length || !this.site) return;
    this.records = this.records.map((r) => ({ ...r, ttl: 0 }));
    try {
      await new Promise<RegisteredEvent>((resolve, reject) => {
        this.regWaiters.push({ resolve, reject });
        this.startRound(false);
      });
    } finally {
      this.records = [];
      this.stopRegistering();
    }
  }

  private stopRegistering(): void {
    clearTimeout(this.refreshTimer);
    if (this.regRound) {
      clearTimeout(this.regRound.timer);
      clearTimeout(this.regRound.hurry);
    }
    this.regRound = undefined;
  }

  private startRound(refresh = true): void {
    if (this.closed) return;
    this.stopRegistering();
    const round: RegisterRound = { start: performance.now(), lastSent: performance.now(), attempts: 0, timer: undefined, done: false, nonces: new Set<bigint>(), unanswered: new Set(this.servers.map((m) => m.address)), resend: () => undefined };
    this.regRound = round;
    const send = () => {
      // bit 19 set: the Map-Server's own monotonic nonces (pushes) come from the same clock, and a
      // push whose nonce equalled one of our Map-Registers' would be taken for its answer
      const nonce = this.registerNonces.next() | REGISTER_NONCE_MARK;
      round.nonces.add(nonce);
      this.regNonces.add(nonce);
      if (this.regNonces.size > RECENT_REGISTERS) this.regNonces.delete(this.regNonces.values().next().value!);
      const bytes = signMessage(
        { type: 'map-register', proxyReply: true, security: false, rtr: false, wantMapNotify: true, nonce, keyId: this.site!.keyId, authData: new Uint8Array(0), records: this.records },
        this.site!.keyId,
        this.site!.key,
      );
      round.lastSent = performance.now();
      for (const m of this.servers) {
        if (!round.unanswered.has(m.address)) continue;
        this.lastSentTo.set(m.address, round.lastSent);
        this.socket.send(bytes, m.port, m.address);
      }
    };
    const attempt = () => {
      if (!round.unanswered.size || this.regRound !== round) return;
      // two Map-Registers unanswered (not one: right after a move the first finds no route yet)
      if (round.attempts >= 2) for (const m of this.servers) if (round.unanswered.has(m.address)) this.emit('silent', { ...stamp(), server: { ...m }, sentAt: epochOf(round.lastSent) });
      round.attempts++;
      send();
      if (round.attempts === this.opts.registerAttempts && !round.done) {
        const e = new LispwgError('REGISTER_TIMEOUT', `no Map-Notify from ${this.servers.length > 1 ? `any of the Map-Servers ${this.servers.map(text).join(', ')}` : `the Map-Server ${text(this.servers[0]!)}`} after ${round.attempts} Map-Registers (wrong key, a prefix the site does not own, or no route)`);
        this.emit('register-timeout', { ...stamp(), attempts: round.attempts });
        for (const w of this.regWaiters.splice(0)) w.reject(e);
      }
      const backoff = Math.min(this.opts.registerRetryMs * 2 ** (round.attempts - 1), this.opts.registerIntervalMs);
      round.timer = setTimeout(attempt, backoff);
      round.timer.unref();
    };
    round.resend = send;
    attempt();
    if (refresh) {
      this.refreshTimer = setTimeout(() => this.startRound(), this.opts.registerIntervalMs);
      this.refreshTimer.unref();
    }
  }

  /**
   * A route just appeared: a Map-Register of the unanswered round, sent when our new address was
   * there but not yet the route through it, was lost. One goes again shortly, besides the retries:
   * after HURRY_MS, so that a burst of routes (the subnet's, then the default route a moment
   * later) sends one Map-Register, once the last of them is in.
   */
  hurryRegistration(): void {
    const round = this.regRound;
    if (!round || !round.unanswered.size || this.closed || round.hurry) return;
    round.hurry = setTimeout(() => {
      round.hurry = undefined;
      if (round.unanswered.size && this.regRound === round && !this.closed) round.resend();
    }, HURRY_MS);
    round.hurry.unref();
  }

  /**
   * Sends again, now, what the Map-Server at `address` has not answered: the Map-Register of the
   * current round and the Map-Requests last sent to it. For when its WireGuard session was just
   * renewed, which drops what wireguard-go had queued for it.
   */
  resendTo(address: string): void {
    if (this.closed) return;
    const round = this.regRound;
    if (round?.unanswered.has(address)) round.resend();
    for (const p of this.requests.values()) if (p.server?.address === address) this.socket.send(p.bytes, p.server.port, p.server.address);
  }

  private onRegisterNotify(n: MapNotify, from: Endpoint): void {
    const round = this.regRound;
    if (this.regNonces.has(n.nonce)) this.lastNotify.set(from.address, performance.now());
    if (!round || !round.nonces.has(n.nonce) || !round.unanswered.delete(from.address)) return; // late answer to an earlier round, or a second one
    if (!round.unanswered.size) clearTimeout(round.timer);
    if (round.done) return;
    round.done = true;
    const ev: RegisteredEvent = { ...stamp(), nonce: n.nonce, rttMs: performance.now() - round.start, attempts: round.attempts, records: n.records.length };
    this.emit('registered', ev);
    for (const w of this.regWaiters.splice(0)) w.resolve(ev);
  }

  // --- resolution -------------------------------------------------------------------------------

  /**
   * Takes one Map-Reply (a record with a WireGuard key, as replies carry) through every step a
   * real one takes, the socket, the codec and the reply path, by sending it to this socket: a
   * single-shot tool (lispwg query) then times the Map-Server, not V8 compiling our receive path
   * on first use (5-10 ms against 1 ms warm here). Bounded by `timeoutMs`; sends nothing off the host.
   */
  async warmUp(timeoutMs = 100): Promise<void> {
    if (this.closed) return;
    const nonce = this.newRequestNonce();
    const key = new Uint8Array(32).fill(1);
    const eid = eidAddress(isIPv6(this.itrRloc) ? '2001:db8::' : '198.18.0.0');
    const record: MappingRecord = { ttl: 1, maskLen: 24, action: 0, authoritative: true, mapVersion: 0, eid: wrapWireguardKey(eid, key), locators: [{ priority: 1, weight: 100, mPriority: 255, mWeight: 0, local: false, probed: false, reachable: true, address: { afi: 'ipv4', address: '198.18.0.1' } }] };
    const bytes = encodeMessage({ type: 'map-reply', probe: false, echoNonceCapable: false, security: false, nonce, records: [record] });
    const { address, port } = this.socket.address();
    const self = address === '0.0.0.0' ? '127.0.0.1' : address === '::' ? '::1' : address;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.warming = { nonce, done };
      this.socket.send(bytes, port, self);
    });
    this.warming = undefined;
  }

  /** Asks the Map-Server for the mapping of `eid` (an address) with one ECM Map-Request. */
  resolve(eid: string, o: ResolveOptions = {}): Promise<Resolution> {
    if (this.closed) return Promise.reject(new LispwgError('CLIENT_CLOSED', 'the control client is closed'));
    const nonce = this.newRequestNonce();
    const bytes = buildEcmMapRequest(eid, nonce, { ...o, itrRloc: this.itrRloc, port: this.local.port, mapServer: this.servers[this.preferred]!.address }).bytes;
    return new Promise<Resolution>((resolve, reject) => {
      const now = performance.now();
      const p: PendingRequest = {
        nonce,
        bytes,
        firstSent: now,
        lastSent: now,
        attempts: 0,
        retries: o.retries ?? this.opts.requestRetries,
        timeoutMs: o.timeoutMs ?? this.opts.requestTimeoutMs,
        timer: undefined,
        resolve,
        reject,
      };
      this.requests.set(nonce, p);
      const k = o.attempt ?? 1;
      if (k > 1) {
        const m = this.serverFor(k - 1);
        this.emit('silent', { ...stamp(), server: { ...m }, sentAt: epochOf(this.lastSentTo.get(m.address) ?? now) });
      }
      this.sendRequest(p, k - 1);
    });
  }

  private newRequestNonce(): bigint {
    let n = randomBytes(8).readBigUInt64BE();
    while (this.requests.has(n)) n = randomBytes(8).readBigUInt64BE();
    return n;
  }

  /** Each attempt goes to the next Map-Server, starting from the one that answered last (a failover costs one timeout). */
  private sendRequest(p: PendingRequest, earlier = 0): void {
    p.attempts++;
    p.lastSent = performance.now();
    const m = this.serverFor(earlier + p.attempts);
    p.server = m;
    this.lastSentTo.set(m.address, p.lastSent);
    this.socket.send(p.bytes, m.port, m.address);
    p.timer = setTimeout(() => {
      this.emit('silent', { ...stamp(), server: { ...m }, sentAt: epochOf(p.lastSent) });
      if (p.attempts <= p.retries) return this.sendRequest(p, earlier);
      this.requests.delete(p.nonce);
      p.reject(new LispwgError('RESOLVE_TIMEOUT', `no Map-Reply from ${this.servers.map(text).join(' or ')} after ${p.attempts} Map-Requests`));
    }, p.timeoutMs);
  }

  /** The Map-Server attempt `k` (from 1) goes to: the k-th from the one that answered last. */
  private serverFor(k: number): Endpoint {
    return this.servers[(this.preferred + k - 1) % this.servers.length]!;
  }

  /** The Map-Servers: which one Map-Requests go to first, and how long ago each acknowledged our registration. */
  get mapServers(): Array<Endpoint & { preferred: boolean; lastNotifyAgoMs?: number }> {
    const now = performance.now();
    return this.servers.map((m, i) => {
      const at = this.lastNotify.get(m.address);
      return { ...m, preferred: i === this.preferred, ...(at !== undefined ? { lastNotifyAgoMs: Math.round(now - at) } : {}) };
    });
  }

  private onMapReply(r: MapReply, from: Endpoint): void {
    const p = this.requests.get(r.nonce);
    if (!p) {
      this.drop('unknown-nonce', from);
      return;
    }
    clearTimeout(p.timer);
    this.requests.delete(r.nonce);
    this.preferred = this.servers.findIndex((m) => m.address === from.address);
    const now = performance.now();
    p.resolve({ ...stamp(), nonce: r.nonce, records: r.records, rttMs: now - p.lastSent, elapsedMs: now - p.firstSent, attempts: p.attempts });
  }

  // --- incoming ---------------------------------------------------------------------------------

  private onDatagram(buf: Buffer, from: Endpoint): void {
    let msg;
    try {
      msg = decodeMessage(buf);
    } catch (e) {
      if (e instanceof LispDecodeError) return this.drop('malformed', from);
      throw e;
    }
    if (msg.type !== 'map-reply' && msg.type !== 'map-notify') return this.drop('unexpected', from);
    if (msg.type === 'map-reply' && msg.nonce === this.warming?.nonce) return this.warming.done();
    // only the Map-Servers speak to us (through the tunnel, when there is one)
    if (!this.servers.some((m) => m.address === from.address)) return this.drop('wrong-source', from);
    if (msg.type === 'map-reply') return this.onMapReply(msg, from);
    if (!this.site) return this.drop('no-site-key', from);
    // the packet names its key ID: one we are not configured for is refused, not verified with
    if (msg.keyId !== this.site.keyId) return this.drop('wrong-key-id', from);
    try {
      verifyMessage(buf, this.site.key);
    } catch (e) {
      if (e instanceof LispAuthError) return this.drop('bad-hmac', from);
      throw e;
    }
    if (this.regNonces.has(msg.nonce)) return this.onRegisterNotify(msg, from);
    this.onPushedNotify(msg, from);
  }

  private onPushedNotify(n: MapNotify, from: Endpoint): void {
    const sendAck = (): void => {
      if (this.closed) return;
      const ack = signMessage(
        { type: 'map-notify-ack', nonce: n.nonce, keyId: this.site!.keyId, authData: new Uint8Array(0), records: n.records, ...(n.xtrId ? { xtrId: n.xtrId } : {}), ...(n.siteId !== undefined ? { siteId: n.siteId } : {}) },
        this.site!.keyId,
        this.site!.key,
      );
      this.socket.send(ack, from.port, from.address);
    };
    const now = performance.now();
    // each Map-Server's nonces come from its own clock: a push is known by server and nonce
    const id = `${from.address}|${n.nonce}`;
    const seen = this.recentPushes.get(id);
    if (seen && now - seen.at < RETRANSMISSION_MS) {
      void seen.handled.then(sendAck); // a retransmission: acknowledged again (once handled), applied once
      return;
    }
    let window = this.pushWindows.get(from.address);
    if (!window) this.pushWindows.set(from.address, (window = new ReplayWindow(PUSH_WINDOW, this.nonceFreshnessMs)));
    const verdict = window.check(n.nonce);
    if (verdict !== 'fresh') return this.drop(verdict, from);
    window.accept(n.nonce);
    const s = stamp();
    this.emit('map-notify', { ...s, notify: n, from });
    const events: Array<MappingEvent | WithdrawnEvent> = [];
    for (const record of n.records) {
      const eid = eidOf(record.eid);
      if (!eid || record.maskLen > familyBits(eid.family)) continue;
      const prefix = prefixOf(eid.instanceId, eid.family, eid.address, record.maskLen);
      let key: Uint8Array | undefined;
      try {
        key = recordKey(record); // the revoked key of a withdrawal, or the key carried
      } catch {
        key = undefined;
      }
      const e = record.locators.length === 0 || record.ttl === 0 ? { ...s, prefix, key, from } : { ...s, prefix, record, key, from };
      events.push(e as MappingEvent | WithdrawnEvent);
      if ('record' in e) this.emit('mapping', e as MappingEvent);
      else this.emit('withdrawn', e as WithdrawnEvent);
    }
    const handled = this.onPush ? boundedWait(this.onPush(events), this.pushAckBoundMs) : Promise.resolve();
    // insertion order is arrival order: the front is the oldest
    for (const [key, p] of this.recentPushes) {
      if (now - p.at < RETRANSMISSION_MS && this.recentPushes.size < RECENT_PUSHES) break;
      this.recentPushes.delete(key);
    }
    this.recentPushes.set(id, { handled, at: now });
    void handled.then(sendAck);
  }

  private drop(reason: DropEvent['reason'], from: Endpoint): void {
    this.drops[reason]++;
    this.emit('drop', { ...stamp(), reason, from });
  }

  /** Stops every timer and closes the socket (pending resolutions reject). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopRegistering();
    for (const p of this.requests.values()) {
      clearTimeout(p.timer);
      p.reject(new LispwgError('CLIENT_CLOSED', 'the control client was closed'));
    }
    this.requests.clear();
    for (const w of this.regWaiters.splice(0)) w.reject(new LispwgError('CLIENT_CLOSED', 'the control client was closed'));
    await new Promise<void>((r) => this.socket.close(() => r()));
  }
}

/** The client's socket: bound to `device` when given (SO_BINDTODEVICE before bind), else to the address or the wildcard. */
function openSocket(o: Pick<ControlClientOptions, 'mapServer' | 'localAddress' | 'device'>, port: number): Promise<dgram.Socket> {
  const address = o.localAddress ?? (isIPv6(o.mapServer.address) ? '::' : '0.0.0.0');
  return openUdpSocket({ address, port, ...(o.device ? { device: o.device } : {}) });
}

function ipAddress(text: string): Address {
  return isIPv6(text) ? { afi: 'ipv6', address: text } : { afi: 'ipv4', address: text };
}

/**
 * An ECM Map-Request for `eid` as lig builds it: ITR-RLOC = `itrRloc`, inner IP source = it and
 * inner UDP source port = `port` (the Map-Server answers there, as OOR's does; lig-lispmob listens
 * on 4342 instead, whatever its `-p`), inner destination = the EID.
 * Returns the bytes and the offset of the nonce in them (a flood re-sends one request with new
 * nonces).
 */
export function buildEcmMapRequest(
  eid: string,
  nonce: bigint,
  o: ResolveOptions & { itrRloc: string; port: number; mapServer: string },
): { bytes: Buffer; nonceOffset: number; checksumOffset: number } {
  const iid = o.iid ?? 0;
  const family = isIPv6(eid) ? 'ipv6' : 'ipv4';
  const req: MapRequest = {
    type: 'map-request',
    authoritative: false,
    mapDataPresent: false,
    probe: false,
    smr: false,
    pitr: false,
    smrInvoked: false,
    nonce,
    sourceEid: o.sourceEid ? eidAddress(o.sourceEid, iid) : { afi: 'none' },
    itrRlocs: [ipAddress(o.itrRloc)],
    records: [{ maskLen: familyBits(family), eid: eidAddress(eid, iid) }],
  };
  const sameFamily = isIPv6(o.itrRloc) === (family === 'ipv6');
  const bytes = encodeMessage({
    type: 'ecm',
    security: false,
    ddt: false,
    // the inner header's families must agree: an EID of the other family is replaced by the Map-Server's address
    inner: { source: o.itrRloc, destination: sameFamily ? eid : o.mapServer, sourcePort: o.port, destinationPort: LISP_CONTROL_PORT, ttl: 64 },
    message: req,
  });
  const nonceOffset = bytes.length - encodingLength(req) + 4;
  // the Map-Request follows its inner UDP header at once: the checksum is 2 bytes before it
  return { bytes, nonceOffset, checksumOffset: nonceOffset - 4 - 2 };
}

/** The local address the kernel picks to reach `address` (a connected UDP socket, no packet sent). */
export async function localAddressTowards(address: string, port: number): Promise<string> {
  const s = dgram.createSocket(isIPv6(address) ? 'udp6' : 'udp4');
  try {
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.connect(port, address, () => resolve());
    });
    return s.address().address;
  } catch (e) {
    throw new LispwgError('NO_ROUTE', `no route to the Map-Server ${address}: ${(e as Error).message}`);
  } finally {
    s.close();
  }
}
