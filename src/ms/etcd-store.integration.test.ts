/**
 * Map-Server replicas sharing a real etcd (spawned on loopback, lab/etcd.ts): a
 * registration made through one is answered by the other; a subscriber hears of a withdrawal
 * made through the other replica; a replica started late rebuilds registrations, bindings and
 * subscriptions; etcd killed while serving (the Map-Server answers from memory, then catches up);
 * a member of a 3-member cluster killed; a corrupt value in etcd counted and skipped.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ControlClient, type WithdrawnEvent } from '../control/client.js';
import { formatEidPrefix } from '../mapping/eid.js';
import { createLogger } from '../util/log.js';
import { startEtcd, type EtcdCluster } from '../../lab/etcd.js';
import { ETCD, prerequisites } from '../testing/prerequisites.js';
import { waitFor } from '../testing/wait.js';
import { parseConfig } from './config.js';
import { EtcdClient } from './etcd-client.js';
import { EtcdStore } from './etcd-store.js';
import { emptySource } from './store.js';
import { MapServer } from './server.js';
import { siteRecord } from './testing/records.js';

const quiet = createLogger({}, { level: 'error' });
const KEY_A = Uint8Array.from({ length: 32 }, (_, i) => i + 1);
const KEY_B = Uint8Array.from({ length: 32 }, (_, i) => 100 + i);
const skip = await prerequisites('etcd store integration', ETCD);

const config = () =>
  parseConfig(`listen: 127.0.0.1
port: 0
registration-ttl: 60s
rate-limit: { rate: 0 }
sites:
  - { name: a, key: key-a, prefixes: [198.18.1.0/24] }
  - { name: b, key: key-b, prefixes: [198.18.2.0/24] }
`);

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

let prefixes = 0;

async function replica(etcd: EtcdCluster, prefix: string): Promise<{ ms: MapServer; store: EtcdStore; port: number }> {
  let ms: MapServer;
  const store = await EtcdStore.open({ endpoints: etcd.endpoints, prefix, timeoutMs: 1000, queue: 10_000 }, () => ms.storeSource(), quiet);
  ms = new MapServer(config(), { logger: quiet, store });
  const [ep] = await ms.start();
  cleanup.push(() => ms.close());
  return { ms, store, port: ep!.port };
}

async function client(port: number, key?: string): Promise<ControlClient> {
  const c = await ControlClient.open({ mapServer: { address: '127.0.0.1', port }, ...(key ? { site: { key } } : {}), registerRetryMs: 100, registerIntervalMs: 60_000, requestTimeoutMs: 300, logger: quiet });
  cleanup.push(() => c.close());
  return c;
}

/** Whether the replica at `port` answers `eid` with a mapping whose RLOC is `rloc`. */
async function answers(lig: ControlClient, eid: string, rloc: string): Promise<boolean> {
  try {
    const r = await lig.resolve(eid);
    const l = r.records[0]?.locators[0]?.address;
    return l?.afi === 'ipv4' && l.address === rloc;
  } catch {
    return false;
  }
}

