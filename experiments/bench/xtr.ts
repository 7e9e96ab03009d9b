/**
 * The agent's cold-start timeline, over many cold starts: on the paper's LAN (Map-Server and two
 * mobile nodes, topologies/paper-lan.yaml, real `lispwg ms` / `lispwg xtr` processes with
 * wireguard-go), MN1 sends one echo request to MN2's EID with both map-caches empty. From the
 * agent's event log and `ping -D`:
 *
 *   miss -> Map-Request sent -> Map-Reply received -> peer installed -> route installed
 *        -> first packet released -> first echo reply
 *
 * Between repetitions both agents forget everything (admin `flush`: peers, routes, map-cache), and
 * the bench waits out wireguard-go's ~20-ms handshake rate limit. A warm ping (tunnel up) in every
 * repetition gives the ratio cold / warm measured in the same run.
 *
 *   flock /tmp/lispwg-netns.lock npm run bench:xtr [-- --reps 100] [--gap 30] [--push-order ORDER]
 *
 * --gap: idle time before each cold start (ms); --push-order: the Map-Server's push.order.
 * Beside the timeline it measures, after the same idle gap, one bare control round trip (a
 * Map-Request answered negatively: no push, no install). That is the floor of this machine:
 * push-then-reply needs two of them before the requester can install anything.
 *
 * Targets: miss-to-installed median under 1 ms, first echo reply median under 3 ms, no
 * multi-second tail. Prints the timeline, then ends with one JSON line of figures.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Lab } from '../../lab/lab.js';
import { loadTopology } from '../../lab/topology/load.js';
import { eidSpace } from '../../lab/roles.js';
import { hostAt, ipText, parseCidr } from '../../lab/topology/addr.js';
import { PUSH_ORDERS, type PushOrder } from '../../src/ms/config.js';
import { agentsReady, eidOf, eventOffset, eventsSince, flush, wgStatus } from '../lib/agents.js';
import { topologyFile, withNodeSettings } from '../lib/lab.js';
import { ExperimentRun } from '../lib/run.js';
import { round, summarize, type Summary } from '../lib/stats.js';

function option(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i < 0 ? dflt : Number(process.argv[i + 1]);
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${name} needs a positive integer`);
  return v;
}

/** `ping -D -c 1`: the wall-clock time of the reply (ms since the epoch), undefined if none. */
async function pingOnce(lab: Lab, node: string, to: string): Promise<number | undefined> {
  const r = await lab.exec(node, ['ping', '-D', '-n', '-c', '1', '-W', '3', to], { allowFail: true });
  const m = /^\[(\d+\.\d+)\] \d+ bytes from .* time=([\d.]+) ms/m.exec(r.stdout);
  return m ? Number(m[1]) * 1000 : undefined;
}

async function pingRtt(lab: Lab, node: string, to: string): Promise<number | undefined> {
  const r = await lab.exec(node, ['ping', '-n', '-c', '1', '-W', '3', to], { allowFail: true });
  const m = /time=([\d.]+) ms/.exec(r.stdout);
  return m ? Number(m[1]) : undefined;
}

/** The last host address of an IPv4 prefix (inside the EID space, registered by nobody in paper-lan). */
function lastHost(prefix: string): string {
  const c = parseCidr(prefix);
  if (typeof c === 'string') throw new Error(c);
  return ipText(hostAt(c, 2 ** (32 - c.prefix) - 2));
}

const STEPS = [
  ['miss', 'map-request-sent'],
  ['map-request-sent', 'push-received'],
  ['push-received', 'push-installed'],
  ['push-installed', 'map-reply-received'],
  ['map-reply-received', 'peer-installed'],
  ['peer-installed', 'route-installed'],
  ['route-installed', 'first-packet-released'],
  ['first-packet-released', 'first-reply'],
] as const;
const TOTALS = [
  ['miss', 'route-installed', 'miss to installed (peer and route)'],
  ['miss', 'first-reply', 'miss to first echo reply'],
] as const;

