/**
 * Synthetic samples for every experiment, shaped like the real ones (seeded, deterministic), for
 * the tests of the figures, the report and the gates. Never written under results/.
 */
import type { Sample } from './experiment.js';
import { rng } from '../../src/util/random.js';

/** Samples for `name`; `slow` adds ms (or us for ms-response) to one variant. */
export function syntheticSamples(name: string, seed = 1, slow?: { variant: string; by: number }): Sample[] {
  const r = rng(seed);
  const jitter = (x: number, f = 0.15): number => x * (1 + (r() - 0.5) * 2 * f);
  const add = (v: string): number => (slow && slow.variant === v ? slow.by : 0);
  const out: Sample[] = [];
  switch (name) {
    case 'cache-add':
      for (let rep = 0; rep < 12; rep++)
        for (const [v, base] of [['lisp-wg', 2.2], ['lisp', 1.2], ['lisp-push', 1.9]] as const) out.push({ variant: v, rep, delayMs: jitter(base) + add(v), ...(rep === 0 ? { warmup: true } : {}) });
      break;
    case 'e2e':
      for (let rep = 0; rep < 10; rep++) {
        out.push({ variant: 'lisp-wg', rep, delayMs: jitter(2.5) + add('lisp-wg'), firstReplySeq: 1, firstPacketLost: false, requestsBeforeReply: 20 });
        out.push({ variant: 'lisp-wg-drop', rep, delayMs: jitter(30) + add('lisp-wg-drop'), firstReplySeq: 3, firstPacketLost: true, requestsBeforeReply: 3 });
        out.push({ variant: 'lisp', rep, delayMs: jitter(29) + add('lisp'), firstReplySeq: 3, firstPacketLost: true, requestsBeforeReply: 3 });
      }
      break;
    case 'control-channel':
      for (let rep = 0; rep < 16; rep++)
        for (const [v, base] of [['lisp', 0.6], ['grpc', 1.4]] as const) out.push({ variant: v, rep, delayMs: jitter(base) + add(v) });
      break;
    case 'ms-response':
      for (const n of [10, 1000, 100000])
        for (const [v, base] of [['lisp-wg', 60], ['lisp', 45]] as const) {
          for (let rep = 0; rep < 20; rep++) out.push({ variant: v, n, kind: 'request', rep, captureUs: jitter(base) + (n === 100000 ? add(v) : 0), ...(rep === 0 ? { warmup: true } : {}) });
          out.push({ variant: v, n, kind: 'server', count: 20, median: jitter(base * 0.6), p90: base, p99: base * 1.5, mean: base * 0.7, loadSeconds: n / 30000 });
          out.push({ variant: v, n, kind: 'client', count: 20, median: jitter(base * 2), p90: base * 3, p99: base * 4, mean: base * 2.2 });
        }
      break;
    case 'handover':
      for (let run = 0; run < 4; run++) {
        out.push({ variant: 'lisp-wg', run, outageMs: jitter(120) + add('lisp-wg'), lost: 1200 });
        out.push({ variant: 'lisp', run, outageMs: jitter(1500) + add('lisp'), lost: 15000 });
      }
      break;
    case 'double-jump':
      for (let run = 0; run < 3; run++) {
        out.push({ variant: 'lisp-wg', run, recoveryMs: jitter(900), recovered: true, timeoutMs: 15000 });
        out.push({ variant: 'data-plane-only', run, recovered: false, timeoutMs: 15000 });
      }
      break;
    case 'throughput':
      for (const input of [100, 300, 600, 1000])
        for (const [v, cap] of [['lisp-wg', 450], ['lisp', 250], ['ipsec', 0]] as const)
          out.push(cap === 0 ? { variant: v, rep: 0, inputMbps: input, payload: 1380, error: 'no ESP in this kernel' } : { variant: v, rep: 0, inputMbps: input, outputMbps: Math.min(input, jitter(cap, 0.05)), payload: v === 'lisp' ? 1388 : 1380 });
      break;
    case 'ms-failover':
      for (let run = 0; run < 3; run++)
        for (const [v, base] of [['ms-replica', 320], ['etcd-member', 40], ['etcd-leader', 60], ['lone-restart', 700]] as const)
          out.push({ variant: v, run, registrationsLost: 0, packetsLost: 0, packetsSent: 400, coldStartMs: jitter(base) + add(v), subscriberMs: jitter(30), ...(v === 'lone-restart' ? { restartServedMs: jitter(400) } : {}) });
      break;
    case 'state':
      for (let i = 0; i < 50; i++) {
        const pulled = 3 + Math.floor(r() * 4);
        out.push({ variant: 'pull', node: `n${i}`, peers: pulled, keys: pulled, flows: 3, nodes: 50 });
        out.push({ variant: 'push', node: `n${i}`, peers: 49, keys: 49, flows: 3, nodes: 50 });
      }
      break;
    default:
      throw new Error(`no synthetic samples for '${name}'`);
  }
  return out;
}
