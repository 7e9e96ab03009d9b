/**
 * EIDs as a daemon sees them: an IP address in an instance (virtual network), whatever LCAFs the
 * wire wraps it in (Security Key, Instance ID), and back.
 */
import type { Address } from './types.js';
import { ipFamily, type IpFamily } from '../ip/ip.js';
import { MAX_LCAF_DEPTH } from './address.js';
import { LispEncodeError } from './errors.js';

export interface Eid {
  /** The Instance ID (0 when the address carries none). */
  instanceId: number;
  family: IpFamily;
  address: string;
}

/**
 * The IP address and Instance ID inside `a`, unwrapping Security Key and Instance ID LCAFs;
 * undefined when there is no IP address inside (AFI none, a MAC, AFI list, unknown LCAF).
 */
export function eidOf(a: Address): Eid | undefined {
  let instanceId = 0;
  for (let depth = 0; depth <= MAX_LCAF_DEPTH; depth++) {
    switch (a.afi) {
      case 'ipv4':
      case 'ipv6':
        return { instanceId, family: a.afi, address: a.address };
      case 'none':
      case 'mac':
        return undefined;
      case 'lcaf':
        if (a.lcaf.type === 'instance-id') instanceId = a.lcaf.instanceId;
        else if (a.lcaf.type !== 'security-key') return undefined;
        a = a.lcaf.address;
    }
  }
  return undefined;
}

/**
 * The wire form of an EID: the plain IP address in instance 0 (as OOR sends it with iid = 0),
 * wrapped in an Instance ID LCAF otherwise.
 */
export function eidAddress(address: string, instanceId = 0): Address {
  const family = ipFamily(address);
  if (!family) throw new LispEncodeError(`EID '${address}' is not an IPv4 or IPv6 address`);
  const ip: Address = family === 'ipv4' ? { afi: 'ipv4', address } : { afi: 'ipv6', address };
  if (instanceId === 0) return ip;
  return { afi: 'lcaf', lcaf: { type: 'instance-id', instanceId, iidMaskLen: 0, address: ip } };
}
