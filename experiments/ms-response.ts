/**
 * `ms-response` (paper Fig. 8, thesis 4.3): the Map-Server's processing delay, Map-Request in to
 * Map-Reply out, against the number N of registered entries, for records carrying a WireGuard key
 * and for plain LISP records. Measured three ways per request: the server namespace's capture
 * (the thesis' method: tshark timestamps of the ECM in and the Map-Reply out), the server's own
 * counter, and the client's round trip (our lig).
 */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { LispwgError } from '../src/util/errors.js';
import { lispwgBin, projectRoot } from '../src/util/project.js';
import { adminRequest } from '../src/ms/admin.js';
import { nodeDir } from '../lab/names.js';
import type { Lab } from '../lab/lab.js';
import type { LabProcess } from '../lab/process.js';
import type { LispControlEvent } from '../lab/capture/decode.js';
import { comparePaper, ratiosOf, statsBy, type Experiment, type Mode, type PaperValue, type Sample, type RunContext } from './lib/experiment.js';
import { delayVsNSpec } from './lib/plot.js';
import { round, summarize } from './lib/stats.js';
import type { PerNMedian } from './lib/gates.js';
import { upLab } from './lib/lab.js';
import { annotateOor, withRealOor } from './lib/oor.js';
import { OOR_STARTED, oorBinary, oorCommand, oorMsConfig } from '../lab/kinds/oor.js';
import { entryEid } from './tools/ms-load.js';

/**
 * One Map-Request seen by the capture (kind 'request'), or one batch's statistics from the
 * server's own histogram ('server': datagram in -> Map-Reply sent) or the client's RTT ('client').
 */
export interface MsResponseSample extends Sample {
  n: number;
  kind: 'request' | 'server' | 'client';
  /** request: its order in the batch, and ECM Map-Request in -> Map-Reply out at the server's interface, us */
  rep?: number;
  captureUs?: number;
  /** server / client: the batch's statistics, us */
  count?: number;
  median?: number;
  p90?: number;
  p99?: number;
  mean?: number;
  /** seconds it took to register the n entries */
  loadSeconds?: number;
  warmup?: boolean;
}

export interface MsResponseParams {
  sizes: number[];
  queries: number;
  variants: string[];
}

/** The thesis' sizes (its MS configuration script), then 150 000 and 1 000 000 beyond them. */
const PAPER_SIZES = [10, 20, 50, 100, 150, 200, 300, 400, 500, 700, 1000, 1250, 1500, 2000, 3000, 4000, 5000, 7000, 10000, 15000, 20000, 30000, 40000, 50000, 70000, 100000];
const QUICK_SIZES = [10, 1000, 100000];

export const PAPER: readonly PaperValue[] = [
  { metric: 'WG records - plain records (processing, mean of per-N medians)', variant: 'lisp-wg', stat: 'value', value: 40, unit: 'us', source: 'paper VI-C / thesis 4.3: "on average 40 us"' },
  { metric: 'median at the largest N / at the smallest N', variant: 'lisp-wg', stat: 'value', value: 1, unit: 'x', source: 'paper Fig. 8: flat in N (Patricia trie)' },
  { metric: 'client RTT at N = 10 (OOR 1.3 lig on this machine)', variant: 'oor', stat: 'value', value: 100, unit: 'us', source: 'experiments.md: 0.10 ms median' },
  { metric: 'client RTT at N = 100 000 (OOR 1.3 lig on this machine)', variant: 'oor', stat: 'value', value: 80, unit: 'us', source: 'experiments.md: 0.08 ms median' },
];

const labels = { 'lisp-wg': 'records with a WireGuard key (OOR+WG)', lisp: 'plain LISP records (OOR)', oor: "the real OOR's Map-Server" };

/** The delay every statistic uses: the capture at the server's interface, per request. */
const processingUs = (s: MsResponseSample): number | undefined => (s.kind === 'request' ? s.captureUs : undefined);

/** The per-batch medians of the server's counter or the client's RTT. */
function batchMedians(samples: readonly MsResponseSample[], kind: 'server' | 'client'): PerNMedian[] {
  return samples.filter((s) => s.kind === kind && s.median !== undefined).map((s) => ({ variant: s.variant, n: s.n, median: s.median! })).sort((a, b) => a.variant.localeCompare(b.variant) || a.n - b.n);
}

export function perN(samples: readonly MsResponseSample[], value: (s: MsResponseSample) => number | undefined): PerNMedian[] {
  const by = new Map<string, number[]>();
  for (const s of samples) {
    const v = value(s);
    if (v === undefined || !Number.isFinite(v)) continue;
    const k = `${s.variant}|${s.n}`;
    (by.get(k) ?? by.set(k, []).get(k)!).push(v);
  }
  return [...by.entries()]
    .map(([k, xs]) => ({ variant: k.split('|')[0]!, n: Number(k.split('|')[1]), median: round(summarize(xs).median) }))
    .sort((a, b) => a.variant.localeCompare(b.variant) || a.n - b.n);
}

