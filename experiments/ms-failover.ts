/**
 * `ms-failover` (beyond the paper: its section IV-A names the Map-Server as the single point of
 * failure and proposes replicating it). topologies/paper-lan-ha.yaml: three Map-Server replicas
 * sharing one three-member etcd cluster, four mobile nodes registered with all three, each asking
 * ms1 first. With traffic running on an established tunnel (mn1 -> mn2), one failure per run:
 *
 * - `ms-replica`: the replica the sites ask first (ms1) is killed (SIGKILL);
 * - `etcd-member`: an etcd follower is killed;
 * - `etcd-leader`: the etcd leader is killed (the cluster elects another);
 * - `lone-restart`: a lone Map-Server with the embedded store (no etcd, no replica) is killed and
 *   started again at once.
 *
 * Measured per run: registrations lost (sites a surviving, or the restarted, Map-Server no longer
 * holds), packets lost on the established tunnel, the time from the failure until a new cold start
 * (mn3 -> mn4, both agents flushed before each try) succeeds again, and the time from a changed
 * registration (mn2's RLOC moves) to its subscriber (mn1) holding the new RLOC in its map-cache.
 * The failed component is started again after each run, and the lab is in service again before
 * the next.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { join, relative } from 'node:path';
import { copyFile, mkdir, readdir } from 'node:fs/promises';
import { LispwgError } from '../src/util/errors.js';
import { adminRequest } from '../src/ms/admin.js';
import type { Lab } from '../lab/lab.js';
import { nodeDir } from '../lab/names.js';
import { loadTopology } from '../lab/topology/load.js';
import { validateTopology } from '../lab/topology/validate.js';
import type { RawTopology } from '../lab/topology/schema.js';
import { alternateVariants, statsBy, type Experiment, type Mode, type Sample, type RunContext } from './lib/experiment.js';
import { perRunSpec } from './lib/plot.js';
import { round } from './lib/stats.js';
import { topologyFile, upLab } from './lib/lab.js';
import { agentsReady, eidOf, flush, status } from './lib/agents.js';
import { echoLoss } from './lib/ping.js';

export interface MsFailoverSample extends Sample {
  run: number;
  /** sites missing from a surviving (or the restarted) Map-Server after the failure */
  registrationsLost?: number;
  /** echo requests on the established tunnel without a reply, and how many were sent */
  packetsLost?: number;
  packetsSent?: number;
  /** runs of consecutive lost echo requests: ms after the failure that the first was sent, and how long the run lasted */
  outages?: Array<{ atMs: number; ms: number }>;
  /** where the daemons' logs of a run that lost packets were copied */
  logs?: string;
  /** failure -> the first cold start that got its first echo reply */
  coldStartMs?: number;
  /** mn2's RLOC moved -> mn1's map-cache holds the new one */
  subscriberMs?: number;
  /** lone-restart: the restarted Map-Server's first answer, and the sites it held then */
  restartServedMs?: number;
  error?: string;
}

export interface MsFailoverParams {
  runs: number;
  variants: string[];
  /** how long the traffic runs after the failure (s) */
  windowS: number;
  /** the lab's metrics scrape interval (ms; 0: none) */
  scrapeMs: number;
  /** keep the daemons' logs of every run (else only of a run that lost packets) */
  logs: boolean;
}

export const SCENARIOS = ['ms-replica', 'etcd-member', 'etcd-leader', 'lone-restart'] as const;
type Scenario = (typeof SCENARIOS)[number];

const labels: Record<Scenario, string> = {
  'ms-replica': 'the replica the sites ask first killed',
  'etcd-member': 'an etcd follower killed',
  'etcd-leader': 'the etcd leader killed',
  'lone-restart': 'a lone Map-Server (embedded store) restarted',
};

/** A cold start that has not succeeded by then counts as failed. */
const COLD_START_TIMEOUT_MS = 10_000;
const SUBSCRIBER_TIMEOUT_MS = 10_000;
/** The established tunnel's ping: one every 10 ms. */
const PING_INTERVAL_S = 0.01;
const SITES = ['mn1', 'mn2', 'mn3', 'mn4'];

