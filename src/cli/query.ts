/**
 * `lispwg query`: our lig. One ECM Map-Request to a Map-Server/Map-Resolver, the answer and its
 * round-trip time; or, with --rate and --count, a flood of them and the RTT histogram.
 */
import { parseArgs } from 'node:util';
import { isIP } from 'node:net';
import { eidOf, recordJson, recordKey, rewriteEcmNonce, type MappingRecord } from '../lisp/index.js';
import { LispwgError } from '../util/errors.js';
import { createLogger } from '../util/log.js';
import dgram from 'node:dgram';
import { ControlClient, buildEcmMapRequest, localAddressTowards, type Resolution } from '../control/client.js';
import { Histogram } from '../ms/stats.js';

const USAGE = `usage: lispwg query --ms ADDR[:PORT] EID [--source-eid E] [--iid N] [--json]
       lispwg query --ms ADDR[:PORT] EID --rate R --count N [--json]

Sends an ECM Map-Request for EID (ITR-RLOC = our address, inner UDP source port = the port we
listen on, where a Map-Server answers; lig needs -p 4342 for that)
and prints the Map-Reply and its round-trip time.

  --ms ADDR[:PORT]     the Map-Server / Map-Resolver ([v6addr]:port for IPv6; port 4342)
  --source-eid E       our EID (the Map-Server pushes our mapping to the destination's site)
  --iid N              instance ID of the EIDs (default 0)
  --bind ADDR          local address (default: the one that reaches the Map-Server)
  --timeout MS         per-request timeout (default 1000); one retry in single mode
  --rate R             flood: R requests per second...
  --count N            ...N of them; prints the RTT histogram (answers matched by nonce)
  --json               one JSON line
  -h, --help           this text`;

function parseMs(text: string): { address: string; port: number } {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(text) ?? /^([^:]+)(?::(\d+))?$/.exec(text);
  const address = m ? m[1]! : text;
  const port = m?.[2] ? Number(m[2]) : 4342;
  if (!isIP(address) || port < 1 || port > 65535) throw new LispwgError('BAD_FLAG', `--ms '${text}' is not ADDR[:PORT] (e.g. 100.100.0.1, 198.18.0.1:4342, [2001:db8::1]:4342)`);
  return { address, port };
}

function describeRecord(r: MappingRecord): string[] {
  const eid = eidOf(r.eid);
  let key: string;
  try {
    const k = recordKey(r);
    key = k ? Buffer.from(k).toString('base64') : 'none';
  } catch (e) {
    key = `invalid (${(e as Error).message})`;
  }
  const acts = ['no-action', 'natively-forward', 'send-map-request', 'drop'];
  const lines = [`  EID ${eid ? `${eid.instanceId ? `[${eid.instanceId}]` : ''}${eid.address}` : '?'}/${r.maskLen}  TTL ${r.ttl} min  ${r.locators.length ? `key ${key}` : `negative, action ${acts[r.action] ?? r.action}`}`];
  for (const l of r.locators) {
    const a = l.address.afi === 'ipv4' || l.address.afi === 'ipv6' ? l.address.address : l.address.afi;
    lines.push(`    RLOC ${a}  priority ${l.priority} weight ${l.weight}${l.reachable ? '  up' : '  down'}`);
  }
  return lines;
}

export async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      ms: { type: 'string' },
      'source-eid': { type: 'string' },
      iid: { type: 'string' },
      bind: { type: 'string' },
      timeout: { type: 'string' },
      rate: { type: 'string' },
      count: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  if (!values.ms || positionals.length !== 1) {
    process.stderr.write(`lispwg query: give --ms ADDR and one EID\n\n${USAGE}\n`);
    return 1;
  }
  const ms = parseMs(values.ms);
  const eid = positionals[0]!;
  if (!isIP(eid)) throw new LispwgError('BAD_FLAG', `EID '${eid}' is not an IPv4 or IPv6 address`);
  if (values['source-eid'] && !isIP(values['source-eid'])) throw new LispwgError('BAD_FLAG', `--source-eid '${values['source-eid']}' is not an address`);
  const iid = values.iid ? Number(values.iid) : 0;
  if (!Number.isInteger(iid) || iid < 0 || iid > 0xffffff) throw new LispwgError('BAD_FLAG', `--iid must be 0..16777215`);
  const timeoutMs = values.timeout ? Number(values.timeout) : 1000;
  if (!(timeoutMs > 0)) throw new LispwgError('BAD_FLAG', '--timeout must be a positive number of ms');
  if (values.rate || values.count) return flood(ms, eid, { iid, ...(values['source-eid'] ? { sourceEid: values['source-eid'] } : {}), ...(values.bind ? { bind: values.bind } : {}) }, values, timeoutMs);
  const client = await ControlClient.open({
    mapServer: ms,
    ...(values.bind ? { localAddress: values.bind } : {}),
    requestTimeoutMs: timeoutMs,
    logger: createLogger({ component: 'query' }, { level: 'error' }),
  });
  const opts = { iid, ...(values['source-eid'] ? { sourceEid: values['source-eid'] } : {}) };
  // the RTT printed is the Map-Server's: the socket bound and our receive path run once before the send
  await client.warmUp();
  try {
    let r: Resolution;
    try {
      r = await client.resolve(eid, { ...opts, retries: 1 });
    } catch (e) {
      if (values.json) process.stdout.write(JSON.stringify({ eid, ms: `${ms.address}:${ms.port}`, error: (e as Error).message }) + '\n');
      else process.stderr.write(`lispwg query: ${(e as Error).message}\n`);
      return 2;
    }
    if (values.json) {
      process.stdout.write(JSON.stringify({ eid, ms: `${ms.address}:${ms.port}`, rttMs: round3(r.rttMs), attempts: r.attempts, nonce: r.nonce.toString(16), records: r.records.map(recordJson) }) + '\n');
    } else {
      process.stdout.write(
        [`Map-Request for ${eid} to ${ms.address}:${ms.port} from ${client.local.address}:${client.local.port}`, `Map-Reply in ${round3(r.rttMs)} ms (attempt ${r.attempts}):`, ...r.records.flatMap(describeRecord)].join('\n') + '\n',
      );
    }
    return 0;
  } finally {
    await client.close();
  }
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;