export const msResponse: Experiment<MsResponseSample, MsResponseParams> = {
  name: 'ms-response',
  title: 'Map-Server response delay vs number of entries',
  reproduces: 'paper Fig. 8, thesis 4.3',
  method:
    'The Map-Server (`lispwg ms`) runs in its own namespace, a query node in another (topologies/ms-scale.yaml), no tunnels, as in the thesis. ' +
    'For every size N and variant a fresh Map-Server is loaded with N entries (Map-Registers from the query node, with or without a WireGuard key in a Security Key LCAF), ' +
    'then the query node sends Map-Requests in ECMs for one registered EID (`lispwg query`, our lig, 100 requests/s, one outstanding at a time in practice) while tcpdump captures UDP 4342 in the server\'s namespace. ' +
    'The processing delay of each request is the capture time of its Map-Reply minus that of its ECM (matched by nonce). ' +
    'The server\'s own histogram and the client\'s round trip are kept beside it. The first 10 requests of every batch are a warm-up. ' +
    'Where its binary exists, the real OOR runs as the Map-Server too (variant oor: `operating-mode = MS`, one lisp-site 2001:db8::/32 accepting more specifics, proxy-replied, loaded with the same plain Map-Registers 30 records at a time: OOR fails to send the Map-Notify for 50 of them); it has no histogram of its own.',
  labels,
  paperValues: PAPER,
  headline: {
    ours: { stat: 'median' },
    lispWg: ['lisp-wg'],
    lisp: 'lisp',
    oor: 'oor',
    noPaper: 'Fig. 8 plots the delay against N; the text states only the key\'s cost and the flatness (below)',
    also: [
      { metric: 'WG records - plain records (processing, mean of per-N medians)', variant: 'lisp-wg' },
      { metric: 'median at the largest N / at the smallest N', variant: 'lisp-wg' },
    ],
  },
  options: [
    '--sizes=a,b,...   numbers of registered entries',
    '--queries=N       Map-Requests per size and variant (plus 10 warm-up)',
    '--variants=a,b    of lisp-wg, lisp, oor (the real OOR Map-Server; by default where its binary exists)',
  ],
  params(mode: Mode, o: Record<string, string>): MsResponseParams {
    const sizes = o.sizes ? o.sizes.split(',').map(Number) : mode === 'full' ? [...PAPER_SIZES, 150000, 1000000] : QUICK_SIZES;
    if (sizes.some((n) => !Number.isInteger(n) || n < 1)) throw new LispwgError('EXP_OPTIONS', `--sizes wants positive integers separated by commas, not '${o.sizes}'`);
    const queries = Number(o.queries ?? (mode === 'full' ? 50 : 30));
    if (!Number.isInteger(queries) || queries < 1) throw new LispwgError('EXP_OPTIONS', `--queries must be a positive integer, not '${o.queries}'`);
    return { sizes, queries, variants: o.variants ? o.variants.split(',') : withRealOor(['lisp-wg', 'lisp']) };
  },
  run: runMsResponse,
  analyse(samples) {
    const counted = samples.filter((s) => !s.warmup);
    const variants = statsBy(counted, processingUs);
    const medians = perN(counted, processingUs);
    const server = batchMedians(counted, 'server');
    const rtt = batchMedians(counted, 'client');
    // the key's cost: difference of the per-N medians, averaged over the sizes both variants have
    const diffs = medians.filter((m) => m.variant === 'lisp-wg').flatMap((m) => {
      const p = medians.find((x) => x.variant === 'lisp' && x.n === m.n);
      return p ? [m.median - p.median] : [];
    });
    const flat = (v: string): number | undefined => {
      const rows = medians.filter((m) => m.variant === v);
      return rows.length > 1 ? rows[rows.length - 1]!.median / rows[0]!.median : undefined;
    };
    const rttAt = (n: number): number | undefined => {
      const rows = rtt.filter((r) => r.variant === 'oor');
      if (!rows.length) return undefined;
      return rows.reduce((best, r) => (Math.abs(Math.log(r.n / n)) < Math.abs(Math.log(best.n / n)) ? r : best)).median;
    };
    const wgCost = diffs.length ? diffs.reduce((a, b) => a + b, 0) / diffs.length : undefined;
    return {
      metric: 'processing delay, Map-Request in -> Map-Reply out (capture at the server)',
      unit: 'us',
      variants,
      ratios: ratiosOf(variants, [['lisp-wg', 'lisp'], ['lisp-wg', 'oor'], ['lisp', 'oor']]),
      paper: comparePaper(PAPER, (p) => (p.metric.startsWith('WG records') ? wgCost : p.metric.startsWith('median at') ? flat('lisp-wg') : p.metric.includes('N = 10 ') ? rttAt(10) : rttAt(100000))),
      extra: {
        perN: medians,
        perNServerCounter: server,
        perNClientRtt: rtt,
        flatness: Object.fromEntries(['lisp-wg', 'lisp'].flatMap((v) => (flat(v) !== undefined ? [[v, round(flat(v)!, 3)]] : []))),
        ...(wgCost !== undefined ? { wgRecordCostUs: round(wgCost) } : {}),
        loadSeconds: counted.filter((s) => s.kind === 'server').map((s) => ({ variant: s.variant, n: s.n, seconds: s.loadSeconds })),
      },
      notes: [
        `${samples.filter((s) => s.warmup).length} warm-up request(s) excluded (the first 10 of each size and variant: the freshly started Node process is still compiling its hot path).`,
        'Entries are IPv6 /64s in 2001:db8::/32 registered by Map-Registers (100 records each) before each batch; the thesis loaded BGP prefixes from a static configuration. The Map-Server is restarted for every size and variant, so its counters cover one batch.',
        'Capture timestamps (tcpdump in the server\'s namespace) have microsecond resolution and include the kernel\'s receive and send paths; the server\'s own counter (extra.perNServerCounter, a log-bucketed histogram over the whole batch, warm-up included) does not.',
      ],
    };
  },
  figure(samples) {
    const pts = samples.filter((s) => !s.warmup).flatMap((s) => {
      const v = processingUs(s);
      return v === undefined ? [] : [{ variant: s.variant, n: s.n, value: v }];
    });
    return delayVsNSpec({ title: 'Map-Server processing delay vs entries (Fig. 8)', yTitle: 'Map-Request in -> Map-Reply out (us)', samples: pts, labels });
  },
};

