/** The metric definitions, on hand-made captures (the thesis' scripts, ported). */
import { describe, expect, it } from 'vitest';
import type { IcmpEvent } from '../lab/capture/decode.js';
import { firstReply } from './e2e.js';
import { outage, STEADY } from './handover.js';
import { parseNuttcp } from './throughput.js';
import { trafficMatrix } from './state.js';
import { echoLoss, pingStatistics } from './lib/ping.js';

const icmp = (type: 'echo-request' | 'echo-reply', seq: number, ms: number): IcmpEvent => ({ kind: 'icmp', type, seq, id: 1, icmpType: type === 'echo-request' ? 8 : 0, code: 0, timeUs: 1_000_000 + ms * 1000, length: 98, src: 'a', dst: 'b', ttl: 64 });

describe('e2e: first echo request -> first echo reply', () => {
  it('buffering: seq 1 answered', () => {
    const r = firstReply([icmp('echo-request', 1, 0), icmp('echo-request', 1, 0.5), icmp('echo-request', 2, 4), icmp('echo-reply', 1, 9.5), icmp('echo-reply', 2, 9.7)]);
    expect(r).toMatchObject({ delayMs: 9.5, firstReplySeq: 1, firstPacketLost: false, requestsBeforeReply: 2, sent: 2, received: 2 });
  });
  it('dropping: the first reply answers seq 3', () => {
    const r = firstReply([icmp('echo-request', 1, 0), icmp('echo-request', 2, 10), icmp('echo-request', 3, 20), icmp('echo-reply', 3, 31.2)]);
    expect(r).toMatchObject({ delayMs: 31.2, firstReplySeq: 3, firstPacketLost: true, requestsBeforeReply: 3 });
  });
  it('no reply at all is an error, not a zero', () => {
    expect(firstReply([icmp('echo-request', 1, 0)])).toMatchObject({ error: 'no echo reply', firstPacketLost: true });
    expect(firstReply([]).delayMs).toBeUndefined();
  });
});

describe('handover: first unanswered request -> steady replies', () => {
  const run = (lostFrom: number, lostTo: number, flaky: number[] = []): IcmpEvent[] => {
    const ev: IcmpEvent[] = [];
    for (let seq = 1; seq <= 200; seq++) {
      ev.push(icmp('echo-request', seq, seq));
      if ((seq < lostFrom || seq > lostTo) && !flaky.includes(seq)) ev.push(icmp('echo-reply', seq, seq + 0.2));
    }
    return ev;
  };
  it('measures from the first lost request to the first of STEADY answered ones', () => {
    expect(outage(run(50, 79), 1_000_000 + 45_000)).toEqual({ outageMs: 30, lost: 30 });
  });
  it('a lone answered request inside the gap does not end the outage', () => {
    const ev = run(50, 120).concat(icmp('echo-reply', 90, 90.2));
    expect(outage(ev, 1_000_000 + 45_000).outageMs).toBe(71);
  });
  it('no loss is a zero outage; no recovery is an error', () => {
    expect(outage(run(1000, 1000), 1_000_000)).toEqual({ outageMs: 0, lost: 0 });
    expect(outage(run(150, 200 - STEADY + 5), 1_000_000).error).toMatch(/no steady replies/);
  });
});

describe('tool output', () => {
  it('parses nuttcp -fparse', () => {
    expect(parseNuttcp('megabytes=11.9210 real_seconds=1.00 rate_Mbps=100.4819 tx_cpu=90 rx_cpu=8 drop=0 pkt=9058 data_loss=0.00000')).toEqual({ outputMbps: 100.4819, lossPct: 0 });
    expect(parseNuttcp('nuttcp-t: Info: attempting to connect\nnuttcp-t: v8.2.2: Error: connect: Connection refused')).toBeUndefined();
  });
  it('reads ping statistics, or says why ping did not run', () => {
    expect(pingStatistics('--- x ping statistics ---\n100 packets transmitted, 98 received, 2% packet loss')).toEqual({ transmitted: 100, received: 98 });
    expect(() => pingStatistics("ping: invalid argument: '8.5'")).toThrow(/ping did not run: ping: invalid argument/);
  });
  // ping -D -i 0.01 from t = 1000 s: a reply 1 ms after each request; `drop` lists the requests without one
  const pingD = (sent: number, drop: (seq: number) => boolean) =>
    Array.from({ length: sent }, (_, i) => i + 1).filter((q) => !drop(q)).map((q) => `[${(1000 + (q - 1) * 0.01 + 0.001).toFixed(6)}] 64 bytes from 198.19.2.1: icmp_seq=${q} ttl=63 time=1.00 ms`).join('\n') +
    `\n--- 198.19.2.1 ping statistics ---\n${sent} packets transmitted, 0 received\n`;
  it('places echo losses in time, and a request in flight at the stop is not lost', () => {
    // requests 301-436 lost (1.36 s), the last one (1000) still in flight when ping stopped
    const r = echoLoss(pingD(1000, (q) => (q > 300 && q <= 436) || q === 1000), 1_002_000, 1_000_000 + 999 * 10 + 200);
    expect(r.sent).toBe(999);
    expect(r.lost).toBe(136);
    expect(r.outages).toHaveLength(1);
    expect(r.outages[0]!.atMs).toBeCloseTo(1001, 0); // request 301 left at 3.00 s: 1 s after t0
    expect(r.outages[0]!.ms).toBeCloseTo(1360, 0);
    // the last 300 without a reply, ping stopped 0.5 s after the last was sent: 250 lost, 50 in flight
    const tail = echoLoss(pingD(1000, (q) => q > 700), 1_000_000, 1_000_000 + 999 * 10 + 505);
    expect(tail.lost).toBe(250);
    expect(tail.sent).toBe(950);
    expect(tail.outages[0]!.ms).toBeGreaterThan(2990);
    // no loss
    expect(echoLoss(pingD(100, () => false), 1_000_000, 1_000_000 + 2000)).toEqual({ sent: 100, lost: 0, outages: [] });
  });
});

describe('state: the traffic matrix', () => {
  it('gives every node `flows` distinct others, the same for the same seed', () => {
    const nodes = Array.from({ length: 50 }, (_, i) => `mn${i + 1}`);
    const m = trafficMatrix(nodes, 3, 1);
    for (const [n, d] of m) {
      expect(new Set(d).size).toBe(3);
      expect(d).not.toContain(n);
    }
    expect(trafficMatrix(nodes, 3, 1)).toEqual(m);
    expect(trafficMatrix(nodes, 3, 2)).not.toEqual(m);
  });
});