async function main(): Promise<void> {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    process.stdout.write('usage: npm run bench:xtr [-- --reps N] [--gap MS] [--push-order push-then-reply|parallel|reply-then-push]\n  N cold starts (default 100), MS idle before each (default 30); run it alone: it builds a lab\n');
    return;
  }
  const reps = option('reps', 100);
  const gapArg = process.argv.indexOf('--gap');
  const gapMs = gapArg < 0 ? 30 : Number(process.argv[gapArg + 1]);
  if (!Number.isInteger(gapMs) || gapMs < 0) throw new Error('--gap needs a whole number of milliseconds');
  const orderArg = process.argv.indexOf('--push-order');
  const pushOrder = orderArg < 0 ? undefined : process.argv[orderArg + 1];
  if (pushOrder !== undefined && !PUSH_ORDERS.includes(pushOrder as PushOrder)) throw new Error(`--push-order needs one of ${PUSH_ORDERS.join(', ')}`);
  const paperLan = await loadTopology(topologyFile('paper-lan'));
  const topology = pushOrder ? withNodeSettings(paperLan, { ms: { config: { push: { order: pushOrder } } } }) : paperLan;
  const run = await ExperimentRun.start('bench-xtr', { params: { reps, gapMs, topology: 'paper-lan', pushOrder: pushOrder ?? 'default' }, tools: { 'wireguard-go': ['wireguard-go', '--version'], ping: ['ping', '-V'] } });
  const name = `bxtr${randomBytes(2).toString('hex')}`;
  process.stderr.write(`[bench-xtr] bringing up ${name} (paper-lan)\n`);
  const lab = await Lab.up(topology, { name });
  // Ctrl-C, a kill or a closed pipe (`| head`) must not leave the lab behind
  const abort = (why: string) => {
    process.stderr.write(`[bench-xtr] ${why}: taking ${name} down\n`);
    lab.down().then(
      () => process.exit(130),
      (e: unknown) => {
        process.stderr.write(`[bench-xtr] could not take ${name} down (${e instanceof Error ? e.message : String(e)}): run 'lispwg lab down ${name}'\n`);
        process.exit(1);
      },
    );
  };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(sig, () => abort(sig));
  process.stdout.on('error', () => abort('stdout closed'));
  try {
    const target = eidOf(lab, 'mn2');
    const unregistered = lastHost(eidSpace(topology).find((p) => !p.includes(':'))!);
    await agentsReady(run, lab, ['mn1', 'mn2']);
    const samples: Record<string, number[]> = {};
    const add = (k: string, v: number) => (samples[k] ??= []).push(v);
    let failures = 0;
    let handshakeRetries = 0;
    for (let i = 0; i < reps; i++) {
      await flush(lab, ['mn1', 'mn2']);
      await sleep(gapMs);
      const from = eventOffset(lab, 'mn1');
      const pushFrom = eventOffset(lab, 'mn2');
      const reply = await pingOnce(lab, 'mn1', target);
      if (reply === undefined) {
        failures++;
        continue;
      }
      const evs = await eventsSince(lab, 'mn1', from, (e) => e.event === 'first-packet-released');
      const at: Record<string, number | undefined> = { 'first-reply': reply };
      for (const e of evs) if (at[e.event] === undefined) at[e.event] = e.t;
      const installed = evs.find((e) => e.event === 'peer-installed');
      if (typeof installed?.wgSetMs === 'number') add('wg-set', installed.wgSetMs);
      handshakeRetries += evs.filter((e) => e.event === 'handshake-retry').length;
      // the destination's side: the pushed Map-Notify with MN1's key, and its peer installed
      for (const e of await eventsSince(lab, 'mn2', pushFrom, (e) => e.event === 'peer-installed')) {
        if (e.event === 'map-notify-received') at['push-received'] ??= e.t;
        if (e.event === 'peer-installed') at['push-installed'] ??= e.t;
      }
      const sample: Record<string, number> = { rep: i };
      for (const [a, b] of [...STEPS, ...TOTALS]) {
        if (at[a] === undefined || at[b] === undefined) continue;
        add(`${a}>${b}`, at[b]! - at[a]!);
        sample[`${a}>${b}`] = at[b]! - at[a]!;
      }
      const warm = await pingRtt(lab, 'mn1', target);
      if (warm !== undefined) add('warm-rtt', warm);
      // the floor: one bare control round trip (Map-Request -> negative Map-Reply, no push, no
      // install) after the same idle gap; a cold start makes two such trips (push-then-reply)
      await sleep(gapMs);
      const negFrom = eventOffset(lab, 'mn1');
      await lab.exec('mn1', ['bash', '-c', `echo probe > /dev/udp/${unregistered}/9`]);
      const negEvs = await eventsSince(lab, 'mn1', negFrom, (e) => e.event === 'negative-reply');
      const sent = negEvs.find((e) => e.event === 'map-request-sent');
      const neg = negEvs.find((e) => e.event === 'negative-reply');
      if (sent && neg) {
        add('control-rtt', neg.t - sent.t);
        sample['control-rtt'] = neg.t - sent.t;
      }
      run.sample(sample);
      if ((i + 1) % 20 === 0) run.progress(i + 1, reps, 'cold starts');
    }

    const s = (k: string): Summary => summarize(samples[k] ?? []);
    const line = (label: string, x: Summary) => `  ${label.padEnd(44)} median ${x.median.toFixed(3).padStart(8)} ms   p99 ${x.p99.toFixed(3).padStart(8)} ms   max ${x.max.toFixed(3).padStart(8)} ms`;
    const out: string[] = [`cold-start timeline over ${reps - failures} cold starts (${failures} without a reply), MN1 -> MN2 on paper-lan:`];
    for (const [a, b] of STEPS) out.push(line(`${a} -> ${b}`, s(`${a}>${b}`)));
    out.push('');
    for (const [a, b, label] of TOTALS) out.push(line(label, s(`${a}>${b}`)));
    out.push(line('  of which the WireGuard peer set (UAPI/netlink)', s('wg-set')));
    out.push(line('warm echo RTT (tunnel up, same run)', s('warm-rtt')));
    out.push(line('one control round trip (negative reply, same gap)', s('control-rtt')));
    const trips = (pushOrder ?? 'push-then-reply') === 'push-then-reply' ? 2 : 1;
    out.push(`  ${pushOrder ?? 'push-then-reply'}: ${trips} control round trip${trips > 1 ? 's' : ''} before the requester can install: floor ~${(trips * s('control-rtt').median).toFixed(2)} ms on this machine`);
    const first = s('miss>first-reply');
    const warm = s('warm-rtt');
    out.push(`  cold first reply / warm RTT (medians): ${(first.median / warm.median).toFixed(2)}x`);
    out.push(`  first handshakes retried (the destination did not hold our key yet): ${handshakeRetries}`);
    out.push(`  targets: miss to installed median < 1 ms: ${s('miss>route-installed').median < 1 ? 'met' : 'NOT met'}; first reply median < 3 ms: ${first.median < 3 ? 'met' : 'NOT met'}; no multi-second tail: ${first.max < 1000 ? 'met' : 'NOT met'}`);
    process.stderr.write(out.join('\n') + '\n');

    const fig = (k: string) => ({ median: round(s(k).median), p99: round(s(k).p99), max: round(s(k).max), n: s(k).n });
    run.finish({
      reps,
      failures,
      handshakeRetries,
      steps: Object.fromEntries(STEPS.map(([a, b]) => [`${a}->${b}`, fig(`${a}>${b}`)])),
      missToInstalledMs: fig('miss>route-installed'),
      missToFirstReplyMs: fig('miss>first-reply'),
      warmRttMs: fig('warm-rtt'),
      controlRttMs: fig('control-rtt'),
      wgSetMs: fig('wg-set'),
      coldOverWarm: round(first.median / warm.median),
      backend: (await wgStatus(lab, 'mn1')).wireguardBackend,
    });
  } finally {
    await lab.down();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:xtr failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});