const SITE_KEY = 'ms-response-load';
/** Requests at the start of every batch left out: a freshly started Map-Server is still compiling its hot path. */
const WARMUP = 10;

/** A Map-Server config: one site whose prefix holds every entry, registrations that outlive the run. */
function msConfig(address: string, adminSocket: string): string {
  return stringify({
    listen: [address],
    'admin-socket': adminSocket,
    'registration-ttl': '24h',
    store: { kind: 'memory' }, // a fresh server per batch: nothing to keep, and 1M entries would be 200 MB of journal
    'rate-limit': { rate: 0, burst: 1 },
    sites: [{ name: 'load', key: SITE_KEY, 'key-id': 1, 'max-registrations': 2_000_000, prefixes: [{ prefix: '2001:db8::/32', 'accept-more-specifics': true }] }],
  });
}

interface Histo {
  count: number;
  median: number | null;
  p90: number | null;
  p99: number | null;
  mean: number | null;
}

/** One batch: a fresh Map-Server with n entries of one kind, q Map-Requests, the capture at the server. */
async function batch(ctx: RunContext<MsResponseSample, MsResponseParams>, lab: Lab, variant: string, n: number, tag: string): Promise<void> {
  const msAddr = lab.addressOf('ms', 'eth0');
  const dir = nodeDir(lab.name, 'ms');
  const admin = join(dir, `ms-${tag}.sock`);
  const real = variant === 'oor';
  const ms = real ? await startOor(lab, dir, tag) : await startLispwg(lab, msAddr, admin, dir, tag);
  try {
    const loader = join(projectRoot(), 'dist', 'experiments', 'tools', 'ms-load.js');
    const load = await lab.exec('q', ['node', loader, '--ms', msAddr, '--key', SITE_KEY, '--to', String(n), '--rloc', lab.addressOf('q', 'eth0'), ...(variant === 'lisp-wg' ? ['--keys'] : []), ...(real ? ['--records', '30'] : [])], { timeoutMs: 900_000 });
    const loaded = JSON.parse(load.stdout.trim().split('\n').pop()!) as { registered: number; seconds: number };
    if (loaded.registered !== n) throw new LispwgError('EXP_MS_LOAD', `registered ${loaded.registered} of ${n} entries`);

    const cap = await lab.capture('ms', 'eth0', { filter: 'udp port 4342' });
    const eid = entryEid(Math.floor(n / 2));
    const q = ctx.params.queries + WARMUP;
    const flood = await lab.exec('q', ['node', lispwgBin(), 'query', '--ms', msAddr, eid, '--rate', '100', '--count', String(q), '--json'], { timeoutMs: 120_000 });
    const events = (await cap.events()).filter((e): e is LispControlEvent => e.kind === 'lisp-control');
    // a batch's samples are written together at its end: a resumed run redoes a batch cut short
    const out: MsResponseSample[] = [];
    const inAt = new Map<bigint, number>();
    let rep = 0;
    for (const e of events) {
      const m = e.message;
      if (m?.type === 'ecm' && m.message.type === 'map-request') inAt.set(m.message.nonce, e.timeUs);
      else if (m?.type === 'map-reply' && inAt.has(m.nonce)) {
        out.push({ variant, n, kind: 'request', rep, captureUs: e.timeUs - inAt.get(m.nonce)!, ...(rep < WARMUP ? { warmup: true } : {}) });
        inAt.delete(m.nonce);
        rep++;
      }
    }
    if (rep < q) ctx.log(`${variant} N=${n}: ${q - rep} of ${q} requests not matched in the capture`);
    // OOR has no counters to ask: its capture and the client's round trip are what it has
    if (!real) {
      const snap = (await adminRequest(admin, { cmd: 'show', limit: 0 })) as { registrationCount: number; latencyMicroseconds: { mapRequest: Histo } };
      if (snap.registrationCount !== n) throw new LispwgError('EXP_MS_LOAD', `the Map-Server holds ${snap.registrationCount} entries, expected ${n}`);
      const h = snap.latencyMicroseconds.mapRequest;
      out.push({ variant, n, kind: 'server', count: h.count, median: h.median ?? NaN, p90: h.p90 ?? NaN, p99: h.p99 ?? NaN, mean: h.mean ?? NaN, loadSeconds: loaded.seconds });
    }
    const c = JSON.parse(flood.stdout.trim().split('\n').pop()!) as { rttMicroseconds: Histo };
    out.push({ variant, n, kind: 'client', count: c.rttMicroseconds.count, median: c.rttMicroseconds.median ?? NaN, p90: c.rttMicroseconds.p90 ?? NaN, p99: c.rttMicroseconds.p99 ?? NaN, mean: c.rttMicroseconds.mean ?? NaN });
    for (const x of out) ctx.sample(x);
  } finally {
    await ms.stop('SIGTERM', 3000);
  }
}

