import { describe, expect, it } from 'vitest';
import { inotifyLimitFor, neighbourLimitsFor, wireguardGoCount } from './host-limits.js';
import { neighbourBound } from './reach.js';
import { meshTopology } from './topology/mesh.js';

describe('host limits a lab needs', () => {
  it('counts the wireguard-go processes: one per Map-Server, two per site, none without daemons or with the kernel module', () => {
    const m = meshTopology({ sites: 10, mns: 200 }).build();
    expect(wireguardGoCount(m, true, true)).toBe(401);
    expect(wireguardGoCount(m, false, true)).toBe(0);
    expect(wireguardGoCount(m, true, false)).toBe(0);
  });

  it('raises the inotify limit only when the lab would not fit, with room to spare', () => {
    // Debian's 128, a few in use: mesh-50's 101 wireguard-go fit, a 200-site lab's 401 do not
    expect(inotifyLimitFor(0, 5, 128)).toBeUndefined();
    expect(inotifyLimitFor(101, 5, 128)).toBeUndefined();
    expect(inotifyLimitFor(401, 5, 128)).toBe(5 + 401 + 128);
    expect(inotifyLimitFor(120, 5, 128)).toBe(253); // would leave less than 16 for everyone else
  });

  it('bounds the neighbour entries of a lab by its L2 segments, and raises the kernel table only past its hard maximum', () => {
    // a site of 20 MNs and its gateway on one switch: 21 x 20 entries; the Map-Server's link: 2
    expect(neighbourBound(meshTopology({ sites: 10, mns: 200 }).build())).toEqual({ ipv4: 10 * 21 * 20 + 2, ipv6: 0 });
    expect(neighbourBound(meshTopology().build()).ipv4).toBe(5 * 11 * 10 + 2);
    // Linux's 1024: mesh-50's 552 fit, the 200-node mesh's 4202 do not
    expect(neighbourLimitsFor(552, 13, 1024)).toBeUndefined();
    expect(neighbourLimitsFor(4202, 13, 1024)).toEqual({ gcThresh2: 2620, gcThresh3: 13 + 4202 + 1024 });
    expect(neighbourLimitsFor(0, 2000, 1024)).toBeUndefined();
  });
});
