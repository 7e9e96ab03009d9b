/**
 * `npm run bench:ms-sparse [-- --quick]`: the Map-Server when queries are sparse, the paper's
 * Fig. 8 method (lig: one query at a time, here one every 50 ms), against the floor of a bare UDP
 * echo answered by a small Python echo with the same spacing, measured in the same run.
 *
 * Per N (entries held: 10, 10 000, and 1 000 000, --quick 100 000), two targets take turns in
 * rounds of 20 queries, so that a drift of this shared machine hits them alike:
 * - `echo`: python3 echoing the same ECM Map-Request bytes back (the floor: two processes
 *   waking from idle, loopback, nothing computed);
 * - `ms`: a Map-Server in a process of its own, holding N plain records loaded straight into its
 *   registry (a stranger's query, as lig's, is answered from the stored bytes).
 * The client is this process, one socket, the same for every target: RTT from the send to the
 * reply. The server also reports its own processing time (datagram in -> reply ready), which no
 * client scheduling touches.
 * Then `lispwg query` (a new process per query, as a user runs it) against `ms` at N = 10: the
 * RTT it prints, against the same floor.
 *
 * Ends with one JSON line: per N and target the median and p90 RTT (us), the ratios to the echo,
 * and lispwg query's.
 *
 * Measured and dropped: a warm-up at start (5000 made-up requests through the path, so that V8's
 * optimising tiers compile it) changed nothing (processing 143 against 160 us, RTT 1.8x the echo
 * either way): when queries are sparse the path is slow because this VM's caches are cold after
 * an idle vCPU, not because it is interpreted (hot, it takes 8-24 us: bench:ms).
 */
import dgram from 'node:dgram';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import os from 'node:os';
import { run } from '../../src/util/exec.js';
import { MapServer } from '../../src/ms/server.js';
import { parseConfig } from '../../src/ms/config.js';
import { encodeReply } from '../../src/ms/registry.js';
import { makeEidPrefix } from '../../src/mapping/eid.js';
import { createLogger } from '../../src/util/log.js';
import { eidAddress, encodeMessage, encodingLength, rewriteEcmNonce, type MapRequest } from '../../src/lisp/index.js';
import { projectRoot } from '../../src/util/project.js';
import { PREFIX_LEN, prefixText, record } from './eids.js';

const SPACING_MS = 50;
const ROUND = 20;
const REGION = 1; // plain records

// --- a Map-Server child --------------------------------------------------------------------------

async function serve(n: number): Promise<void> {
  const config = parseConfig(`listen: [127.0.0.1]
port: 0
registration-ttl: 24h
rate-limit: { rate: 0 }
push: { order: off }
sites:
  - { name: bench, key: bench-site-key, max-registrations: 2000000, prefixes: [{ prefix: "2001:db8::/32", accept-more-specifics: true }] }
`);
  const ms = new MapServer(config, { logger: createLogger({}, { level: 'warn' }) });
  const source = { address: '127.0.0.1', port: 1 };
  for (let i = 0; i < n; i++) ms.registry.upsert(makeEidPrefix('ipv6', prefixText(i, REGION), PREFIX_LEN), 'bench', encodeReply(record(i, REGION, false)), source);
  const [ep] = await ms.start();
  process.stdout.write(JSON.stringify({ port: ep!.port }) + '\n');
  for await (const line of createInterface({ input: process.stdin })) {
    if (line === 'reset') ms.histograms.mapRequestCompute.reset();
    else if (line === 'stats') process.stdout.write(JSON.stringify(ms.histograms.mapRequestCompute.summary()) + '\n');
  }
  await ms.close();
}

// --- the targets ---------------------------------------------------------------------------------

interface Target {
  name: string;
  port: number;
  child: ChildProcess;
  lines?: AsyncIterator<string>;
}

async function nextLine(t: { lines?: AsyncIterator<string> }): Promise<string> {
  const r = await t.lines!.next();
  if (r.done) throw new Error('the child process ended');
  return r.value;
}

