/**
 * The agent's baseline variants end to end, with real processes in namespaces (`lispwg ms
 * --grpc-port`, `lispwg xtr`): a Map-Server that routes between two mobile nodes A and B; A has
 * a second uplink to move to.
 *
 * 1. data-plane: lisp (the OOR baseline): ping and a TCP transfer between the EIDs through the
 *    userspace LISP data plane; then A's RLOC changes: A re-registers and sends SMRs, B asks the
 *    Map-Server again and sends to A's new RLOC.
 * 2. control-channel: grpc: the same resolution over gRPC (WireGuard data plane): ping, a TCP
 *    transfer, the destination learning the requester's key from a gRPC push; and the peer it
 *    installs is the peer a LISP resolution installs.
 *
 * Run under `flock /tmp/lispwg-netns.lock`; needs `npm run build` (the nodes run the compiled CLI).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lispwgBin } from '../util/project.js';
import { generatePrivateKey, keyToBase64, publicKey } from '../wg/keys.js';
import { adminRequest } from './admin.js';
import type { AgentStatus, WireGuardAgentStatus } from './show.js';
import { tcpTransfer } from '../dataplane/lisp/testing/transfer.js';
import { decodeMessage, eidAddress, encodeMessage, type MapReply } from '../lisp/index.js';
import { netnsLab, type Child } from '../testing/netns.js';
import { kernelDevice, prerequisites } from '../testing/prerequisites.js';
import { waitFor } from '../testing/wait.js';

const skip = await prerequisites('variant tests', { root: true, tools: ['ip', 'ping', 'wireguard-go'], built: true, kernel: [kernelDevice('/dev/net/tun', 'TUN device')] });
const lab = netnsLab({ prefix: 'lwv', idBytes: 2, dirStem: 'lispwg-variants' });
const id = lab.id;
const dir = lab.dir;
const msKey = generatePrivateKey();

interface Node {
  short: string;
  agent: string;
  control: string;
  eid: string;
  controlKey: Buffer;
  dataKey: Buffer;
  secret: string;
}
const node = (short: string, n: number): Node => ({ short, agent: `${short}${id}`, control: `100.100.0.${10 + n}`, eid: `198.19.7${n}.1`, controlKey: generatePrivateKey(), dataKey: generatePrivateKey(), secret: `s-${short}-${id}` });
const A = node('a', 1);
const B = node('b', 2);
const RLOC = { a: '198.18.71.2', aMoved: '198.18.73.2', b: '198.18.72.2' };

const exec = (short: string, cmd: string[], timeoutMs = 30_000) => lab.exec(short, cmd, { allowFail: true, timeoutMs });
const start = (short: string, name: string, cmd: string[]): Child => lab.start(short, name, cmd);
const stop = (c: Child): Promise<void> => lab.stop(c);


const log = (name: string) => lab.log(name);
const status = (n: Node) => adminRequest(join(dir, 'run', `${n.agent}.sock`), 'show') as Promise<AgentStatus>;
const wgStatus = (n: Node) => status(n) as Promise<WireGuardAgentStatus>;
/** Each run of an agent logs its events to a file of its own. */
const runs = new Map<string, number>();
const eventLog = (n: Node) => join(dir, `${n.agent}-${runs.get(n.agent) ?? 0}.events.jsonl`);
function events(n: Node): Array<Record<string, unknown> & { event: string; t: number }> {
  const f = eventLog(n);
  return existsSync(f) ? readFileSync(f, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown> & { event: string; t: number }) : [];
}

