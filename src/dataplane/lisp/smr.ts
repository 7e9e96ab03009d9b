/**
 * Solicit-Map-Request (RFC 9301 section 6.1, RFC 6830 6.6.2): how a plain LISP site tells the
 * ITRs that cache its mapping that the mapping changed (its RLOC moved). The site sends each RLOC
 * in its map-cache a Map-Request with the S bit, its own EID as source EID and the peer's EID
 * prefix as the record, to UDP 4342 of that RLOC. A receiver does not believe the SMR (it is not
 * authenticated): it only asks the mapping system again for the SMR's source EID, with an
 * SMR-invoked (s bit) Map-Request, and replaces its entry with what the Map-Server says.
 *
 * SmrEndpoint is both sides: solicit() sends, and 'smr' handlers get each received SMR's source
 * EID, at most once per EID per `holdDownMs` (RFC 9301: SMRs must be rate-limited), so a flood
 * of forged SMRs costs the Map-Server at most one request per EID and interval. The hold-down
 * remembers `holdDownEntries` EIDs at most: when it is full of EIDs still held, an SMR for a new
 * one is dropped (`full`), never let through by forgetting the others.
 *
 * RLOC probes (RFC 9301 section 7.1) arrive on the same port: a Map-Request with the P bit and one
 * EID-Record. Given `records` (the site's records now), the endpoint answers with a Map-Reply with
 * the P bit and the request's nonce, carrying our record for the prefix asked (OOR looks the
 * record's prefix up exactly in its map-cache), sent from 4342 to the request's UDP source address
 * and port. RFC 9301 names the ITR-RLOC; OOR sends its probes from its ITR-RLOC, and answering
 * only the source means a probe cannot aim our reply at a third party (the threat model's rule for
 * strangers). The probed locator gets the p bit when the
 * record has one locator of that family; with several the socket (bound to the wildcard address)
 * cannot tell which was probed, and the prober falls back to the reply's source address. Replies
 * are bounded by a token bucket (`probeRepliesPerSecond`): a flood of probes (the source address
 * is not checked, as the reply reveals only the registered mapping) costs at most that much.
 */
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import { decodeMessage, eidAddress, eidOf, encodeMessage, LISP_CONTROL_PORT, type Address, type MapReply, type MappingRecord, type MapRequest } from '../../lisp/index.js';
import { familyBits } from '../../ip/ip.js';
import { eidPrefixContains, makeEidPrefix, type EidPrefix } from '../../mapping/eid.js';
import { LispwgError } from '../../util/errors.js';
import { createLogger, type Logger } from '../../util/log.js';
import { HoldDown } from './hold-down.js';

export interface SmrEvent {
  /** The EID whose mapping changed (the SMR's source EID). */
  eid: string;
  instanceId: number;
  /** Who sent it (not trusted: only a reason to ask the Map-Server). */
  from: { address: string; port: number };
  /** performance.now() at reception. */
  t: number;
}

export interface SmrEndpointOptions {
  /** Local addresses to receive SMRs on (default 0.0.0.0 and ::). */
  listen?: string[];
  /** The control port at every RLOC (4342). */
  port?: number;
  /** An EID's SMRs are passed on at most once per this interval (ms, default 1000). */
  holdDownMs?: number;
  /** EIDs the hold-down remembers at most (default 4096). */
  holdDownEntries?: number;
  /** The site's records now (what an RLOC probe is answered with); without it probes are ignored. */
  records?: () => readonly MappingRecord[];
  /** RLOC-probe replies per second at most, in bursts of as many (default 100). */
  probeRepliesPerSecond?: number;
  log?: Logger;
}

/** The SMR for one peer: S bit, our EID as source, the peer's prefix as the record. */
export function smrMessage(ourEid: string, instanceId: number, itrRloc: string, peer: EidPrefix): MapRequest {
  return {
    type: 'map-request',
    authoritative: false,
    mapDataPresent: false,
    probe: false,
    smr: true,
    pitr: false,
    smrInvoked: false,
    nonce: randomBytes(8).readBigUInt64BE(),
    sourceEid: eidAddress(ourEid, instanceId),
    itrRlocs: [ipAddress(itrRloc)],
    records: [{ maskLen: peer.maskLen, eid: eidAddress(peer.address, peer.iid) }],
  };
}

