#!/usr/bin/env zx
// First packet of a cold start: flush both agents, time the first echo reply mn1 -> mn2 (ping's
// own RTT of request 1, which the agent buffers while it resolves), N times; then the summary
// and the figure in results/first-packet/<run-id>/.
//
//   npx zx experiments/examples/first-packet.mjs [--n=20] [--lab=NAME]   (as root, after npm run build)
import { argv, echo, sleep } from 'zx';
import { attach, record, up } from 'lispwg/script';

const n = Number(argv.n ?? 10);
const lab = argv.lab ? await attach(argv.lab) : await up('topologies/paper-lan.yaml');
const rec = await record('first-packet', {
  params: { n, topology: 'paper-lan' },
  title: 'First packet of a cold start',
  metric: 'first echo request -> first echo reply',
  unit: 'ms',
});
const mn1 = lab.node('mn1');
const to = lab.node('mn2').eid;

for (let i = 0; i < n; i++) {
  await lab.flush('mn1', 'mn2'); // empty map-caches, no peers: the next packet resolves
  await sleep(30); // as e2e: wireguard-go takes one handshake per peer every ~20 ms
  const out = await mn1.$`ping -n -c1 -W2 ${to}`.nothrow();
  const ms = Number(/time=([\d.]+) ms/.exec(out.stdout)?.[1]);
  rec.sample({ rep: i, value: ms, ...(Number.isFinite(ms) ? {} : { error: out.stdout.trim().split('\n').pop() }) });
  echo(`cold start ${i + 1}/${n}: ${ms} ms`);
}
await rec.done();
