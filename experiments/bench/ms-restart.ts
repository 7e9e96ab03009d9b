/**
 * How soon a restarted Map-Server serves what it had: N registrations (default 100 000, each
 * also refreshed once, as a journal holds them after a minute) are written to an embedded store
 * journal, then a MapServer is started on it and asked for one of them. Prints the load time
 * (journal read, replayed, put into the registry), the time until the sockets listen, until the
 * first answer, and the journal size. Usage: npm run bench:ms-restart [-- N]
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ControlClient } from '../../src/control/client.js';
import { parseConfig } from '../../src/ms/config.js';
import { encodeReply } from '../../src/ms/registry.js';
import { MapServer } from '../../src/ms/server.js';
import { EmbeddedStore, emptySource } from '../../src/ms/store.js';
import { siteRecord } from '../../src/ms/testing/records.js';
import { createLogger } from '../../src/util/log.js';

const n = Number(process.argv[2] ?? 100_000);
const log = createLogger({}, { level: 'warn' });
const dir = mkdtempSync(join(tmpdir(), 'lispwg-ms-restart-'));
const path = join(dir, 'ms.db');
const config = parseConfig(`listen: 127.0.0.1
port: 0
rate-limit: { rate: 0 }
sites:
  - { name: s, key: key-s, max-registrations: ${n}, prefixes: [{ prefix: 10.0.0.0/8, accept-more-specifics: true }] }
`);
const eid = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
const key = (i: number) => Uint8Array.from({ length: 32 }, (_, j) => (i + j * 7) & 255);

try {
  const writer = new EmbeddedStore(path, 1000, emptySource, log);
  writer.load();
  const expiresAt = Date.now() + 180_000;
  for (let i = 0; i < n; i++) {
    const prefix = { iid: 0, afi: 'ipv4' as const, address: eid(i), maskLen: 32 };
    const source = { address: '198.19.0.1', port: 4342 };
    const r = { prefix, siteName: 's', reply: encodeReply(siteRecord(eid(i), 32, `198.19.${(i >> 8) & 255}.${i & 255}`, key(i))), source, registeredAt: Date.now(), refreshedAt: Date.now(), expiresAt };
    writer.put(r);
    writer.refresh({ ...r, refreshedAt: Date.now() });
  }
  await writer.close();
  const bytes = statSync(path).size;

  const t0 = performance.now();
  let ms: MapServer;
  const store = new EmbeddedStore(path, 1000, () => ms.storeSource(), log);
  ms = new MapServer(config, { logger: log, store });
  const loaded = performance.now();
  const [ep] = await ms.start();
  const listening = performance.now();
  const lig = await ControlClient.open({ mapServer: { address: '127.0.0.1', port: ep!.port }, requestTimeoutMs: 1000, logger: log });
  const res = await lig.resolve(eid(n - 1));
  const answered = performance.now();
  if (!res.records[0]?.locators.length) throw new Error('the last registration was not served after the restart');
  console.log(
    JSON.stringify({
      bench: 'ms-restart',
      registrations: n,
      loaded: ms.counters.get('store-loaded'),
      journalBytes: bytes,
      loadMs: Math.round(loaded - t0),
      listeningMs: Math.round(listening - t0),
      firstAnswerMs: Math.round(answered - t0),
    }),
  );
  await lig.close();
  await ms.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