/** Why a probe goes unanswered: more or fewer than one EID-Record, none of our records covers it. */
export type ProbeRefusal = 'probe-malformed' | 'probe-unknown-eid';

/**
 * The answer to an RLOC probe received on a socket of `family` (RFC 9301 section 7.1): our record
 * covering the EID-Record asked (P bit, nonce echoed, our locators with the L bit; p on the probed
 * one when it is the only one of `family`).
 */
export function probeReply(req: MapRequest, records: readonly MappingRecord[], family: 'ipv4' | 'ipv6'): MapReply | ProbeRefusal {
  const asked = req.records.length === 1 ? prefixOf(req.records[0]!.eid, req.records[0]!.maskLen) : undefined;
  if (!asked) return 'probe-malformed';
  const ours = records.find((r) => {
    const p = prefixOf(r.eid, r.maskLen);
    return p !== undefined && eidPrefixContains(p, asked);
  });
  if (!ours) return 'probe-unknown-eid';
  const sameFamily = ours.locators.filter((l) => l.address.afi === family);
  const probed = sameFamily.length === 1 ? sameFamily[0] : undefined;
  const record: MappingRecord = { ...ours, locators: ours.locators.map((l) => ({ ...l, local: true, probed: l === probed })) };
  return { type: 'map-reply', probe: true, echoNonceCapable: false, security: false, nonce: req.nonce, records: [record] };
}

function prefixOf(a: Address, maskLen: number): EidPrefix | undefined {
  const e = eidOf(a);
  if (!e || maskLen > familyBits(e.family)) return undefined;
  return makeEidPrefix(e.family, e.address, maskLen, e.instanceId);
}

function ipAddress(a: string): Address {
  if (isIPv4(a)) return { afi: 'ipv4', address: a };
  if (isIPv6(a)) return { afi: 'ipv6', address: a };
  throw new LispwgError('BAD_ADDRESS', `'${a}' is not an IP address`);
}

export class SmrEndpoint {
  private readonly handlers: Array<(e: SmrEvent) => void> = [];
  /** SMRs received / passed on / dropped by the hold-down / dropped, the hold-down full / neither SMRs nor probes, or malformed. */
  readonly stats = { received: 0, passed: 0, held: 0, full: 0, ignored: 0, sent: 0 };
  /** RLOC probes received / answered / unanswered by reason (the rate bound: `probe-rate-limited`). */
  readonly probeStats = { 'probe-received': 0, 'probe-answered': 0, 'probe-rate-limited': 0, 'probe-malformed': 0, 'probe-unknown-eid': 0 };
  private probeTokens: number;
  private probeTokensAt = performance.now();

  private constructor(
    private readonly sockets: Map<4 | 6, dgram.Socket>,
    private readonly port: number,
    private readonly holdDown: HoldDown,
    private readonly log: Logger,
    private readonly records: (() => readonly MappingRecord[]) | undefined,
    private readonly probeRate: number,
  ) {
    this.probeTokens = probeRate;
    for (const [family, s] of sockets) s.on('message', (m, r) => this.receive(m, r, family, s));
  }