export const msFailover: Experiment<MsFailoverSample, MsFailoverParams> = {
  name: 'ms-failover',
  title: 'Losing a Map-Server or an etcd member',
  reproduces: 'paper section IV-A ("a single point of failure": replicated Map-Servers)',
  method:
    'topologies/paper-lan-ha.yaml: three Map-Server replicas (lispwg ms with the etcd store) on a three-member etcd cluster, four mobile nodes registered with all three (LISP\'s way: every Map-Register to every Map-Server), each asking ms1 first and failing over to the next after one resolve timeout (250 ms). ' +
    `mn1 pings mn2's EID every ${PING_INTERVAL_S * 1000} ms through their established tunnel while one component fails: the replica the sites ask first (SIGKILL), an etcd follower, the etcd leader; and, on the same LAN with one Map-Server and its embedded store, that Map-Server killed and started again at once. ` +
    'Per run: registrations lost (sites the surviving or restarted Map-Servers no longer hold), packets lost on the established tunnel, the time from the failure until a new cold start (mn3 to mn4, both flushed before each try) gets its first echo reply, ' +
    "and the time from mn2's RLOC moving to mn1 (its subscriber) holding the new RLOC in its map-cache. The failed component is started again after each run.",
  labels,
  // the paper proposes replication and measures none
  paperValues: [],
  headline: {
    ours: { stat: 'median' },
    lispWg: SCENARIOS,
    noLisp: 'every scenario fails a part of the LISP+WG control plane',
    noPaper: 'it proposes replicated Map-Servers and measures none',
  },
  options: ['--reps=N          failures per scenario', `--variants=a,b    of ${SCENARIOS.join(', ')}`, '--window=S        traffic after each failure (s)', '--scrape=MS       the daemons\' metrics read every MS into the run directory (0: not)', '--logs=yes        keep the daemons\' logs of every run (else of those that lost packets)'],
  params(mode: Mode, o: Record<string, string>): MsFailoverParams {
    const runs = Number(o.reps ?? (mode === 'full' ? 10 : 1));
    if (!Number.isInteger(runs) || runs < 1) throw new LispwgError('EXP_OPTIONS', `--reps must be a positive integer, not '${o.reps}'`);
    const windowS = Number(o.window ?? (mode === 'full' ? 10 : 4));
    if (!(windowS >= 1)) throw new LispwgError('EXP_OPTIONS', `--window wants seconds >= 1, not '${o.window}'`);
    const variants = (o.variants ?? SCENARIOS.join(',')).split(',');
    for (const v of variants) if (!(SCENARIOS as readonly string[]).includes(v)) throw new LispwgError('EXP_VARIANT', `ms-failover has no scenario '${v}' (known: ${SCENARIOS.join(', ')})`);
    const scrapeMs = Number(o.scrape ?? 1000);
    if (!(scrapeMs === 0 || scrapeMs >= 50)) throw new LispwgError('EXP_OPTIONS', `--scrape wants ms >= 50 (or 0), not '${o.scrape}'`);
    return { runs, variants, windowS, scrapeMs, logs: o.logs === 'yes' };
  },
  run: runMsFailover,
  analyse(samples) {
    const variants = statsBy(samples, (s) => s.coldStartMs);
    const by = <K extends keyof MsFailoverSample>(k: K) =>
      Object.fromEntries([...new Set(samples.map((s) => s.variant))].map((v) => [v, samples.filter((s) => s.variant === v).reduce((a, s) => a + (Number(s[k]) || 0), 0)]));
    const subscriber = statsBy(samples, (s) => s.subscriberMs);
    const failed = samples.filter((s) => s.error).map((s) => `${s.variant} run ${s.run + 1}: ${s.error}`);
    const slowest = Math.max(0, ...samples.map((s) => s.coldStartMs ?? Infinity).filter(Number.isFinite));
    return {
      metric: 'failure -> a new cold start succeeds again',
      unit: 'ms',
      variants,
      ratios: {},
      paper: [],
      extra: {
        registrationsLost: by('registrationsLost'),
        packetsLost: by('packetsLost'),
        packetsSent: by('packetsSent'),
        subscriberMs: subscriber,
        restartServedMs: statsBy(samples, (s) => s.restartServedMs),
        goals: {
          'registrations lost (goal 0)': Object.values(by('registrationsLost')).reduce((a, b) => a + b, 0),
          'packets lost on established tunnels (goal 0)': Object.values(by('packetsLost')).reduce((a, b) => a + b, 0),
          'slowest cold start again, ms (goal < 1000)': round(slowest),
        },
        ...(failed.length ? { failed } : {}),
      },
      notes: [
        'Every Map-Register goes to every Map-Server, so a surviving replica already holds every site; a replica (re)started later rebuilds its registrations from etcd before it serves.',
        'An agent fails a Map-Request over to the next Map-Server after one resolve timeout (250 ms), then keeps asking the one that answered: a cold start right after ms1 dies pays that timeout once.',
        'Established tunnels never wait on the control plane: WireGuard carries them, and an agent keeps a live peer when no Map-Server answers (serve-stale).',
        ...failed,
      ],
    };
  },
  figure(samples) {
    return perRunSpec({
      title: 'Losing a Map-Server or an etcd member: time until a cold start succeeds again',
      yTitle: 'failure -> first echo reply of a new cold start (ms)',
      labels,
      points: samples.map((s) => ({ variant: s.variant, run: s.run + 1, value: s.coldStartMs ?? COLD_START_TIMEOUT_MS, censored: s.coldStartMs === undefined })),
    });
  },
};

