/**
 * Codec throughput on one core: encodes and decodes per second of the Map-Request and Map-Reply
 * lispwg sends (the reply carries the WireGuard key record), the plain OOR-style Map-Reply for
 * comparison, and Map-Register sign/verify rates (HMAC-SHA-1, key ID 1). Target: >= 500 000
 * decodes/s for both messages.
 *
 * Each figure is the median of ROUNDS timed rounds of about ROUND_MS each, after a warm-up;
 * rounds of the different operations alternate.
 * Ends with one JSON line holding every figure.
 */
import { decodeMessage, encodeMessage, signMessage, verifyMessage, type LispMessage } from '../../src/lisp/index.js';
import { plainRecord, sampleMapRegister, sampleMapReply, sampleMapRequest } from '../../src/lisp/samples.js';
import { collectMetadata } from '../lib/metadata.js';
import { summarize } from '../lib/stats.js';

const ROUNDS = 9;
const ROUND_MS = 200;
const TARGET_DECODES_PER_S = 500_000;

let sink = 0; // keeps the optimizer from dropping the work

type Figure = { perSecond: number; min: number; max: number };

/** Operations per second of one timed round of `op`. */
function round(op: () => void): number {
  let n = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ROUND_MS) {
    for (let i = 0; i < 1000; i++) op();
    n += 1000;
    now = performance.now();
  }
  return (n * 1000) / (now - start);
}

/**
 * Rates of every op: warm-up, then ROUNDS rounds taken in turn (op 1, op 2, ..., op 1, ...) so
 * that load from elsewhere on the machine spreads over all ops; the median round of each.
 */
function rates<K extends string>(ops: Record<K, () => void>): Record<K, Figure> {
  const names = Object.keys(ops) as K[];
  for (const k of names) {
    const warmUntil = performance.now() + 200;
    while (performance.now() < warmUntil) for (let i = 0; i < 1000; i++) ops[k]();
  }
  const samples = Object.fromEntries(names.map((k) => [k, [] as number[]])) as Record<K, number[]>;
  for (let r = 0; r < ROUNDS; r++) for (const k of names) samples[k].push(round(ops[k]));
  return Object.fromEntries(
    names.map((k) => {
      const s = summarize(samples[k]);
      return [k, { perSecond: Math.round(s.median), min: Math.round(s.min), max: Math.round(s.max) }];
    }),
  ) as Record<K, Figure>;
}

function count(m: LispMessage): number {
  return m.type === 'map-request' || m.type === 'map-reply' ? m.records.length : 0;
}

async function main(): Promise<void> {
  const metadata = await collectMetadata();
  const request = sampleMapRequest();
  const reply = sampleMapReply();
  const plainReply = { ...sampleMapReply(), records: [plainRecord('198.18.20.1', 32, '198.18.0.2')] };
  const register = sampleMapRegister();
  const requestBytes = encodeMessage(request);
  const replyBytes = encodeMessage(reply);
  const plainReplyBytes = encodeMessage(plainReply);
  const registerBytes = signMessage(register, 1, 'site-secret');

  const figures = rates({
    mapRequestEncode: () => (sink += encodeMessage(request).length),
    mapRequestDecode: () => (sink += count(decodeMessage(requestBytes))),
    mapReplyEncode: () => (sink += encodeMessage(reply).length),
    mapReplyDecode: () => (sink += count(decodeMessage(replyBytes))),
    plainMapReplyDecode: () => (sink += count(decodeMessage(plainReplyBytes))),
    mapRegisterSign: () => (sink += signMessage(register, 1, 'site-secret').length),
    mapRegisterVerify: () => verifyMessage(registerBytes, 'site-secret'),
  });

  const line = (name: string, f: Figure, bytes?: number) =>
    `${name.padEnd(34)} ${f.perSecond.toLocaleString('en-US').padStart(11)} /s   (${f.min.toLocaleString('en-US')}..${f.max.toLocaleString('en-US')})${bytes ? `   ${bytes} bytes` : ''}`;
  console.log(`LISP codec on one core (${metadata.cpu}, Node ${metadata.node}), median of ${ROUNDS} rounds of ${ROUND_MS} ms`);
  console.log(line('Map-Request encode', figures.mapRequestEncode, requestBytes.length));
  console.log(line('Map-Request decode', figures.mapRequestDecode, requestBytes.length));
  console.log(line('Map-Reply (WireGuard key) encode', figures.mapReplyEncode, replyBytes.length));
  console.log(line('Map-Reply (WireGuard key) decode', figures.mapReplyDecode, replyBytes.length));
  console.log(line('Map-Reply (plain record) decode', figures.plainMapReplyDecode, plainReplyBytes.length));
  console.log(line('Map-Register sign (HMAC-SHA-1)', figures.mapRegisterSign, registerBytes.length));
  console.log(line('Map-Register verify (HMAC-SHA-1)', figures.mapRegisterVerify, registerBytes.length));
  const keyCost = figures.plainMapReplyDecode.perSecond / figures.mapReplyDecode.perSecond;
  console.log(`plain / key Map-Reply decode rate: ${keyCost.toFixed(2)}x (what the Security Key LCAF costs to decode)`);
  const meets = figures.mapRequestDecode.perSecond >= TARGET_DECODES_PER_S && figures.mapReplyDecode.perSecond >= TARGET_DECODES_PER_S;
  console.log(`target >= ${TARGET_DECODES_PER_S.toLocaleString('en-US')} decodes/s for both: ${meets ? 'met' : 'NOT met'}`);
  if (sink === -1) console.log(sink);
  console.log(
    JSON.stringify({
      benchmark: 'codec',
      unit: 'operations per second (median)',
      ...Object.fromEntries(Object.entries(figures).map(([k, v]) => [k, v.perSecond])),
      plainOverKeyReplyDecode: Number(keyCost.toFixed(3)),
      targetDecodesPerSecond: TARGET_DECODES_PER_S,
      targetMet: meets,
      metadata,
    }),
  );
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exitCode = 1;
});