/** Starts an agent and waits for its registration (wrapped: a bare execa child is a thenable that awaits its exit). */
async function startAgent(n: Node, variant: { dataPlane: 'lisp' | 'wireguard'; control: 'lisp' | 'grpc' }): Promise<{ child: Child }> {
  const file = join(dir, `${n.agent}.yaml`);
  runs.set(n.agent, (runs.get(n.agent) ?? 0) + 1);
  writeFileSync(
    file,
    [
      `name: ${n.agent}`,
      'mode: mn',
      'eid-prefixes:',
      `  - prefix: "${n.eid}/32"`,
      'rloc-interfaces: [ { name: eth0, priority: 1 }, { name: eth1, priority: 2 } ]',
      'map-server:',
      `  address: 198.18.7${n.short === 'a' ? 1 : 2}.1`,
      '  control-address: 100.100.0.1',
      `  public-key: ${keyToBase64(publicKey(msKey))}`,
      `  shared-key: ${n.secret}`,
      'control:',
      `  address: ${n.control}/16`,
      `  private-key: ${keyToBase64(n.controlKey)}`,
      'data:',
      `  private-key: ${keyToBase64(n.dataKey)}`,
      'eid-space: ["198.19.64.0/18"]',
      'miss-policy: drop',
      `data-plane: ${variant.dataPlane}`,
      `control-channel: ${variant.control}`,
      `state-dir: ${dir}/run`,
      `event-log: ${eventLog(n)}`,
    ].join('\n'),
  );
  const c = start(n.short, n.agent, ['node', lispwgBin(), 'xtr', '--config', file]);
  await waitFor(async () => (await status(n).catch(() => undefined))?.registration.state === 'registered', 20_000, () => `agent ${n.agent} did not register:\n${log(n.agent)}`);
  return { child: c };
}

/** Pings until `n` replies came back (the first requests may be dropped while resolving, as OOR does). */
async function pings(from: string, src: string, to: string, count = 10): Promise<number> {
  const r = await exec(from, ['ping', '-c', String(count), '-i', '0.1', '-W', '1', '-I', src, to]);
  return Number(/(\d+) received/.exec(r.stdout)?.[1] ?? 0);
}

