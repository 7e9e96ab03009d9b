/**
 * `throughput` (paper Fig. 11, thesis 4.1): output rate against input rate between the two
 * mobile nodes' EIDs, `nuttcp -u -R<rate> -l<len>` swept up to the link rate; payload 1380 B
 * through WireGuard and 1388 B through plain LISP so that nothing fragments at MTU 1500; IPsec
 * as a third variant where the kernel has XFRM/ESP.
 */
import { LispwgError } from '../src/util/errors.js';
import { detectIpsec, openIpsecTunnel } from '../src/ipsec/index.js';
import type { Lab } from '../lab/lab.js';
import { comparePaper, ratiosOf, roundSummary, type Experiment, type Mode, type PaperValue, type Sample, type RunContext } from './lib/experiment.js';
import { labelsFor } from './lib/labels.js';
import { throughputSpec } from './lib/plot.js';
import { round, summarize, type Summary } from './lib/stats.js';
import { upLab, type NodeSettings } from './lib/lab.js';
import { eidOf, agentsReady } from './lib/agents.js';
import { annotateOor, oorSettings, withRealOor } from './lib/oor.js';

export interface ThroughputSample extends Sample {
  rep: number;
  /** nuttcp's requested rate and the rate the receiver saw, Mb/s */
  inputMbps: number;
  outputMbps?: number;
  lossPct?: number;
  payload: number;
  error?: string;
}

export interface ThroughputParams {
  rates: number[];
  durationS: number;
  reps: number;
  variants: string[];
}

export const PAPER: readonly PaperValue[] = [
  { metric: 'saturation (output rate where it stops following the input)', variant: 'lisp-wg', stat: 'value', value: 900, unit: 'Mb/s', source: 'paper Fig. 11 / thesis 4.1: OOR+WG degrades gracefully around 900 Mb/s' },
  { metric: 'saturation (output rate where it stops following the input)', variant: 'ipsec', stat: 'value', value: 900, unit: 'Mb/s', source: 'paper Fig. 11: IPsec like OOR+WG' },
  { metric: 'saturation (output rate where it stops following the input)', variant: 'lisp', stat: 'value', value: 750, unit: 'Mb/s', source: 'paper Fig. 11 / thesis 4.1: OOR collapses at 700-800 Mb/s', note: 'a range; its middle' },
  { metric: 'UDP throughput, userspace LISP (OOR 1.3 on this machine, -l1388)', variant: 'oor', stat: 'value', value: 290, unit: 'Mb/s', source: 'experiments.md' },
];

const labels = labelsFor('lisp-wg', 'lisp', 'oor', 'ipsec', 'plain');

/** Payload per variant: the thesis' 1380 B inside WireGuard, 1388 B inside LISP (no fragmentation at 1500); IPsec: the tunnel's inner MTU - 28. */
const PAYLOAD: Record<string, number> = { 'lisp-wg': 1380, lisp: 1388, oor: 1388, plain: 1388 };

/** Mean output per (variant, input rate), sorted by rate. */
export function curve(samples: readonly ThroughputSample[]): Array<{ variant: string; input: number; output: number }> {
  const by = new Map<string, number[]>();
  for (const s of samples) {
    if (s.outputMbps === undefined) continue;
    const k = `${s.variant}|${s.inputMbps}`;
    (by.get(k) ?? by.set(k, []).get(k)!).push(s.outputMbps);
  }
  return [...by.entries()]
    .map(([k, xs]) => ({ variant: k.split('|')[0]!, input: Number(k.split('|')[1]), output: round(xs.reduce((a, b) => a + b, 0) / xs.length) }))
    .sort((a, b) => a.variant.localeCompare(b.variant) || a.input - b.input);
}