const self = fileURLToPath(import.meta.url);

async function msTarget(name: string, n: number): Promise<Target> {
  const child = spawn(process.execPath, [self, '--serve', String(n)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const t: Target = { name, port: 0, child, lines: createInterface({ input: child.stdout! })[Symbol.asyncIterator]() };
  t.port = (JSON.parse(await nextLine(t)) as { port: number }).port;
  return t;
}

const ECHO_PY = `import socket,sys
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)
s.bind(('127.0.0.1',0))
print(s.getsockname()[1],flush=True)
while True:
    d,a=s.recvfrom(4096)
    s.sendto(d,a)
`;

async function echoTarget(): Promise<Target> {
  const child = spawn('python3', ['-c', ECHO_PY], { stdio: ['ignore', 'pipe', 'inherit'] });
  const t: Target = { name: 'echo', port: 0, child, lines: createInterface({ input: child.stdout! })[Symbol.asyncIterator]() };
  t.port = Number(await nextLine(t));
  return t;
}

// --- the client ----------------------------------------------------------------------------------

class Client {
  private readonly sock = dgram.createSocket('udp4');
  private waiting: { nonce: bigint; k: number; resolve: (t: number) => void } | undefined;
  private readonly req: Buffer[] = [];
  private readonly at: Array<{ nonceOffset: number; checksumOffset: number }> = [];
  private seq = 0;

  async open(n: number): Promise<void> {
    await new Promise<void>((r) => this.sock.bind(0, '127.0.0.1', () => r()));
    // only the answer to the query in flight (a late one, after its 500-ms time-out, is not the next's)
    this.sock.on('message', (buf) => {
      const w = this.waiting;
      if (!w || buf.length < 12) return;
      const echoed = buf.length === this.req[w.k]!.length && buf.readBigUInt64BE(this.at[w.k]!.nonceOffset) === w.nonce;
      if (echoed || buf.readBigUInt64BE(4) === w.nonce) w.resolve(performance.now()); // the echo, or a Map-Reply
    });
    const port = this.sock.address().port;
    for (let k = 0; k < 64; k++) {
      const i = (k * 2654435761) % n;
      const req: MapRequest = {
        type: 'map-request', authoritative: false, mapDataPresent: false, probe: false, smr: false, pitr: false, smrInvoked: false,
        nonce: 0n, sourceEid: { afi: 'none' }, itrRlocs: [{ afi: 'ipv4', address: '127.0.0.1' }], records: [{ maskLen: 128, eid: eidAddress(prefixText(i, REGION) + '1') }],
      };
      const bytes = encodeMessage({ type: 'ecm', security: false, ddt: false, inner: { source: '127.0.0.1', destination: '127.0.0.1', sourcePort: port, destinationPort: 4342, ttl: 64 }, message: req });
      this.req.push(bytes);
      this.at.push({ nonceOffset: bytes.length - encodingLength(req) + 4, checksumOffset: bytes.length - encodingLength(req) - 2 });
    }
  }

  /** One query; its RTT in us (NaN: no answer within 500 ms). */
  async query(port: number): Promise<number> {
    const k = this.seq++ % this.req.length;
    const nonce = BigInt(this.seq);
    rewriteEcmNonce(this.req[k]!, this.at[k]!, nonce);
    const got = new Promise<number>((resolve) => {
      this.waiting = { nonce, k, resolve };
      setTimeout(() => resolve(NaN), 500).unref();
    });
    const t0 = performance.now();
    this.sock.send(this.req[k]!, port, '127.0.0.1');
    const t1 = await got;
    this.waiting = undefined;
    return (t1 - t0) * 1000;
  }

  close(): void {
    this.sock.close();
  }
}

const pct = (xs: number[], q: number) => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  return s.length ? Math.round(s[Math.min(s.length - 1, Math.floor(q * s.length))]!) : NaN;
};
const ratio = (a: number, b: number) => Math.round((a / b) * 100) / 100;

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const sizes = quick ? [10, 10_000, 100_000] : [10, 10_000, 1_000_000];
  const rounds = quick ? 5 : 15;
  console.log(`Map-Server under sparse queries (${quick ? 'quick' : 'full'}): one every ${SPACING_MS} ms, ${rounds} rounds of ${ROUND} per target, targets in turn; RTT from this process's send to the reply (us)`);
  const echo = await echoTarget();
  const rows: Array<Record<string, unknown>> = [];
  const loadAverage = [os.loadavg()[0]!];
  let queryTool: Record<string, number> | undefined;
  try {
    for (const n of sizes) {
      const t0 = performance.now();
      const servers = [await msTarget('ms', n)];
      try {
        const client = new Client();
        await client.open(n);
        await sleep(500);
        for (const s of servers) s.child.stdin!.write('reset\n');
        const rtt: Record<string, number[]> = { echo: [], ms: [] };
        for (let r = 0; r < rounds; r++) {
          for (const t of [echo, ...servers]) {
            for (let i = 0; i < ROUND; i++) {
              rtt[t.name]!.push(await client.query(t.port));
              await sleep(SPACING_MS);
            }
          }
          process.stderr.write(`\r  N = ${n}: round ${r + 1}/${rounds}`);
        }
        process.stderr.write('\n');
        client.close();
        const own: Record<string, { median: number; p90: number }> = {};
        for (const s of servers) {
          s.child.stdin!.write('stats\n');
          own[s.name] = JSON.parse(await nextLine(s)) as { median: number; p90: number };
        }
        const floor = pct(rtt.echo!, 0.5);
        const row = {
          n,
          echo: { median: floor, p90: pct(rtt.echo!, 0.9) },
          ms: { median: pct(rtt.ms!, 0.5), p90: pct(rtt.ms!, 0.9), processingMedian: own.ms!.median, lost: rtt.ms!.filter(Number.isNaN).length },
          msToEcho: ratio(pct(rtt.ms!, 0.5), floor),
          seconds: Math.round((performance.now() - t0) / 100) / 10,
        };
        rows.push(row);
        console.log(`N = ${n}: echo ${row.echo.median} us; ms ${row.ms.median} us (${row.msToEcho}x the echo; its own processing ${row.ms.processingMedian} us)`);
        loadAverage.push(os.loadavg()[0]!);
        if (n === sizes[0]) {
          // lispwg query as a user runs it: a new process per query, the RTT it prints
          const cli = `${projectRoot()}/dist/src/cli/main.js`;
          const printed: number[] = [];
          const floorAgain: number[] = [];
          const c2 = new Client();
          await c2.open(n);
          for (let i = 0; i < (quick ? 10 : 30); i++) {
            const r = await run([process.execPath, cli, 'query', '--ms', `127.0.0.1:${servers[0]!.port}`, `${prefixText(i % n, REGION)}1`, '--json']);
            printed.push((JSON.parse(r.stdout) as { rttMs: number }).rttMs * 1000);
            await sleep(SPACING_MS);
            floorAgain.push(await c2.query(echo.port));
            await sleep(SPACING_MS);
          }
          c2.close();
          queryTool = { median: pct(printed, 0.5), p90: pct(printed, 0.9), echoMedian: pct(floorAgain, 0.5), toEcho: ratio(pct(printed, 0.5), pct(floorAgain, 0.5)) };
          console.log(`lispwg query (a new process each): prints ${queryTool.median} us median against the echo's ${queryTool.echoMedian} us (${queryTool.toEcho}x)`);
        }
      } finally {
        for (const s of servers) s.child.kill();
      }
    }
  } finally {
    echo.child.kill();
  }
  console.log(JSON.stringify({ bench: 'ms-sparse', quick, spacingMs: SPACING_MS, queriesPerTarget: rounds * ROUND, rows, queryTool, loadAverage: loadAverage.map((l) => Math.round(l * 100) / 100) }));
}

if (process.argv[2] === '--serve') {
  serve(Number(process.argv[3])).catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
} else {
  main().catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  });
}
