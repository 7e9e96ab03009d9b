import { describe, expect, it } from 'vitest';
import { inotifyLimitFor, wireguardGoCount } from './host-limits.js';
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
});