const msSocket = (lab: Lab, ms: string) => join(nodeDir(lab.name, ms), 'ms.sock');

/** The sites `ms` holds a registration of (undefined: it does not answer). */
async function sitesHeld(lab: Lab, ms: string): Promise<number | undefined> {
  const snap = (await adminRequest(msSocket(lab, ms), { cmd: 'show', limit: 0 }).catch(() => undefined)) as { sites?: Array<{ registrations: number }> } | undefined;
  return snap?.sites ? snap.sites.filter((s) => s.registrations > 0).length : undefined;
}

/** The etcd member names by role, from `etcdctl endpoint status` (its 5th column: is leader). */
async function etcdRoles(lab: Lab): Promise<{ leader: string; followers: string[] }> {
  const members = lab.model.nodes.filter((n) => n.kind === 'etcd').map((n) => n.name);
  const urls = members.map((m) => `http://${lab.addressOf(m)}:2379`);
  const r = await lab.exec(members[0]!, ['etcdctl', '--endpoints', urls.join(','), '--command-timeout', '2s', 'endpoint', 'status', '-w', 'simple'], { allowFail: true });
  const leaders = r.stdout.split('\n').filter((l) => l.split(',')[4]?.trim() === 'true').map((l) => members[urls.indexOf(l.split(',')[0]!.trim())]!);
  if (leaders.length !== 1) throw new LispwgError('EXP_ETCD', `cannot tell the etcd leader: ${(r.stdout + r.stderr).trim().slice(-300)}`);
  return { leader: leaders[0]!, followers: members.filter((m) => m !== leaders[0]) };
}

/** Tries cold starts mn3 -> mn4 (both flushed before each) until one gets its first reply; ms from `t0`. */
async function coldStartAgain(lab: Lab, t0: number): Promise<number | undefined> {
  const to = eidOf(lab, 'mn4');
  while (performance.now() - t0 < COLD_START_TIMEOUT_MS) {
    await flush(lab, ['mn3', 'mn4']);
    const r = await lab.exec('mn3', ['ping', '-n', '-c', '1', '-W', '1', to], { allowFail: true });
    if (r.exitCode === 0) return round(performance.now() - t0);
  }
  return undefined;
}

