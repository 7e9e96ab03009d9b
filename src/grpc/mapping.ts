/**
 * A gRPC Mapping and a LISP mapping record carry the same facts: converting between them lets the
 * gRPC front serve records straight from the Map-Server's registry, and lets the agent install
 * what gRPC resolved exactly as it installs a Map-Reply.
 */
import { eidAddress, eidOf, recordKey, wrapWireguardKey, type Address, type Locator, type MappingRecord } from '../lisp/index.js';
import { LispwgError } from '../util/errors.js';
import { canonicalIp, familyBits, ipFamily } from '../ip/ip.js';
import type { MappingMsg } from './proto.js';

/** A locator from the wire, in canonical text (as a decoded Map-Reply would carry it). */
function ip(a: string): Address {
  const afi = ipFamily(a);
  if (!afi) throw new LispwgError('GRPC_BAD_MAPPING', `locator '${a}' is not an IP address`);
  return { afi, address: canonicalIp(a) };
}

export function recordToMapping(r: MappingRecord): MappingMsg {
  const eid = eidOf(r.eid);
  if (!eid) throw new LispwgError('GRPC_BAD_MAPPING', 'a mapping record without an IP EID cannot be sent over gRPC');
  const key = recordKey(r);
  return {
    prefix: { instanceId: eid.instanceId, address: eid.address, maskLen: r.maskLen },
    locators: r.locators.flatMap((l) => (l.address.afi === 'ipv4' || l.address.afi === 'ipv6' ? [{ address: l.address.address, priority: l.priority, weight: l.weight }] : [])),
    wireguardKey: key ? Buffer.from(key) : Buffer.alloc(0),
    ttlMinutes: r.ttl,
    action: r.action,
  };
}

export function mappingToRecord(m: MappingMsg): MappingRecord {
  const p = m.prefix;
  const afi = p && ipFamily(p.address);
  if (!p || !afi) throw new LispwgError('GRPC_BAD_MAPPING', `a gRPC mapping without a valid EID prefix (${JSON.stringify(p)})`);
  const bits = familyBits(afi);
  if (p.maskLen > bits) throw new LispwgError('GRPC_BAD_MAPPING', `mask length ${p.maskLen} > ${bits} in a gRPC mapping`);
  const inner = eidAddress(canonicalIp(p.address), p.instanceId);
  const locators: Locator[] = m.locators.map((l) => ({ priority: l.priority, weight: l.weight, mPriority: 255, mWeight: 0, local: false, probed: false, reachable: true, address: ip(l.address) }));
  return {
    ttl: m.ttlMinutes,
    maskLen: p.maskLen,
    action: m.action,
    authoritative: false,
    mapVersion: 0,
    eid: m.wireguardKey.length ? wrapWireguardKey(inner, new Uint8Array(m.wireguardKey)) : inner,
    locators,
  };
}