describe.skipIf(skip !== undefined)('Map-Server replicas on etcd', { timeout: 30_000 }, () => {
  let etcd: EtcdCluster;
  beforeAll(async () => {
    etcd = await startEtcd();
  });
  afterAll(async () => {
    await etcd?.stop();
  });
  const fresh = () => `/lispwg/test${prefixes++}/`;

  it('answers through one replica what was registered through the other, and tells a subscriber of a withdrawal made through the other', async () => {
    const prefix = fresh();
    const r1 = await replica(etcd, prefix);
    const r2 = await replica(etcd, prefix);
    const a = await client(r1.port, 'key-a');
    await a.register([siteRecord('198.18.1.0', 24, '198.19.0.1', KEY_A)]); // Map-Notify: answered without waiting on etcd
    const lig2 = await client(r2.port);
    await waitFor(() => answers(lig2, '198.18.1.1', '198.19.0.1'), 5000, () => 'replica 2 never answered the registration made through replica 1');
    expect(r2.ms.counters.get('store-remote-new')).toBe(1);
    // b registers at replica 2 and asks it for a: b subscribes to a there
    const b = await client(r2.port, 'key-b');
    await b.register([siteRecord('198.18.2.0', 24, '198.19.0.2', KEY_B)]);
    await b.resolve('198.18.1.1', { sourceEid: '198.18.2.1' });
    await waitFor(() => r1.ms.snapshot().subscriptions >= 2, 5000, () => 'the subscriptions made at replica 2 never reached replica 1');
    // a deregisters through replica 1: b, subscribed at replica 2, hears of it
    const gone = new Promise<WithdrawnEvent>((resolve) => b.once('withdrawn', resolve));
    await a.deregister();
    const w = await gone;
    expect(formatEidPrefix(w.prefix)).toBe('198.18.1.0/24');
    expect(w.key).toEqual(KEY_A);
    await waitFor(async () => (await lig2.resolve('198.18.1.1')).records[0]?.locators.length === 0, 5000, () => 'replica 2 still answers a withdrawn registration');
    expect(r2.ms.counters.get('registrations-withdrawn') + r2.ms.counters.get('subscriptions-notified')).toBeGreaterThan(0);
  });

  it('one WireGuard key registered by two sites at once, through two replicas: the binding etcd took first holds on both, the other site is withdrawn on both', async () => {
    const prefix = fresh();
    const r1 = await replica(etcd, prefix);
    const r2 = await replica(etcd, prefix);
    const a = await client(r1.port, 'key-a');
    const b = await client(r2.port, 'key-b');
    // the same key, each Map-Register answered by its replica before either hears of the other
    await Promise.all([a.register([siteRecord('198.18.1.0', 24, '198.19.0.1', KEY_A)]), b.register([siteRecord('198.18.2.0', 24, '198.19.0.2', KEY_A)])]);
    await Promise.all([r1.store.drained(), r2.store.drained()]);
    const kv = await new EtcdClient(etcd.endpoints, 1000).range({ key: Buffer.from(`${prefix}k/`), range_end: Buffer.from(`${prefix}k0`), limit: 10 });
    expect(kv.kvs).toHaveLength(1);
    const winner = String.fromCharCode(kv.kvs[0]!.value.at(-1)!); // the value ends with the site's name
    const [wEid, lEid] = winner === 'a' ? ['198.18.1.1', '198.18.2.1'] : ['198.18.2.1', '198.18.1.1'];
    const [lig1, lig2] = [await client(r1.port), await client(r2.port)];
    for (const lig of [lig1, lig2]) {
      await waitFor(async () => (await lig.resolve(lEid)).records[0]?.locators.length === 0, 5000, () => `a replica still answers the site that lost the key (${lEid})`);
      expect((await lig.resolve(wEid)).records[0]?.locators.length).toBe(1);
    }
    expect(r1.ms.counters.get('store-binding-conflicts') + r2.ms.counters.get('store-binding-conflicts')).toBeGreaterThanOrEqual(1);
  });

  it('a replica started late rebuilds registrations, key bindings and subscriptions from etcd', async () => {
    const prefix = fresh();
    const r1 = await replica(etcd, prefix);
    const a = await client(r1.port, 'key-a');
    const b = await client(r1.port, 'key-b');
    await a.register([siteRecord('198.18.1.0', 24, '198.19.0.1', KEY_A)]);
    await b.register([siteRecord('198.18.2.0', 24, '198.19.0.2', KEY_B)]);
    await b.resolve('198.18.1.1', { sourceEid: '198.18.2.1' });
    await r1.store.drained();
    const late = await replica(etcd, prefix);
    expect(late.ms.counters.get('store-loaded')).toBe(2);
    expect(late.ms.snapshot().subscriptions).toBe(2);
    const lig = await client(late.port);
    expect(await answers(lig, '198.18.2.1', '198.19.0.2')).toBe(true);
    // the key binding came too: site a may not register b's key through the late replica
    const thief = await client(late.port, 'key-a');
    await expect(thief.register([siteRecord('198.18.1.0', 24, '198.19.0.9', KEY_B)])).rejects.toThrow();
    expect(late.ms.counters.get('drop-key-of-other-site')).toBeGreaterThanOrEqual(1);
  });

  it('keeps serving while etcd is down, counts the failed writes, and catches up when it is back', async () => {
    const prefix = fresh();
    const r1 = await replica(etcd, prefix);
    const r2 = await replica(etcd, prefix);
    const a = await client(r1.port, 'key-a');
    await a.register([siteRecord('198.18.1.0', 24, '198.19.0.1', KEY_A)]);
    await etcd.kill(0);
    const b = await client(r1.port, 'key-b');
    await b.register([siteRecord('198.18.2.0', 24, '198.19.0.2', KEY_B)]); // answered from memory
    const lig1 = await client(r1.port);
    expect(await answers(lig1, '198.18.2.1', '198.19.0.2')).toBe(true);
    await waitFor(() => Number(r1.store.stats()['write-errors']) > 0, 5000, () => 'no failed write counted while etcd was down');
    expect(r1.store.stats().reachable).toBe(0);
    await etcd.restart(0);
    const lig2 = await client(r2.port);
    await waitFor(() => answers(lig2, '198.18.2.1', '198.19.0.2'), 15_000, () => `replica 2 never caught up after etcd came back: ${JSON.stringify(r2.store.stats())}`);
    expect(r1.store.stats().reachable).toBe(1);
    expect(r1.store.stats().queued).toBe(0);
  });

  it('writes everything again when etcd comes back without its data', async () => {
    const prefix = fresh();
    const r1 = await replica(etcd, prefix);
    const a = await client(r1.port, 'key-a');
    await a.register([siteRecord('198.18.1.0', 24, '198.19.0.1', KEY_A)]);
    await r1.store.drained();
    await etcd.kill(0);
    await etcd.restart(0, { wipe: true });
    await waitFor(() => Number(r1.store.stats()['ranges-again']) === 1 && Number(r1.store.stats().queued) === 0 && Number(r1.store.stats().resyncs) === 1, 15_000, () => `no re-read and re-write after the loss: ${JSON.stringify(r1.store.stats())}`);
    await r1.store.drained(); // the rewrite's transactions committed, not only taken off the queue
    const late = await replica(etcd, prefix);
    expect(late.ms.counters.get('store-loaded')).toBe(1);
    expect(await answers(await client(late.port), '198.18.1.1', '198.19.0.1')).toBe(true);
  });

  it('counts and skips a corrupt value, at start and from the watch, and serves the rest', async () => {
    const prefix = fresh();
    const r1 = await replica(etcd, prefix);
    const a = await client(r1.port, 'key-a');
    await a.register([siteRecord('198.18.1.0', 24, '198.19.0.1', KEY_A)]);
    await r1.store.drained();
    const raw = new EtcdClient(etcd.endpoints, 1000);
    cleanup.push(() => raw.close());
    await raw.txn([{ request_put: { key: Buffer.from(`${prefix}r/00/0/198.18.2.0/24`), value: Buffer.from('not a lispwg record') } }]);
    await waitFor(() => Number(r1.store.stats()['corrupt-values']) === 1, 5000, () => 'the watch did not count the corrupt value');
    const late = await replica(etcd, prefix);
    expect(late.store.stats()['corrupt-values']).toBe(1);
    expect(late.ms.counters.get('store-loaded')).toBe(1);
    expect(await answers(await client(late.port), '198.18.1.1', '198.19.0.1')).toBe(true);
  });

  it('a change or withdrawal written late, older than what a replica heard, leaves the newer registration, on every replica and in etcd', async () => {
    const prefix = fresh();
    const r1 = await replica(etcd, prefix);
    const r2 = await replica(etcd, prefix);
    const a = await client(r1.port, 'key-a');
    const t0 = Date.now();
    await a.register([siteRecord('198.18.1.0', 24, '198.19.0.2', KEY_A)]); // a moved to .2
    const [lig1, lig2] = [await client(r1.port), await client(r2.port)];
    await waitFor(() => answers(lig2, '198.18.1.1', '198.19.0.2'), 5000, () => 'replica 2 never heard of the registration');
    // a third replica's write that waited (its etcd member was down): a at its old RLOC, heard before the move
    const late = await EtcdStore.open({ endpoints: etcd.endpoints, prefix, timeoutMs: 1000, queue: 10 }, emptySource, quiet);
    cleanup.push(() => late.close());
    const { encodeReply } = await import('./registry.js');
    const eid = { iid: 0, afi: 'ipv4', address: '198.18.1.0', maskLen: 24 } as const;
    late.put({ prefix: eid, siteName: 'a', reply: encodeReply(siteRecord('198.18.1.0', 24, '198.19.0.1', KEY_A)), source: undefined, registeredAt: t0 - 5000, refreshedAt: t0 - 1000, expiresAt: t0 + 59_000 });
    await late.drained();
    await waitFor(() => r1.ms.counters.get('store-remote-stale') + r2.ms.counters.get('store-remote-stale') >= 2, 5000, () => 'the replicas applied the older registration');
    for (const lig of [lig1, lig2]) expect(await answers(lig, '198.18.1.1', '198.19.0.2')).toBe(true);
    expect(r1.ms.counters.get('store-remote-changed') + r2.ms.counters.get('store-remote-changed')).toBe(0);
    // the newer one was written again: a replica started now reads it from etcd
    await Promise.all([r1.store.drained(), r2.store.drained()]);
    const fresh3 = await replica(etcd, prefix);
    expect(await answers(await client(fresh3.port), '198.18.1.1', '198.19.0.2')).toBe(true);
    // a tombstone written by a replica before it heard a's latest Map-Register: a stays registered
    const stale = r1.ms.counters.get('store-remote-stale') + r2.ms.counters.get('store-remote-stale');
    late.remove(eid, t0 - 500);
    await late.drained();
    await waitFor(() => r1.ms.counters.get('store-remote-stale') + r2.ms.counters.get('store-remote-stale') >= stale + 2, 5000, () => 'the replicas applied the older withdrawal');
    for (const lig of [lig1, lig2]) expect(await answers(lig, '198.18.1.1', '198.19.0.2')).toBe(true);
    // and a withdrawal made after a's last Map-Register is applied everywhere
    late.remove(eid);
    await late.drained();
    for (const lig of [lig1, lig2]) await waitFor(async () => (await lig.resolve('198.18.1.1')).records[0]?.locators.length === 0, 5000, () => 'a newer withdrawal was not applied');
  });

  it('a well-formed value the configuration does not allow is refused, not served', async () => {
    const prefix = fresh();
    const r1 = await replica(etcd, prefix);
    // site b's registration for a prefix of site a, written by a replica with another configuration
    const other = await EtcdStore.open({ endpoints: etcd.endpoints, prefix, timeoutMs: 1000, queue: 10 }, emptySource, quiet);
    cleanup.push(() => other.close());
    const { encodeReply } = await import('./registry.js');
    other.put({ prefix: { iid: 0, afi: 'ipv4', address: '198.18.1.0', maskLen: 24 }, siteName: 'b', reply: encodeReply(siteRecord('198.18.1.0', 24, '198.19.0.66')), source: undefined, registeredAt: Date.now(), refreshedAt: Date.now(), expiresAt: Date.now() + 60_000 });
    await other.drained();
    await waitFor(() => r1.ms.counters.get('store-remote-refused') === 1, 5000, () => 'the replica did not refuse the value');
    expect(r1.ms.registry.size).toBe(0);
  });
});

describe.skipIf(skip !== undefined)('Map-Server replicas on a 3-member etcd cluster', () => {
  it('goes on replicating when the member it talks to is killed', async () => {
    const etcd = await startEtcd({ members: 3 });
    cleanup.push(() => etcd.stop());
    const r1 = await replica(etcd, '/lispwg/three/');
    const r2 = await replica(etcd, '/lispwg/three/');
    await etcd.kill(0); // both replicas start on endpoint 0
    const a = await client(r1.port, 'key-a');
    await a.register([siteRecord('198.18.1.0', 24, '198.19.0.1', KEY_A)]);
    const lig2 = await client(r2.port);
    await waitFor(() => answers(lig2, '198.18.1.1', '198.19.0.1'), 15_000, () => `replica 2 never heard of the registration: ${JSON.stringify(r2.store.stats())}`);
  }, 60_000);
});