export const throughput: Experiment<ThroughputSample, ThroughputParams> = {
  name: 'throughput',
  title: 'Data-plane throughput: output vs input rate',
  reproduces: 'paper Fig. 11, thesis 4.1',
  method:
    'topologies/paper-lan.yaml (links shaped to 1 Gb/s with tbf). `nuttcp -S` runs in mn2; mn1 sends UDP with `nuttcp -u -R<rate>m -l<len> -T<duration>` to mn2\'s EID through the tunnel ' +
    '(1380-byte payloads through WireGuard, 1388 through LISP, as the thesis), one input rate after the other; the output rate is what the receiver got (nuttcp\'s rate_Mbps). ' +
    'IPsec: ESP tunnel mode with ChaCha20-Poly1305 between the same two RLOCs (kernel XFRM where the kernel has ESP, else strongSwan\'s userspace ESP), payload = its inner MTU - 28. ' +
    '"no tunnel" sends the same stream to mn2\'s underlay address: what the emulated link and this machine carry without any encapsulation.',
  labels,
  paperValues: PAPER,
  headline: {
    metric: 'saturation (output rate where it stops following the input)',
    ours: { extra: 'saturationMbps', what: 'saturation' },
    lispWg: ['lisp-wg'],
    lisp: 'lisp',
    oor: 'oor',
    also: [{ metric: 'saturation (output rate where it stops following the input)', variant: 'ipsec' }],
  },
  options: [
    '--rates=a,b,...   input rates, Mb/s',
    '--duration=S      seconds per rate (nuttcp -T)',
    '--reps=N          runs per rate and variant',
    '--variants=a,b    of lisp-wg, lisp, ipsec, plain, oor (the real OOR; by default where its binary exists)',
  ],
  tools: { nuttcp: ['nuttcp', '-V'] },
  params(mode: Mode, o: Record<string, string>): ThroughputParams {
    const rates = o.rates ? o.rates.split(',').map(Number) : mode === 'full' ? [50, 100, 150, 200, 300, 400, 500, 600, 700, 800, 900, 1000] : [150, 400, 1000];
    if (rates.some((r) => !(r > 0))) throw new LispwgError('EXP_OPTIONS', `--rates wants Mb/s values separated by commas, not '${o.rates}'`);
    const durationS = Number(o.duration ?? (mode === 'full' ? 60 : 2));
    if (!(durationS > 0)) throw new LispwgError('EXP_OPTIONS', `--duration must be seconds > 0, not '${o.duration}'`);
    return { rates, durationS, reps: Number(o.reps ?? 1), variants: o.variants ? o.variants.split(',') : withRealOor(['lisp-wg', 'lisp', 'ipsec', 'plain']) };
  },
  run: runThroughput,
  analyse(samples, params) {
    const pts = curve(samples);
    const top = Math.max(...params.rates);
    const variants: Record<string, Summary> = {};
    const saturation: Record<string, number> = {};
    for (const v of new Set(samples.map((s) => s.variant))) {
      const atTop = samples.filter((s) => s.variant === v && s.inputMbps === top && s.outputMbps !== undefined).map((s) => s.outputMbps!);
      if (atTop.length) variants[v] = roundSummary(summarize(atTop));
      const outs = pts.filter((p) => p.variant === v).map((p) => p.output);
      if (outs.length) saturation[v] = Math.max(...outs);
    }
    const skipped = [...new Set(samples.filter((s) => s.error).map((s) => `${s.variant}: ${s.error}`))];
    return {
      metric: `output rate at the highest input rate (${top} Mb/s)`,
      unit: 'Mb/s',
      variants,
      ratios: { ...ratiosOf(variants, [['lisp-wg', 'lisp'], ['ipsec', 'lisp-wg'], ['lisp-wg', 'plain'], ['lisp-wg', 'oor'], ['lisp', 'oor']]), ...Object.fromEntries(saturation['lisp-wg'] && saturation.lisp ? [['lisp-wg / lisp (saturation)', round(saturation['lisp-wg'] / saturation.lisp, 3)]] : []) },
      paper: comparePaper(PAPER, (p) => saturation[p.variant]),
      extra: { saturationMbps: saturation, curve: pts, ...(skipped.length ? { notMeasured: skipped } : {}) },
      notes: [
        'The paper\'s machines had a kernel WireGuard and a 1 Gb/s NIC; here WireGuard is wireguard-go in userspace and the "link" is a veth shaped to 1 Gb/s with tbf, on 2 cores shared by sender, receiver and both tunnel ends.',
        ...skipped.map((s) => `not measured: ${s}`),
      ],
    };
  },
  figure(samples) {
    return throughputSpec({
      title: 'Output vs input rate (Fig. 11)',
      unit: 'Mb/s',
      points: curve(samples),
      labels,
      paper: PAPER.filter((p) => p.variant !== 'ipsec' && !p.metric.startsWith('UDP')).map((p) => ({ label: `${labels[p.variant] ?? p.variant} saturates at ~${p.value} Mb/s`, value: p.value, variant: p.variant })),
    });
  },
};