  static async open(opts: SmrEndpointOptions = {}): Promise<SmrEndpoint> {
    const port = opts.port ?? LISP_CONTROL_PORT;
    const sockets = new Map<4 | 6, dgram.Socket>();
    const log = (opts.log ?? createLogger()).child({ component: 'smr' });
    try {
      for (const address of opts.listen ?? ['0.0.0.0', '::']) {
        const family = isIPv4(address) ? 4 : isIPv6(address) ? 6 : undefined;
        if (!family) throw new LispwgError('BAD_ADDRESS', `SMR listen address '${address}' is not an IP address`);
        const s = dgram.createSocket({ type: family === 4 ? 'udp4' : 'udp6', ipv6Only: family === 6 });
        sockets.set(family, s);
        await new Promise<void>((resolve, reject) => {
          s.once('error', (e: NodeJS.ErrnoException) =>
            reject(new LispwgError(e.code === 'EADDRINUSE' ? 'CONTROL_PORT_IN_USE' : 'SMR_SOCKET', `cannot receive SMRs on ${address} port ${port}: ${e.message}`)),
          );
          s.bind(port, address, () => resolve());
        });
        s.on('error', (e) => log.warn('SMR socket error', { error: e.message }));
      }
    } catch (e) {
      for (const s of sockets.values()) s.close();
      throw e;
    }
    const rate = opts.probeRepliesPerSecond ?? 100;
    if (!Number.isInteger(rate) || rate < 1) throw new LispwgError('BAD_LIMIT', `probe replies per second must be a positive integer, not ${rate}`);
    return new SmrEndpoint(sockets, port, new HoldDown(opts.holdDownMs ?? 1000, opts.holdDownEntries ?? 4096), log, opts.records, rate);
  }

  onSmr(handler: (e: SmrEvent) => void): void {
    this.handlers.push(handler);
  }

  /**
   * Sends an SMR to each peer RLOC for each of its prefixes: `ourEid` is the EID whose mapping
   * changed, `itrRloc` our (new) RLOC. Returns how many were sent.
   */
  solicit(peers: ReadonlyArray<{ rloc: string; prefix: EidPrefix }>, ourEid: string, instanceId: number, itrRloc: string): number {
    let n = 0;
    for (const p of peers) {
      const s = this.sockets.get(isIPv4(p.rloc) ? 4 : 6);
      if (!s) continue;
      s.send(encodeMessage(smrMessage(ourEid, instanceId, itrRloc, p.prefix)), this.port, p.rloc, (err) => {
        if (err) this.log.warn('SMR not sent', { to: p.rloc, error: err.message });
      });
      n++;
    }
    this.stats.sent += n;
    this.log.info('sent Solicit-Map-Requests', { count: n, eid: ourEid, rloc: itrRloc });
    return n;
  }

  private receive(msg: Buffer, from: dgram.RemoteInfo, family: 4 | 6, socket: dgram.Socket): void {
    let m;
    try {
      m = decodeMessage(msg);
    } catch {
      this.stats.ignored++;
      return;
    }
    if (m.type === 'map-request' && m.probe && this.records) return this.probe(m, from, family, socket);
    const eid = m.type === 'map-request' && m.smr ? eidOf(m.sourceEid) : undefined;
    if (!eid) {
      this.stats.ignored++;
      return;
    }
    this.stats.received++;
    const key = `${eid.instanceId}/${eid.address}`;
    const t = performance.now();
    const verdict = this.holdDown.take(key, t);
    if (verdict !== 'pass') {
      this.stats[verdict]++;
      return;
    }
    this.stats.passed++;
    const e: SmrEvent = { eid: eid.address, instanceId: eid.instanceId, from: { address: from.address, port: from.port }, t };
    this.log.info('Solicit-Map-Request received', { eid: eid.address, from: from.address });
    for (const h of this.handlers) h(e);
  }

  private probe(req: MapRequest, from: dgram.RemoteInfo, family: 4 | 6, socket: dgram.Socket): void {
    this.probeStats['probe-received']++;
    const now = performance.now();
    this.probeTokens = Math.min(this.probeRate, this.probeTokens + ((now - this.probeTokensAt) * this.probeRate) / 1000);
    this.probeTokensAt = now;
    if (this.probeTokens < 1) {
      this.probeStats['probe-rate-limited']++;
      return;
    }
    this.probeTokens--;
    const answer = probeReply(req, this.records!(), family === 4 ? 'ipv4' : 'ipv6');
    if (typeof answer === 'string') {
      this.probeStats[answer]++;
      this.log.debug('RLOC probe not answered', { from: from.address, reason: answer });
      return;
    }
    this.probeStats['probe-answered']++;
    socket.send(encodeMessage(answer), from.port, from.address, (err) => {
      if (err) this.log.warn('RLOC-probe reply not sent', { to: from.address, error: err.message });
    });
  }

  close(): void {
    for (const s of this.sockets.values()) s.close();
    this.sockets.clear();
  }
}
