/**
 * The gRPC front of a running Map-Server: the MappingSource over its database (the same
 * registrations, negative records and push wait the LISP side uses), and where the front listens:
 * the Map-Server's control address, inside the control tunnel, as the LISP control messages do.
 */
import type { MapServer } from '../ms/server.js';
import type { MsConfig } from '../ms/config.js';
import type { Logger } from '../util/log.js';
import { GRPC_PORT } from './proto.js';
import { GrpcMapResolver, type MappingSource } from './server.js';

function mapServerSource(ms: MapServer): MappingSource {
  return {
    lookup: (iid, afi, address) => {
      const m = ms.lookupMapping(iid, afi, address);
      return m && { record: m.record, controlAddress: m.source?.address };
    },
    negative: (iid, afi, address) => ms.negativeRecord(iid, afi, address),
    pushWaitMs: () => ms.pushWaitMs,
  };
}

/** Starts the gRPC front beside `ms`: on the control tunnel's address when there is one, else on every address. */
export function startGrpcFront(ms: MapServer, config: MsConfig, opts: { port?: number; log?: Logger } = {}): Promise<GrpcMapResolver> {
  const address = config.controlTunnel ? config.controlTunnel.address.split('/')[0]! : '::';
  return GrpcMapResolver.start(mapServerSource(ms), { address, port: opts.port ?? GRPC_PORT, ...(opts.log ? { log: opts.log } : {}) });
}