/** Each variant: its lab's agents, and whether it sends to the EID (through the tunnel) or the underlay address. */
const VARIANTS: Record<string, { settings: NodeSettings; lab: string; target: 'eid' | 'underlay' }> = {
  'lisp-wg': { settings: {}, lab: 'wg', target: 'eid' },
  lisp: { settings: { mn1: { config: { 'data-plane': 'lisp' } }, mn2: { config: { 'data-plane': 'lisp' } } }, lab: 'lisp', target: 'eid' },
  // the real OOR as both mobile nodes (its lispTun0 MTU is 1440: the plain LISP payload fits)
  oor: { settings: oorSettings(['mn1', 'mn2']), lab: 'oor', target: 'eid' },
  plain: { settings: {}, lab: 'wg', target: 'underlay' },
  ipsec: { settings: {}, lab: 'ipsec', target: 'eid' },
};

/** The IPsec variant's EIDs: addresses on lo at each end, carried by the ESP tunnel between the RLOCs. */
const IPSEC_EIDS = { mn1: '198.19.1.1', mn2: '198.19.2.1' } as const;

/**
 * The IPsec lab: the same LAN without lispwg daemons, an ESP tunnel (ChaCha20-Poly1305, tunnel
 * mode) between mn1's and mn2's RLOCs carrying their EIDs: kernel XFRM where the kernel has ESP,
 * else strongSwan's userspace ESP. Undefined, with the reason, when this machine has neither.
 */
async function ipsecLab(ctx: RunContext<ThroughputSample, ThroughputParams>): Promise<{ lab?: Lab; detail: string; mtu: number }> {
  const choice = await detectIpsec();
  if (!choice.backend) return { detail: choice.reason, mtu: 0 };
  const lab = await upLab(ctx, 'paper-lan', 'tp-ipsec-', { daemons: false });
  for (const n of ['mn1', 'mn2'] as const) await lab.exec(n, ['ip', 'addr', 'add', `${IPSEC_EIDS[n]}/32`, 'dev', 'lo']);
  const [a, b] = [lab.addressOf('mn1', 'eth0'), lab.addressOf('mn2', 'eth0')];
  let tunnel;
  try {
    tunnel = await openIpsecTunnel(
      { name: `${lab.name}a`, netns: lab.netns('mn1'), local: a, remote: b, localTs: [`${IPSEC_EIDS.mn1}/32`], remoteTs: [`${IPSEC_EIDS.mn2}/32`] },
      { name: `${lab.name}b`, netns: lab.netns('mn2'), local: b, remote: a, localTs: [`${IPSEC_EIDS.mn2}/32`], remoteTs: [`${IPSEC_EIDS.mn1}/32`] },
      choice,
    );
  } catch (e) {
    return { detail: `the ${choice.backend} IPsec tunnel did not come up: ${e instanceof Error ? e.message : String(e)}`, mtu: 0 };
  }
  const t = tunnel;
  ctx.onTeardown(() => t.close());
  return { lab, detail: tunnel.detail, mtu: tunnel.mtu };
}