/** A fresh `lispwg ms` holding one site whose prefix takes every entry; resolves once its admin socket exists. */
async function startLispwg(lab: Lab, msAddr: string, admin: string, dir: string, tag: string): Promise<LabProcess> {
  const config = join(dir, `ms-${tag}.yaml`);
  await writeFile(config, msConfig(msAddr, admin));
  const ms = await lab.spawn('ms', `ms-${tag}`, ['node', lispwgBin(), 'ms', '--config', config, '--log-level', 'warn']);
  for (let t = 0; !existsSync(admin); t++) {
    if (!(await ms.running())) throw new LispwgError('EXP_MS_EXITED', `the Map-Server exited at start: ${(await ms.output()).trim().slice(-400)}`);
    if (t > 300) throw new LispwgError('EXP_MS_TIMEOUT', 'the Map-Server did not come up within 15 s');
    await sleep(50);
  }
  return ms;
}

/** A fresh real OOR as Map-Server with the same site (key, 2001:db8::/32 with more specifics, proxy-replied). */
async function startOor(lab: Lab, dir: string, tag: string): Promise<LabProcess> {
  const bin = oorBinary();
  if (!bin) throw new LispwgError('EXP_NO_OOR', 'variant oor needs the OOR binary: --oor PATH, LISPWG_OOR, or oor on PATH');
  const config = join(dir, `oor-${tag}.conf`);
  await writeFile(config, oorMsConfig('eth0', [{ prefix: '2001:db8::/32', key: SITE_KEY, moreSpecifics: true }]), { mode: 0o600 });
  const ms = await lab.spawn('ms', `oor-${tag}`, oorCommand(bin, config));
  await ms.waitForLog(new RegExp(OOR_STARTED.replace(/[.)]/g, '\\$&')), 15_000);
  return ms;
}

async function runMsResponse(ctx: RunContext<MsResponseSample, MsResponseParams>): Promise<void> {
  for (const v of ctx.params.variants) if (!['lisp-wg', 'lisp', 'oor'].includes(v)) throw new LispwgError('EXP_VARIANT', `ms-response has no variant '${v}' (known: lisp-wg, lisp, oor)`);
  await annotateOor(ctx.run, ctx.params.variants, "plain records on lispwg's Map-Server");
  const lab = await upLab(ctx, 'ms-scale', 'msr', { daemons: false });
  const done = new Set(ctx.done.filter((s) => s.kind === 'client').map((s) => `${s.variant}|${s.n}`));
  const plan = ctx.params.sizes.flatMap((n, i) => (i % 2 ? [...ctx.params.variants].reverse() : ctx.params.variants).map((v) => ({ n, v })));
  let k = 0;
  for (const { n, v } of plan) {
    k++;
    if (done.has(`${v}|${n}`)) continue;
    ctx.progress(k - 1, plan.length, `${v} N=${n}`);
    await batch(ctx, lab, v, n, `${v}-${n}`);
  }
  ctx.progress(plan.length, plan.length, 'done');
}

export default msResponse;
