/**
 * `lispwg query --rate`: every flooded Map-Request must be a valid datagram (the Map-Server, like
 * OOR, drops an ECM whose inner UDP checksum fails), and be answered.
 */
import { afterEach, expect, it, vi } from 'vitest';
import { MapServer } from '../ms/server.js';
import { parseConfig } from '../ms/config.js';
import { createLogger } from '../util/log.js';
import { main } from './query.js';

const servers: MapServer[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const s of servers.splice(0)) await s.close();
});

it('--rate floods valid ECMs (inner UDP checksum rewritten with each nonce): all answered, none dropped', async () => {
  const ms = new MapServer(
    parseConfig(`listen: 127.0.0.1
port: 0
rate-limit: { rate: 0 }
static:
  - { prefix: 198.18.9.0/24, rlocs: [{ address: 198.19.0.9 }] }`),
    { logger: createLogger({}, { level: 'error' }) },
  );
  servers.push(ms);
  const [ep] = await ms.start();
  let out = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((out += String(s)), true));
  expect(await main(['--ms', `127.0.0.1:${ep!.port}`, '198.18.9.1', '--rate', '2000', '--count', '400', '--json'])).toBe(0);
  vi.restoreAllMocks();
  const summary = JSON.parse(out.trim().split('\n').at(-1)!);
  expect(ms.counters.get('drop-bad-checksum')).toBe(0);
  expect(ms.counters.get('tx-map-reply')).toBe(400);
  expect(summary).toMatchObject({ sent: 400, received: 400, lost: 0 });
});
