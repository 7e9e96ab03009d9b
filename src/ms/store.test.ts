/**
 * The embedded registration store: a restarted Map-Server answers with what it had (keys and
 * key bindings included), drops what expired while it was down or what its new configuration
 * no longer allows, survives a torn journal tail, and a compaction keeps every change made
 * while it runs.
 */
import { appendFileSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ControlClient } from '../control/client.js';
import { recordKey } from '../lisp/index.js';
import { createLogger } from '../util/log.js';
import { parseConfig } from './config.js';
import { encodeReply } from './registry.js';
import { MapServer } from './server.js';
import { EmbeddedStore, emptySource, type StoredRegistration } from './store.js';
import { siteRecord } from './testing/records.js';

const quiet = createLogger({}, { level: 'error' });
const KEY_A = Uint8Array.from({ length: 32 }, (_, i) => i + 1);
const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

function tmp(): string {
  const dir = mkdtempSync(join(tmpdir(), 'lispwg-store-'));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'ms.db');
}

const config = (ttl = '60s', sites = '  - { name: a, key: key-a, prefixes: [198.18.1.0/24] }\n  - { name: c, key: key-c, prefixes: [198.18.3.0/24] }') =>
  parseConfig(`listen: 127.0.0.1\nport: 0\nregistration-ttl: ${ttl}\nrate-limit: { rate: 0 }\nsites:\n${sites}\n`);

async function server(path: string, c = config()): Promise<{ ms: MapServer; port: number }> {
  let ms: MapServer;
  const store = new EmbeddedStore(path, 1000, () => ms.storeSource(), quiet);
  ms = new MapServer(c, { logger: quiet, store });
  const [ep] = await ms.start();
  cleanup.push(() => ms.close());
  return { ms, port: ep!.port };
}

async function client(port: number, key?: string): Promise<ControlClient> {
  const c = await ControlClient.open({ mapServer: { address: '127.0.0.1', port }, ...(key ? { site: { key } } : {}), registerRetryMs: 100, registerIntervalMs: 60_000, requestTimeoutMs: 300, logger: quiet });
  cleanup.push(() => c.close());
  return c;
}

describe('EmbeddedStore behind the MapServer', () => {
  it('a restarted Map-Server answers with the registration and its key, and still holds the key binding', async () => {
    const path = tmp();
    const first = await server(path);
    const a = await client(first.port, 'key-a');
    await a.register([siteRecord('198.18.1.0', 24, '198.19.0.1', KEY_A)]);
    await a.close();
    await first.ms.close();

    const again = await server(path);
    expect(again.ms.counters.get('store-loaded')).toBe(1);
    const lig = await client(again.port);
    const rec = (await lig.resolve('198.18.1.7')).records[0]!;
    expect(rec.locators[0]!.address).toEqual({ afi: 'ipv4', address: '198.19.0.1' });
    expect(recordKey(rec)).toEqual(KEY_A);
    // the binding of KEY_A to site a came back too: site c may not take the key
    const c = await client(again.port, 'key-c');
    await c.register([siteRecord('198.18.3.0', 24, '198.19.0.3', KEY_A)]).catch(() => undefined);
    expect(again.ms.counters.get('drop-key-of-other-site')).toBeGreaterThan(0);
    expect(again.ms.snapshot().store).toMatchObject({ kind: 'embedded', path });
  });

  it('drops at load what expired while it was down, and what the configuration no longer allows', async () => {
    const path = tmp();
    const first = await server(path, config('500ms'));
    const a = await client(first.port, 'key-a');
    await a.register([siteRecord('198.18.1.0', 24, '198.19.0.1', KEY_A)]);
    const c = await client(first.port, 'key-c');
    await c.register([siteRecord('198.18.3.0', 24, '198.19.0.3')]);
    await a.close();
    await c.close();
    await first.ms.close();
    await new Promise((r) => setTimeout(r, 700));
    const expired = await server(path, config('60s'));
    expect(expired.ms.counters.get('store-expired-at-load')).toBe(2);
    expect(expired.ms.registry.size).toBe(0);
    await expired.ms.close();

    const path2 = tmp();
    const before = await server(path2);
    const c2 = await client(before.port, 'key-c');
    await c2.register([siteRecord('198.18.3.0', 24, '198.19.0.3')]);
    await c2.close();
    await before.ms.close();
    const after = await server(path2, config('60s', '  - { name: a, key: key-a, prefixes: [198.18.1.0/24] }'));
    expect(after.ms.counters.get('store-refused-at-load')).toBe(1);
    expect(after.ms.registry.size).toBe(0);
  });
});