/**
 * Open-loop flood: one prebuilt ECM Map-Request re-sent with a new nonce each time (nothing is
 * encoded per request, so the generator keeps up), answers matched by nonce, one timer.
 */
async function flood(ms: { address: string; port: number }, eid: string, opts: { iid: number; sourceEid?: string; bind?: string }, values: { rate?: string; count?: string; json?: boolean }, timeoutMs: number): Promise<number> {
  const rate = Number(values.rate ?? 1000);
  const count = Number(values.count ?? 1000);
  if (!(rate > 0) || !Number.isInteger(count) || count < 1) throw new LispwgError('BAD_FLAG', '--rate must be > 0 and --count a positive integer');
  const sock = dgram.createSocket(isIP(ms.address) === 6 ? 'udp6' : 'udp4');
  await new Promise<void>((r) => sock.bind(0, opts.bind, () => r()));
  const itrRloc = opts.bind ?? (await localAddressTowards(ms.address, ms.port));
  const { bytes, ...offsets } = buildEcmMapRequest(eid, 0n, { ...opts, itrRloc, port: sock.address().port, mapServer: ms.address });
  const hist = new Histogram();
  const sentAt = new Float64Array(count);
  const answered = new Uint8Array(count);
  const base = (BigInt(Date.now()) & 0xffffffffn) << 24n; // nonces base + i: ours, unlikely to collide with a stray reply
  let received = 0;
  let lastAnswer = 0;
  sock.on('message', (buf) => {
    if (buf.length < 12 || buf[0]! >> 4 !== 2) return; // Map-Reply
    const i = Number(buf.readBigUInt64BE(4) - base);
    if (i < 0 || i >= count || answered[i]) return;
    answered[i] = 1;
    received++;
    lastAnswer = performance.now();
    hist.record((lastAnswer - sentAt[i]!) * 1e6);
  });
  let sent = 0;
  const start = performance.now();
  await new Promise<void>((done) => {
    const tick = () => {
      const due = Math.min(count, Math.floor(((performance.now() - start) * rate) / 1000) + 1);
      while (sent < due) {
        const b = Buffer.from(bytes); // a copy each: a send may still hold the previous one
        rewriteEcmNonce(b, offsets, base + BigInt(sent)); // the inner UDP checksum follows the nonce
        sentAt[sent] = performance.now();
        sock.send(b, ms.port, ms.address);
        sent++;
      }
      if (sent >= count) done();
      else setTimeout(tick, 1);
    };
    tick();
  });
  const sendDone = performance.now();
  // wait for the stragglers: until all answered or the timeout after the last send
  while (received < count && performance.now() - sendDone < timeoutMs) await new Promise((r) => setTimeout(r, 10));
  const seconds = (Math.max(lastAnswer, sendDone) - start) / 1000;
  sock.close();
  const s = hist.summary();
  const lost = count - received;
  const summary = { eid, sent, received, lost, offeredRate: rate, sendSeconds: round3((sendDone - start) / 1000), achievedRate: Math.round(received / seconds), rttMicroseconds: s };
  if (!values.json) {
    const lines = [`${sent} Map-Requests at ${rate}/s: ${received} answered, ${lost} lost, ${summary.achievedRate} answers/s`];
    lines.push(`RTT (us): min ${s.min}  median ${s.median}  p90 ${s.p90}  p99 ${s.p99}  max ${s.max}`);
    // the fine buckets merged into powers of two
    const coarse = new Map<number, number>();
    for (const [low, n] of hist.buckets()) {
      const p = 2 ** Math.floor(Math.log2(Math.max(1, low)));
      coarse.set(p, (coarse.get(p) ?? 0) + n);
    }
    const max = Math.max(1, ...coarse.values());
    for (const [low, n] of [...coarse].sort((a, b) => a[0] - b[0])) {
      lines.push(`  >= ${(low / 1000).toFixed(1).padStart(9)} us  ${String(n).padStart(7)}  ${'#'.repeat(Math.max(1, Math.round((n / max) * 50)))}`);
    }
    process.stdout.write(lines.join('\n') + '\n');
  }
  process.stdout.write(JSON.stringify(summary) + '\n');
  return received === 0 ? 2 : 0;
}
