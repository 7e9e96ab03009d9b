/**
 * GrpcMapResolver: the gRPC front of the Map-Server. It answers from the same mapping database as
 * the LISP side (a MappingSource over the MapServer's registry) and pushes like it does:
 *
 *   Resolve(eid, source_eid) -> if source_eid is the caller's and the destination's agent is
 *   watching: Push(the caller's mapping) on the destination's Watch stream, wait for its PushAck
 *   (at most pushWaitMs, like the LISP side's push-then-reply) -> reply with the mapping.
 *
 * The caller is who its control address says it is: the front listens inside the control
 * WireGuard tunnel, where a peer can only send from its own allowed IPs. A push goes out only
 * when the caller's source EID was registered from that same control address.
 */
import * as grpc from '@grpc/grpc-js';
import type { MappingRecord } from '../lisp/index.js';
import { ipFamily, type IpFamily } from '../ip/ip.js';
import { LispwgError } from '../util/errors.js';
import { createLogger, type Logger } from '../util/log.js';
import { recordToMapping } from './mapping.js';
import { mapResolverService, type PushAckMsg, type PushMsg, type ResolveReplyMsg, type ResolveRequestMsg } from './proto.js';

/** What the front needs from the Map-Server's database. */
export interface MappingSource {
  /** The registration covering an EID: its record and the control address it registered from. */
  lookup(iid: number, afi: IpFamily, address: string): { record: MappingRecord; controlAddress: string | undefined } | undefined;
  /** The negative record the Map-Server answers with for an EID nothing covers. */
  negative(iid: number, afi: IpFamily, address: string): MappingRecord;
  /** How long a reply waits for the push's ack (the Map-Server's push.wait). */
  pushWaitMs(): number;
}

export interface GrpcServerOptions {
  /** Address to listen on: the Map-Server's control address (inside the tunnel). */
  address: string;
  port: number;
  log?: Logger;
}

type WatchCall = grpc.ServerDuplexStream<PushAckMsg, PushMsg>;

/**
 * The address in a grpc-js peer string: `100.100.0.2:4711`, `::ffff:100.100.0.2:4711`,
 * `[2001:db8::2]:4711`, with or without an `ipv4:` / `ipv6:` scheme; IPv4-mapped as IPv4.
 */
export function peerAddress(peer: string): string {
  let s = peer.replace(/^ipv[46]:/, '');
  const bracket = /^\[([^\]]+)\]:\d+$/.exec(s);
  if (bracket) s = bracket[1]!;
  else {
    const colon = s.lastIndexOf(':');
    if (colon > 0 && /^\d+$/.test(s.slice(colon + 1)) && ipFamily(s.slice(0, colon))) s = s.slice(0, colon);
  }
  return /^::ffff:[\d.]+$/i.test(s) ? s.slice(7) : s;
}

export class GrpcMapResolver {
  private readonly watchers = new Map<string, WatchCall>();
  private readonly acks = new Map<number, () => void>();
  private nextId = 1;
  readonly stats = { resolves: 0, negative: 0, pushes: 0, pushAcked: 0, pushTimedOut: 0, watchers: 0 };

  private constructor(
    private readonly server: grpc.Server,
    readonly port: number,
    private readonly source: MappingSource,
    private readonly log: Logger,
  ) {}

  static async start(source: MappingSource, opts: GrpcServerOptions): Promise<GrpcMapResolver> {
    const server = new grpc.Server();
    const log = (opts.log ?? createLogger()).child({ component: 'grpc' });
    let self: GrpcMapResolver | undefined;
    server.addService(mapResolverService(), {
      Resolve: (call: grpc.ServerUnaryCall<ResolveRequestMsg, ResolveReplyMsg>, cb: grpc.sendUnaryData<ResolveReplyMsg>) => {
        self!.resolve(call.request, peerAddress(call.getPeer())).then(
          (r) => cb(null, r),
          (e: Error) => cb({ code: e instanceof LispwgError && e.code === 'GRPC_BAD_REQUEST' ? grpc.status.INVALID_ARGUMENT : grpc.status.INTERNAL, details: e.message }),
        );
      },
      Watch: (call: WatchCall) => self!.watch(call),
    });
    const host = ipFamily(opts.address) === 'ipv6' ? `[${opts.address}]` : opts.address;
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`${host}:${opts.port}`, grpc.ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(new LispwgError('GRPC_LISTEN', `the gRPC front cannot listen on ${host}:${opts.port}: ${err.message}`)) : resolve(p),
      ),
    );
    self = new GrpcMapResolver(server, port, source, log);
    log.info('gRPC front listening', { address: opts.address, port });
    return self;
  }

  private async resolve(req: ResolveRequestMsg, caller: string): Promise<ResolveReplyMsg> {
    const afi = ipFamily(req.eid);
    if (!afi) throw new LispwgError('GRPC_BAD_REQUEST', `eid '${req.eid}' is not an IP address`);
    this.stats.resolves++;
    const found = this.source.lookup(req.instanceId, afi, req.eid);
    if (!found) {
      this.stats.negative++;
      return { mappings: [recordToMapping(this.source.negative(req.instanceId, afi, req.eid))] };
    }
    const srcAfi = req.sourceEid ? ipFamily(req.sourceEid) : undefined;
    const requester = srcAfi ? this.source.lookup(req.instanceId, srcAfi, req.sourceEid) : undefined;
    const dest = found.controlAddress ? this.watchers.get(found.controlAddress) : undefined;
    if (requester && requester.controlAddress === caller && dest && found.controlAddress !== caller) {
      await this.push(dest, requester.record);
    }
    return { mappings: [recordToMapping(found.record)] };
  }

  /** Pushes `record` on a Watch stream; resolves on its ack or after pushWaitMs. */
  private push(dest: WatchCall, record: MappingRecord): Promise<void> {
    const id = this.nextId++;
    this.stats.pushes++;
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.acks.delete(id);
        this.stats.pushTimedOut++;
        resolve();
      }, this.source.pushWaitMs());
      this.acks.set(id, () => {
        clearTimeout(timer);
        this.stats.pushAcked++;
        resolve();
      });
      dest.write({ id, mapping: recordToMapping(record) });
    });
  }

  private watch(call: WatchCall): void {
    const who = peerAddress(call.getPeer());
    this.watchers.get(who)?.end(); // one stream per agent: the newest wins
    this.watchers.set(who, call);
    this.stats.watchers = this.watchers.size;
    this.log.info('agent watching', { peer: who });
    call.on('data', (ack: PushAckMsg) => {
      const done = this.acks.get(ack.id);
      this.acks.delete(ack.id);
      done?.();
    });
    const gone = () => {
      if (this.watchers.get(who) === call) this.watchers.delete(who);
      this.stats.watchers = this.watchers.size;
    };
    call.on('end', () => {
      gone();
      call.end();
    });
    call.on('cancelled', gone);
    call.on('error', gone);
  }

  async close(): Promise<void> {
    for (const w of this.watchers.values()) w.end();
    this.watchers.clear();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, 1000);
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
