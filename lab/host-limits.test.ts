import { describe, expect, it } from 'vitest';
import { ensureInotifyInstances, wireguardGoCount } from './host-limits.js';
import { meshTopology } from './topology/mesh.js';

describe('host limits a lab needs', () => {
  it('counts the wireguard-go processes: one per Map-Server, two per site, none without daemons or with the kernel module', () => {
    const m = meshTopology({ sites: 10, mns: 200 }).build();
    expect(wireguardGoCount(m, true, true)).toBe(401);
    expect(wireguardGoCount(m, false, true)).toBe(0);
    expect(wireguardGoCount(m, true, false)).toBe(0);
  });

  it('changes nothing when there is room', async () => {
    expect(await ensureInotifyInstances(0, 'nothing')).toBeUndefined();
    expect(await ensureInotifyInstances(1, 'one wireguard-go')).toBeUndefined();
  });
});