describe('EmbeddedStore journal', () => {
  const reg = (i: number, expiresAt = Date.now() + 60_000): StoredRegistration => ({
    prefix: { iid: 0, afi: 'ipv4', address: `10.${(i >> 8) & 255}.${i & 255}.0`, maskLen: 24 },
    siteName: 's',
    reply: encodeReply(siteRecord(`10.${(i >> 8) & 255}.${i & 255}.0`, 24, '198.19.0.1')),
    source: { address: '198.19.0.1', port: 4342 },
    registeredAt: 1,
    refreshedAt: 2,
    expiresAt,
  });

  it('cuts a torn tail and keeps every record before it', async () => {
    const path = tmp();
    const s = new EmbeddedStore(path, 0, emptySource, quiet);
    expect(s.load().registrations).toHaveLength(0);
    for (let i = 0; i < 10; i++) s.put(reg(i));
    s.remove(reg(3).prefix);
    s.bind('k', 's');
    await s.close();
    const size = statSync(path).size;
    appendFileSync(path, Buffer.from([40, 0, 0, 0, 1, 2, 3])); // a record cut short by a crash
    const t = new EmbeddedStore(path, 0, emptySource, quiet);
    const state = t.load();
    expect(state.registrations).toHaveLength(9);
    expect(state.bindings.get('k')).toBe('s');
    expect(state.corruptBytes).toBe(7);
    expect(statSync(path).size).toBe(size);
    await t.close();
  });

  it('a compaction keeps the live state and every change made while it runs', async () => {
    const path = tmp();
    const live = new Map<string, StoredRegistration>();
    const s = new EmbeddedStore(path, 1000, () => ({ registrations: () => [...live.values()][Symbol.iterator](), bindings: () => [['k', 's'] as [string, string]], subscriptions: () => [][Symbol.iterator]() }), quiet);
    s.load();
    for (let i = 0; i < 20_000; i++) {
      const r = reg(i);
      live.set(String(i), r);
      s.put(r);
      s.refresh({ ...r, refreshedAt: 3 }); // garbage for the compaction to drop
    }
    const compaction = s.compact();
    // changes while it runs: a removal, a new one, a change of one it has not reached yet
    s.remove(reg(5).prefix);
    live.delete('5');
    s.put(reg(30_000));
    const changed = { ...reg(19_999), refreshedAt: 99 };
    s.put(changed);
    await compaction;
    const bytes = statSync(path).size;
    await s.close();
    expect(s.stats().compactions).toBe(1);
    const t = new EmbeddedStore(path, 0, emptySource, quiet);
    const state = t.load();
    await t.close();
    expect(state.registrations).toHaveLength(20_000); // 20 000 - 1 removed + 1 new
    const byAddress = new Map(state.registrations.map((r) => [r.prefix.address, r]));
    expect(byAddress.has('10.0.5.0')).toBe(false);
    expect(byAddress.has(reg(30_000).prefix.address)).toBe(true);
    expect(byAddress.get(changed.prefix.address)!.refreshedAt).toBe(99);
    expect(state.bindings.get('k')).toBe('s');
    expect(bytes).toBeGreaterThan(0);
  });

  it('keeps subscriptions: the latest expiry of each, none that expired, and through a compaction', async () => {
    const path = tmp();
    const pfx = (i: number) => ({ iid: 0, afi: 'ipv4' as const, address: `198.19.${i}.0`, maskLen: 24 });
    const now = Date.now();
    const live = [{ publisher: pfx(1), subscriber: pfx(2), expiresAt: now + 120_000 }];
    const s = new EmbeddedStore(path, 0, () => ({ registrations: () => [][Symbol.iterator](), bindings: () => [], subscriptions: () => live[Symbol.iterator]() }), quiet);
    s.load();
    s.subscribe({ publisher: pfx(1), subscriber: pfx(2), expiresAt: now + 60_000 });
    s.subscribe({ publisher: pfx(1), subscriber: pfx(2), expiresAt: now + 120_000 }); // renewed
    s.subscribe({ publisher: pfx(1), subscriber: pfx(3), expiresAt: now - 1 }); // expired while down
    await s.close();
    const t = new EmbeddedStore(path, 0, emptySource, quiet);
    expect(t.load().subscriptions).toEqual([{ publisher: pfx(1), subscriber: pfx(2), expiresAt: now + 120_000 }]);
    await t.close();
    // a compaction writes the live ones from the source
    const u = new EmbeddedStore(path, 0, () => ({ registrations: () => [][Symbol.iterator](), bindings: () => [], subscriptions: () => live[Symbol.iterator]() }), quiet);
    u.load();
    await u.compact();
    await u.close();
    const v = new EmbeddedStore(path, 0, emptySource, quiet);
    expect(v.load().subscriptions).toEqual(live);
    await v.close();
  });
});
