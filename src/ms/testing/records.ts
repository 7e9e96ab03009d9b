/**
 * The mapping record the Map-Server tests register: one IPv4 locator (priority 1, weight 100,
 * L and R set, as an xTR sends it), a WireGuard key when given. Test tooling.
 */
import { Action, eidAddress, wrapWireguardKey, type MappingRecord } from '../../lisp/index.js';

export function siteRecord(eid: string, maskLen: number, rloc: string, key?: Uint8Array, ttl = 10): MappingRecord {
  const e = eidAddress(eid);
  return {
    ttl,
    maskLen,
    action: Action.NoAction,
    authoritative: true,
    mapVersion: 0,
    eid: key ? wrapWireguardKey(e, key) : e,
    locators: [{ priority: 1, weight: 100, mPriority: 255, mWeight: 0, local: true, probed: false, reachable: true, address: { afi: 'ipv4', address: rloc } }],
  };
}