/** mn2's RLOC moves to the other of its two addresses; ms until mn1's map-cache holds it. */
async function subscriberSees(lab: Lab, move: number): Promise<number | undefined> {
  const [a, b] = ['198.18.0.12', '198.18.0.112'];
  const [from, to] = move % 2 ? [b, a] : [a, b];
  const eid = eidOf(lab, 'mn2');
  const t0 = performance.now();
  // deleted first: deleting a primary address takes its subnet's secondaries with it
  await lab.exec('mn2', ['sh', '-c', `ip addr del ${from}/24 dev eth0 && ip addr add ${to}/24 dev eth0`]);
  while (performance.now() - t0 < SUBSCRIBER_TIMEOUT_MS) {
    const st = await status(lab, 'mn1');
    if (st.mapCache.some((e) => e.prefix.startsWith(`${eid}/`) && e.rlocs.includes(to))) return round(performance.now() - t0);
    await sleep(10);
  }
  return undefined;
}

/** Waits until every Map-Server of the lab answers and holds every site. */
async function inService(lab: Lab, servers: readonly string[], timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (const ms of servers) {
    while ((await sitesHeld(lab, ms)) !== SITES.length) {
      if (Date.now() > end) throw new LispwgError('EXP_NOT_IN_SERVICE', `${ms} does not hold every site ${timeoutMs / 1000} s after the run (see ${nodeDir(lab.name, ms)}/lispwg.log)`);
      await sleep(50);
    }
  }
}

/** One failure, with traffic on mn1 -> mn2; the failed component is started again afterwards. */
async function oneFailure(lab: Lab, scenario: Scenario, run: number, p: MsFailoverParams, counter: { moves: number }, ctxDir: string): Promise<Omit<MsFailoverSample, 'variant' | 'run'>> {
  const servers = lab.model.nodes.filter((n) => n.kind === 'ms').map((n) => n.name);
  await inService(lab, servers);
  // the established tunnel carries traffic before, during and after the failure
  const eid2 = eidOf(lab, 'mn2');
  await lab.exec('mn1', ['ping', '-n', '-c', '3', '-i', '0.05', '-W', '1', eid2], { allowFail: true });
  // -D: each reply stamped, so that a loss is placed in time against the failure; stopped by a
  // signal once the window is over (a request in flight then is not lost: echoLoss)
  const ping = await lab.spawn('mn1', `ping-${scenario}-${run}`, ['ping', '-n', '-D', '-i', String(PING_INTERVAL_S), eid2]);
  await sleep(500);
  let victim: { node: string; process: string };
  if (scenario === 'ms-replica' || scenario === 'lone-restart') victim = { node: 'ms1', process: 'lispwg' };
  else {
    const roles = await etcdRoles(lab);
    victim = { node: scenario === 'etcd-leader' ? roles.leader : roles.followers[run % roles.followers.length]!, process: 'etcd' };
  }
  const t0 = performance.now();
  const killedAt = Date.now();
  await lab.process(victim.node, victim.process)!.stop('SIGKILL', 0);
  let restartServedMs: number | undefined;
  let heldAtRestart: number | undefined;
  if (scenario === 'lone-restart') {
    // started again at once: how soon it answers, and with how many sites
    await lab.restart(victim.node, victim.process);
    for (;;) {
      heldAtRestart = await sitesHeld(lab, 'ms1');
      if (heldAtRestart !== undefined) break;
      if (performance.now() - t0 > 15_000) throw new LispwgError('EXP_MS_TIMEOUT', 'the restarted Map-Server did not answer within 15 s');
      await sleep(5);
    }
    restartServedMs = round(performance.now() - t0);
  }
  const coldStartMs = await coldStartAgain(lab, t0);
  // the traffic window ends, then what the surviving Map-Servers hold and the subscription
  const ended = Math.max(0, p.windowS * 1000 + 1500 - (performance.now() - t0));
  await sleep(ended);
  const stoppedAt = Date.now();
  await ping.stop('SIGINT');
  const { sent, lost, outages } = echoLoss(await ping.output(), killedAt, stoppedAt);
  const alive = scenario === 'ms-replica' ? servers.filter((s) => s !== 'ms1') : servers;
  const held = scenario === 'lone-restart' ? [heldAtRestart!] : await Promise.all(alive.map((s) => sitesHeld(lab, s).then((n) => n ?? 0)));
  const subscriberMs = await subscriberSees(lab, counter.moves++);
  const logs = outages.length || p.logs ? await keepLogs(lab, ctxDir, `${scenario}-${run + 1}`) : undefined;
  if (scenario !== 'lone-restart') await lab.restart(victim.node, victim.process);
  return {
    registrationsLost: SITES.length - Math.min(...held),
    packetsLost: lost,
    packetsSent: sent,
    ...(outages.length ? { outages } : {}),
    ...(logs ? { logs } : {}),
    ...(coldStartMs !== undefined ? { coldStartMs } : { error: `no cold start succeeded within ${COLD_START_TIMEOUT_MS / 1000} s` }),
    ...(subscriberMs !== undefined ? { subscriberMs } : {}),
    ...(restartServedMs !== undefined ? { restartServedMs } : {}),
  };
}