/** nuttcp -fparse: `megabytes=... rate_Mbps=... drop=... pkt=... data_loss=...`. */
export function parseNuttcp(out: string): { outputMbps: number; lossPct: number } | undefined {
  const rate = /rate_Mbps=([\d.]+)/.exec(out);
  if (!rate) return undefined;
  const loss = /data_loss=([\d.]+)/.exec(out);
  return { outputMbps: Number(rate[1]), lossPct: loss ? Number(loss[1]) : NaN };
}

async function runThroughput(ctx: RunContext<ThroughputSample, ThroughputParams>): Promise<void> {
  for (const v of ctx.params.variants) if (!VARIANTS[v]) throw new LispwgError('EXP_VARIANT', `throughput has no variant '${v}' (known: ${Object.keys(VARIANTS).join(', ')})`);
  await annotateOor(ctx.run, ctx.params.variants, "lispwg's plain-LISP data plane (userspace, as OOR's)");
  const labs = new Map<string, Lab>();
  const unavailable: Record<string, string> = {};
  let ipsecPayload = 0;
  for (const v of ctx.params.variants) {
    const spec = VARIANTS[v]!;
    if (labs.has(spec.lab) || unavailable[v]) continue;
    let lab: Lab;
    if (spec.lab === 'ipsec') {
      const r = await ipsecLab(ctx);
      if (!r.lab) {
        unavailable[v] = r.detail;
        ctx.log(`ipsec: not measured: ${r.detail}`);
        continue;
      }
      ctx.log(`ipsec: ${r.detail}`);
      lab = r.lab;
      ipsecPayload = r.mtu - 28;
    } else {
      lab = await upLab(ctx, 'paper-lan', `tp-${spec.lab}-`, { settings: spec.settings });
      // OOR is in service when the lab is up (the Map-Server has its registrations)
      if (v !== 'oor') await agentsReady(ctx.run, lab, ['mn1', 'mn2']);
    }
    const server = await lab.spawn('mn2', 'nuttcp', ['nuttcp', '-S', '--nofork']);
    ctx.onTeardown(() => server.stop());
    await lab.exec('mn1', ['ping', '-n', '-c', '2', '-i', '0.1', '-W', '2', spec.lab === 'ipsec' ? IPSEC_EIDS.mn2 : eidOf(lab, 'mn2')], { allowFail: true }); // the tunnel up
    labs.set(spec.lab, lab);
  }
  const have = new Set(ctx.done.map((s) => `${s.variant}|${s.inputMbps}|${s.rep}`));
  const total = ctx.params.rates.length * ctx.params.reps * ctx.params.variants.length;
  let k = 0;
  for (const rate of ctx.params.rates) {
    for (let rep = 0; rep < ctx.params.reps; rep++) {
      for (const v of ctx.params.variants) {
        k++;
        if (have.has(`${v}|${rate}|${rep}`)) continue;
        const spec = VARIANTS[v]!;
        if (unavailable[v]) {
          ctx.sample({ variant: v, rep, inputMbps: rate, payload: 0, error: unavailable[v] });
          continue;
        }
        const lab = labs.get(spec.lab)!;
        const to = spec.lab === 'ipsec' ? IPSEC_EIDS.mn2 : spec.target === 'eid' ? eidOf(lab, 'mn2') : lab.addressOf('mn2', 'eth0');
        const payload = v === 'ipsec' ? ipsecPayload : (PAYLOAD[v] ?? 1380);
        const r = await lab.exec('mn1', ['nuttcp', '-fparse', '-u', `-R${rate}m`, `-l${payload}`, `-T${ctx.params.durationS}`, to], { allowFail: true, timeoutMs: (ctx.params.durationS + 30) * 1000 });
        const parsed = parseNuttcp(r.stdout);
        ctx.sample({ variant: v, rep, inputMbps: rate, payload, ...(parsed ?? { error: `nuttcp: ${(r.stderr || r.stdout).trim().split('\n').pop()}` }) });
        ctx.progress(k, total, `${v} at ${rate} Mb/s`);
      }
    }
  }
}

export default throughput;