beforeAll(async () => {
  if (skip) return;
  await lab.addNs('ms', 'a', 'b');
  mkdirSync(join(dir, 'run'), { recursive: true });
  // the Map-Server's namespace is also the router between the nodes' uplinks
  for (const [n, nIf, msIf, net] of [['a', 'eth0', 'a0', '71'], ['a', 'eth1', 'a1', '73'], ['b', 'eth0', 'b0', '72']] as const) {
    await lab.link('ms', msIf, n, nIf, `198.18.${net}.1/24`);
  }
  await exec('a', ['ip', 'addr', 'add', `${RLOC.a}/24`, 'dev', 'eth0']);
  await exec('a', ['ip', 'route', 'add', 'default', 'via', '198.18.71.1']);
  await exec('b', ['ip', 'addr', 'add', `${RLOC.b}/24`, 'dev', 'eth0']);
  await exec('b', ['ip', 'route', 'add', 'default', 'via', '198.18.72.1']);
  await exec('ms', ['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
  const msYaml = join(dir, 'ms.yaml');
  writeFileSync(
    msYaml,
    [
      `admin-socket: ${dir}/ms.sock`,
      // as OOR's Map-Server: no publish/subscribe, so an RLOC change reaches B through the SMR alone
      'subscriptions: { enabled: false }',
      'control-tunnel:',
      `  interface: lwv${id}ms`,
      `  private-key: ${keyToBase64(msKey)}`,
      '  listen-port: 51820',
      '  address: 100.100.0.1/16',
      'sites:',
      ...[A, B].flatMap((n) => [
        `  - name: site-${n.short}`,
        `    key: ${n.secret}`,
        `    prefixes: [ { prefix: "${n.eid}/32" } ]`,
        `    xtrs: [ { public-key: "${keyToBase64(publicKey(n.controlKey))}", control-address: ${n.control} } ]`,
      ]),
    ].join('\n'),
  );
  start('ms', 'ms', ['node', lispwgBin(), 'ms', '--config', msYaml, '--grpc-port', '4343']);
  await waitFor(() => log('ms').includes('gRPC front listening'), 15_000, () => `the Map-Server did not start:\n${log('ms')}`);
});


describe.skipIf(skip !== undefined)('data-plane: lisp (plain LISP, the OOR baseline)', () => {
  let agents: Array<{ child: Child }> = [];
  beforeAll(async () => {
    agents = await Promise.all([startAgent(A, { dataPlane: 'lisp', control: 'lisp' }), startAgent(B, { dataPlane: 'lisp', control: 'lisp' })]);
  });
  afterAll(async () => {
    for (const a of agents) await stop(a.child);
  });

  it('resolves on the first packets and carries pings between the EIDs', async () => {
    expect(await pings('a', A.eid, B.eid)).toBeGreaterThanOrEqual(5);
    const s = await status(A);
    expect(s.mapCache).toEqual([expect.objectContaining({ prefix: `${B.eid}/32`, kind: 'positive', rlocs: [RLOC.b] })]);
    expect(s.counters['dataplane-txPackets']).toBeGreaterThan(0);
    expect(events(A).map((e) => e.event)).toEqual(expect.arrayContaining(['miss', 'map-request-sent', 'map-reply-received', 'mapping-installed']));
  });

  it('delivers a TCP transfer byte for byte', async () => {
    const r = await tcpTransfer({ serverNs: lab.ns('b'), clientNs: lab.ns('a'), address: B.eid, bytes: 8 << 20 });
    expect(r).toMatchObject({ received: 8 << 20, intact: true });
  });

  it('a flush is a cold start: a destination that just missed resolves again at once', async () => {
    // twice within a second: the data plane reports a destination's misses once a second, and a
    // flush must restart that, or the second cold start would drop everything for up to 1 s
    for (let i = 0; i < 2; i++) {
      await adminRequest(join(dir, 'run', `${A.agent}.sock`), 'flush');
      const t0 = performance.timeOrigin + performance.now();
      expect(await pings('a', A.eid, B.eid, 3), `cold start ${i + 1}`).toBeGreaterThanOrEqual(1); // the first is dropped (miss-policy drop)
      expect(events(A).some((e) => e.event === 'mapping-installed' && e.t > t0)).toBe(true);
    }
  });

  it('answers an RLOC probe to its underlay locator (RFC 9301 7.1): P bit, nonce, its record, the probed locator', async () => {
    // the probe as OOR builds it (no source EID, its RLOC as ITR-RLOC), from the router's namespace
    const probe = encodeMessage({
      type: 'map-request', authoritative: false, mapDataPresent: false, probe: true, smr: false, pitr: false, smrInvoked: false, nonce: 0xfeedfacecafe0001n,
      sourceEid: { afi: 'none' }, itrRlocs: [{ afi: 'ipv4', address: '198.18.72.1' }], records: [{ maskLen: 32, eid: eidAddress(B.eid) }],
    });
    const r = await exec('ms', ['node', '-e', `const s=require('dgram').createSocket('udp4');const t=setTimeout(()=>{console.log('none');s.close()},3000);s.on('message',(m)=>{console.log(m.toString('hex'));clearTimeout(t);s.close()});s.bind(4342,'198.18.72.1',()=>s.send(Buffer.from('${Buffer.from(probe).toString('hex')}','hex'),4342,'${RLOC.b}'))`]);
    const reply = decodeMessage(Buffer.from(r.stdout.trim(), 'hex')) as MapReply;
    expect(reply).toMatchObject({ type: 'map-reply', probe: true, nonce: 0xfeedfacecafe0001n, records: [{ maskLen: 32, eid: { afi: 'ipv4', address: B.eid } }] });
    expect(reply.records[0]!.locators).toEqual([expect.objectContaining({ address: { afi: 'ipv4', address: RLOC.b }, local: true, probed: true, reachable: true })]);
    expect((await status(B)).counters).toMatchObject({ 'probe-received': 1, 'probe-answered': 1 });
  });

  it("after A's RLOC changes, A sends SMRs and B re-resolves A to its new RLOC", async () => {
    expect(await pings('b', B.eid, A.eid)).toBeGreaterThanOrEqual(5); // B caches A at its first RLOC
    expect((await status(B)).mapCache.find((e) => e.prefix === `${A.eid}/32`)?.rlocs).toEqual([RLOC.a]);
    const t0 = performance.timeOrigin + performance.now();
    await exec('a', ['ip', 'addr', 'flush', 'dev', 'eth0']);
    await exec('a', ['ip', 'addr', 'add', `${RLOC.aMoved}/24`, 'dev', 'eth1']);
    await exec('a', ['ip', 'route', 'replace', 'default', 'via', '198.18.73.1']);
    await waitFor(
      async () => (await status(B)).mapCache.find((e) => e.prefix === `${A.eid}/32`)?.rlocs[0] === RLOC.aMoved,
      10_000,
      () => `B still maps A to its old RLOC; A's events: ${JSON.stringify(events(A).slice(-6))}; B's: ${JSON.stringify(events(B).slice(-6))}`,
    );
    const smrSent = events(A).find((e) => e.event === 'smr-sent' && e.t >= t0);
    const smrIn = events(B).find((e) => e.event === 'smr-received' && e.t >= t0);
    const installed = events(B).find((e) => e.event === 'mapping-installed' && e.rloc === RLOC.aMoved);
    expect(smrSent).toMatchObject({ rloc: RLOC.aMoved, to: [RLOC.b] });
    expect(smrIn).toMatchObject({ eid: A.eid, cached: true });
    expect(installed!.t).toBeGreaterThan(smrIn!.t);
    expect(events(B).find((e) => e.event === 'map-request-sent' && e.t > smrIn!.t)).toMatchObject({ eid: `${A.eid}/32` }); // the SMR-invoked request
    console.log(`SMR flow: RLOC change -> SMR sent ${(smrSent!.t - t0).toFixed(1)} ms -> B's mapping updated ${(installed!.t - t0).toFixed(1)} ms`);
    expect(await pings('b', B.eid, A.eid)).toBeGreaterThanOrEqual(8);
  });
});

describe.skipIf(skip !== undefined)('control-channel: grpc (resolution over gRPC/HTTP2, WireGuard data plane)', () => {
  let a: { child: Child } | undefined;
  let b: { child: Child } | undefined;
  beforeAll(async () => {
    [a, b] = await Promise.all([startAgent(A, { dataPlane: 'wireguard', control: 'grpc' }), startAgent(B, { dataPlane: 'wireguard', control: 'grpc' })]);
  });
  afterAll(async () => {
    for (const x of [a, b]) if (x) await stop(x.child);
  });

  const peerOf = async (n: Node, eid: string) => {
    const p = (await wgStatus(n)).peers.find((x) => x.eidPrefixes.includes(`${eid}/32`));
    return p && { publicKey: p.publicKey, endpoint: p.endpoint, eidPrefixes: p.eidPrefixes };
  };

  it('resolves over gRPC, pushes the requester to the destination over gRPC, and carries pings', async () => {
    expect(await pings('a', A.eid, B.eid)).toBeGreaterThanOrEqual(5);
    expect(events(A).find((e) => e.event === 'map-request-sent')).toMatchObject({ channel: 'grpc' });
    expect(await peerOf(A, B.eid)).toEqual({ publicKey: keyToBase64(publicKey(B.dataKey)), endpoint: `${RLOC.b}:51820`, eidPrefixes: [`${B.eid}/32`] });
    // B learnt A's key from the gRPC push (B never resolved A)
    expect((await wgStatus(B)).peers.find((p) => p.publicKey === keyToBase64(publicKey(A.dataKey)))).toMatchObject({ source: 'map-notify' });
    expect(events(B).some((e) => e.event === 'map-request-sent')).toBe(false);
  });

  it('delivers a TCP transfer byte for byte', async () => {
    const r = await tcpTransfer({ serverNs: lab.ns('b'), clientNs: lab.ns('a'), address: B.eid, bytes: 8 << 20 });
    expect(r).toMatchObject({ received: 8 << 20, intact: true });
  });

  it('installs the same peer as a LISP resolution does', async () => {
    const viaGrpc = await peerOf(A, B.eid);
    await stop(a!.child);
    a = await startAgent(A, { dataPlane: 'wireguard', control: 'lisp' });
    expect(await pings('a', A.eid, B.eid)).toBeGreaterThanOrEqual(5);
    const last = events(A).filter((e) => e.event === 'map-request-sent').pop();
    expect(last?.channel).toBeUndefined(); // this time over LISP
    expect(await peerOf(A, B.eid)).toEqual(viaGrpc);
  });
});
