/**
 * A ControlClient driven over a unix socket (JSON lines), so integration tests can run xTR-side
 * clients as real processes inside network namespaces (`ip netns exec NS vite-node control-driver.ts
 * OPTIONS SOCKET`; the socket is a file path, so the test reaches it from any namespace).
 * Not part of the product: test tooling.
 *
 * in:     {"id":1,"cmd":"register","records":[{"eid":"198.18.10.0","maskLen":24,"rloc":"198.18.0.2","key":"base64"}]}
 *         {"id":2,"cmd":"resolve","eid":"198.18.20.1","sourceEid":"198.18.10.1"}
 *         {"id":3,"cmd":"deregister"} / {"id":4,"cmd":"close"}
 *         {"id":5,"cmd":"probe","hex":"...","to":{"address":..,"port":..},"listenPort":N,"timeoutMs":500}
 *         {"id":6,"cmd":"flood","to":{...},"count":100000,"prefix":"198.18.10.0","key":"wrong"}
 *         {"id":7,"cmd":"flood","to":{...},"count":100000,...,"sources":20000,"base":"127.1.0.0"}: the same
 *         packets from `sources` addresses (local ones: 127/8), count/sources from each
 * out:    {"id":1,"ok":true,"result":...} | {"id":1,"ok":false,"error":"...","code":"..."}
 *         {"event":"mapping"|"withdrawn"|"registered"|"drop", ...}
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { createInterface } from 'node:readline';
import { ControlClient, type ControlClientOptions } from '../../control/client.js';
import { eidAddress, recordJson, wrapWireguardKey, type MappingRecord } from '../../lisp/index.js';
import { formatEidPrefix } from '../../mapping/eid.js';
import { LispwgError } from '../../util/errors.js';
import { createLogger } from '../../util/log.js';
import { floodFromSources, hostilePackets } from './hostile.js';

interface RecordSpec {
  eid: string;
  maskLen: number;
  rloc: string;
  key?: string;
  ttl?: number;
  iid?: number;
}

function toRecord(r: RecordSpec): MappingRecord {
  const eid = eidAddress(r.eid, r.iid ?? 0);
  return {
    ttl: r.ttl ?? 10,
    maskLen: r.maskLen,
    action: 0,
    authoritative: true,
    mapVersion: 0,
    eid: r.key ? wrapWireguardKey(eid, Buffer.from(r.key, 'base64')) : eid,
    locators: [
      {
        priority: 1,
        weight: 100,
        mPriority: 255,
        mWeight: 0,
        local: true,
        probed: false,
        reachable: true,
        address: r.rloc.includes(':') ? { afi: 'ipv6', address: r.rloc } : { afi: 'ipv4', address: r.rloc },
      },
    ],
  };
}

let conn: net.Socket | undefined;
const backlog: string[] = [];
const out = (o: unknown) => {
  const line = JSON.stringify(o, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) + '\n';
  if (conn) conn.write(line);
  else backlog.push(line);
};

async function probe(req: { hex: string; to: { address: string; port: number }; listenPort?: number; timeoutMs?: number }): Promise<unknown> {
  const family = req.to.address.includes(':') ? 'udp6' : 'udp4';
  const sender = dgram.createSocket(family);
  const listener = req.listenPort ? dgram.createSocket(family) : sender;
  await new Promise<void>((r) => sender.bind(0, () => r()));
  if (listener !== sender) await new Promise<void>((r) => listener.bind(req.listenPort, () => r()));
  try {
    return await new Promise((resolve) => {
      const timer = setTimeout(() => resolve({ reply: null }), req.timeoutMs ?? 1000);
      listener.once('message', (buf, rinfo) => {
        clearTimeout(timer);
        resolve({ reply: buf.toString('hex'), from: `${rinfo.address}:${rinfo.port}`, senderPort: sender.address().port });
      });
      sender.send(Buffer.from(req.hex, 'hex'), req.to.port, req.to.address);
    });
  } finally {
    sender.close();
    if (listener !== sender) listener.close();
  }
}

async function flood(req: { to: { address: string; port: number }; count: number; prefix: string; maskLen: number; seed?: number; itrRloc: string; sourceEid?: string; sources?: number; base?: string }): Promise<unknown> {
  if (req.sources) {
    const packets = hostilePackets(req.count, { prefix: req.prefix, maskLen: req.maskLen, seed: req.seed ?? 1, itrRloc: req.itrRloc, ...(req.sourceEid ? { sourceEid: req.sourceEid } : {}) });
    const kinds: Record<string, number> = {};
    const r = await floodFromSources({
      to: req.to,
      base: req.base ?? '127.1.0.0',
      sources: req.sources,
      perSource: Math.ceil(req.count / req.sources),
      packet: () => {
        const p = packets.next();
        if (p.done) return undefined;
        kinds[p.value.kind] = (kinds[p.value.kind] ?? 0) + 1;
        return p.value.bytes;
      },
    });
    return { ...r, kinds };
  }
  const sock = dgram.createSocket(req.to.address.includes(':') ? 'udp6' : 'udp4');
  await new Promise<void>((r) => sock.bind(0, () => r()));
  let replies = 0;
  sock.on('message', () => replies++);
  const start = performance.now();
  let sent = 0;
  const kinds: Record<string, number> = {};
  for (const p of hostilePackets(req.count, { prefix: req.prefix, maskLen: req.maskLen, seed: req.seed ?? 1, itrRloc: req.itrRloc, ...(req.sourceEid ? { sourceEid: req.sourceEid } : {}) })) {
    kinds[p.kind] = (kinds[p.kind] ?? 0) + 1;
    sock.send(p.bytes, req.to.port, req.to.address);
    sent++;
    // yield now and then so the socket buffer drains instead of dropping in the kernel
    if (sent % 64 === 0) await new Promise((r) => setImmediate(r));
  }
  await new Promise((r) => setTimeout(r, 300));
  sock.close();
  return { sent, seconds: (performance.now() - start) / 1000, replies, kinds };
}

async function main(): Promise<void> {
  const opts = JSON.parse(process.argv[2] ?? '{}') as Partial<ControlClientOptions> & { mapServer: ControlClientOptions['mapServer'] };
  const path = process.argv[3];
  if (!path) throw new Error('usage: control-driver OPTIONS-JSON SOCKET-PATH');
  const client = await ControlClient.open({ ...opts, logger: createLogger({ component: 'driver' }, { level: 'error' }) });
  client.on('mapping', (e) => out({ event: 'mapping', t: e.t, at: e.at, prefix: formatEidPrefix(e.prefix), key: e.key ? Buffer.from(e.key).toString('base64') : null, record: recordJson(e.record) }));
  client.on('withdrawn', (e) => out({ event: 'withdrawn', t: e.t, at: e.at, prefix: formatEidPrefix(e.prefix), key: e.key ? Buffer.from(e.key).toString('base64') : null }));
  client.on('registered', (e) => out({ event: 'registered', t: e.t, at: e.at, rttMs: e.rttMs, attempts: e.attempts }));
  client.on('drop', (e) => out({ event: 'drop', reason: e.reason, from: `${e.from.address}:${e.from.port}` }));
  out({ event: 'ready', local: client.local });
  const handle = async (line: string) => {
    const req = JSON.parse(line) as { id: number; cmd: string } & Record<string, unknown>;
    const reply = (p: Promise<unknown>) =>
      p.then(
        (result) => out({ id: req.id, ok: true, result }),
        (e: Error) => out({ id: req.id, ok: false, error: e.message, code: e instanceof LispwgError ? e.code : 'ERROR' }),
      );
    switch (req.cmd) {
      case 'register':
        return reply(client.register((req.records as RecordSpec[]).map(toRecord)).then((e) => ({ rttMs: e.rttMs, attempts: e.attempts, at: e.at })));
      case 'resolve':
        return reply(
          client
            .resolve(req.eid as string, { ...(req.sourceEid ? { sourceEid: req.sourceEid as string } : {}), ...(req.iid ? { iid: req.iid as number } : {}) })
            .then((r) => ({ rttMs: r.rttMs, attempts: r.attempts, at: r.at, t: r.t, records: r.records.map(recordJson) })),
        );
      case 'deregister':
        return reply(client.deregister());
      case 'probe':
        return reply(probe(req as unknown as Parameters<typeof probe>[0]));
      case 'flood':
        return reply(flood(req as unknown as Parameters<typeof flood>[0]));
      default:
        out({ id: req.id, ok: false, error: `unknown command ${req.cmd}` });
    }
  };
  const server = net.createServer((c) => {
    conn = c;
    for (const line of backlog.splice(0)) c.write(line);
    createInterface({ input: c }).on('line', (line) => {
      if (line.trim()) void handle(line);
    });
    // the test went away: so do we
    c.on('close', () => void client.close().then(() => process.exit(0)));
    c.on('error', () => undefined);
  });
  server.listen(path);
}

main().catch((e: unknown) => {
  process.stderr.write(`control-driver: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