/** Copies the logs of every daemon of the lab into the run directory; returns the folder. */
async function keepLogs(lab: Lab, runDir: string, name: string): Promise<string> {
  const dest = join(runDir, 'logs', name);
  await mkdir(dest, { recursive: true });
  for (const n of lab.model.nodes) {
    const dir = nodeDir(lab.name, n.name);
    for (const f of await readdir(dir).catch(() => [] as string[])) if (f.endsWith('.log')) await copyFile(join(dir, f), join(dest, `${n.name}-${f}`));
  }
  return relative(runDir, dest);
}

/** paper-lan-ha with one Map-Server and no etcd: the lone Map-Server with its embedded store. */
async function loneModel() {
  const ha = await loadTopology(topologyFile('paper-lan-ha'));
  const raw = structuredClone(ha.raw) as RawTopology & { nodes: Record<string, Record<string, unknown>>; links: Array<{ endpoints: string[] }> };
  const gone = (node: string) => /^etcd|^ms[23]$/.test(node);
  for (const name of Object.keys(raw.nodes)) {
    if (gone(name)) delete raw.nodes[name];
    else if (raw.nodes[name]!.ms) raw.nodes[name]!.ms = 'ms1';
  }
  raw.links = raw.links.filter((l) => !l.endpoints.some((e) => gone(e.split(':')[0]!)));
  raw.name = 'paper-lan-lone';
  const { model, problems } = validateTopology(raw);
  if (!model) throw new LispwgError('EXP_TOPOLOGY', `the lone Map-Server topology does not validate: ${problems[0]?.message}`);
  return model;
}

async function runMsFailover(ctx: RunContext<MsFailoverSample, MsFailoverParams>): Promise<void> {
  const labs: Partial<Record<'ha' | 'lone', Lab>> = {};
  const counters = { ha: { moves: 0 }, lone: { moves: 0 } };
  for (const v of ctx.params.variants) {
    const which = v === 'lone-restart' ? 'lone' : 'ha';
    if (labs[which]) continue;
    // the daemons' counters every second, in the run directory (lab/metrics.ts)
    labs[which] = await upLab(ctx, which === 'ha' ? 'paper-lan-ha' : await loneModel(), `msf-${which}-`, { scrapeMs: ctx.params.scrapeMs });
    await agentsReady(ctx.run, labs[which]!, SITES);
  }
  await alternateVariants(ctx, ctx.params.variants, ctx.params.runs, 'run', async (v, run) => {
    const which = v === 'lone-restart' ? 'lone' : 'ha';
    try {
      return await oneFailure(labs[which]!, v as Scenario, run, ctx.params, counters[which], ctx.run.dir);
    } catch (e) {
      return { error: e instanceof Error ? e.message : String(e) };
    }
  });
}

export default msFailover;
