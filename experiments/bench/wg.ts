/**
 * What installing a tunnel costs on the timed path, without and with process spawns:
 *   - a WireGuard peer over the persistent UAPI connection vs spawning `wg set` (wireguard-go);
 *   - a route over rtnetlink (the native addon) vs spawning `ip route add`;
 *   - the agent's install step (peer + route) end to end;
 *   - a packet through a TUN, both ways: UDP socket -> TUN handler, TUN write -> UDP socket.
 * Runs in a fresh network namespace of its own (unshare -n) and leaves nothing. Like every lab,
 * run it one at a time on the machine:
 *   flock /tmp/lispwg-netns.lock npm run bench:wg [-- --peers 1000 --spawns 200 --packets 1000]
 * Prints a table with ratios, then ends with one JSON line holding every figure.
 */
import { createSocket, type Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { run, spawn } from '../../src/util/exec.js';
import { createLogger } from '../../src/util/log.js';
import { Rtnetlink } from '../../src/net/rtnetlink.js';
import { TunDevice } from '../../src/dataplane/tun/tun.js';
import { buildUdpPacket } from '../../src/dataplane/tun/udp-packet.js';
import { generatePrivateKey, keyToBase64, publicKey } from '../../src/wg/keys.js';
import { openWireGuard } from '../../src/wg/wireguard.js';
import { round, summarize, type Summary } from '../lib/stats.js';

const INNER = 'LISPWG_BENCH_WG_INNER';

function option(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i < 0 ? dflt : Number(process.argv[i + 1]);
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${name} needs a positive integer`);
  return v;
}

/** The i-th host address of 198.19.0.0/16 (i < 65024). */
const host = (i: number) => `198.19.${1 + (i >> 8)}.${i & 255}`;

async function timeEach(n: number, f: (i: number) => Promise<void> | void): Promise<number[]> {
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await f(i);
    ms.push(performance.now() - t0);
  }
  return ms;
}

/** Times `n` sequential one-packet trips: `send(i)` starts one, `arrived` must be called when it lands. */
function trips(n: number, send: (i: number) => void): { arrived: () => void; done: Promise<number[]> } {
  const ms: number[] = [];
  let t0 = 0;
  let resolve!: (v: number[]) => void;
  const done = new Promise<number[]>((r) => (resolve = r));
  const next = () => {
    if (ms.length === n) return resolve(ms);
    t0 = performance.now();
    send(ms.length);
  };
  setImmediate(next);
  return {
    arrived: () => {
      ms.push(performance.now() - t0);
      setImmediate(next);
    },
    done,
  };
}

async function inner(): Promise<void> {
  const peers = option('peers', 1000);
  const spawns = option('spawns', 200);
  const packets = option('packets', 1000);
  const tag = randomBytes(3).toString('hex');
  const wgName = `lwgbw${tag}`;
  const tunName = `lwgbt${tag}`;
  const rt = Rtnetlink.open();
  rt.setLinkUp('lo');
  const dev = await openWireGuard({ name: wgName, privateKey: generatePrivateKey(), backend: 'userspace', log: createLogger({}, { level: 'warn' }) });
  let tun: TunDevice | undefined;
  let sock: Socket | undefined;
  try {
    const keys = Array.from({ length: peers + spawns * 2 }, () => publicKey(generatePrivateKey()));
    const endpoint = (i: number) => ({ address: `198.18.${i >> 8}.${(i & 255) || 1}`, port: 51820 });

    // -- peers: persistent UAPI vs a `wg set` process per peer
    const uapi = await timeEach(peers, (i) => dev.setPeer({ publicKey: keys[i]!, endpoint: endpoint(i), allowedIps: [`${host(i)}/32`] }));
    const wgSet = await timeEach(spawns, async (j) => {
      const i = peers + j;
      const ep = endpoint(i);
      await run(['wg', 'set', wgName, 'peer', keyToBase64(keys[i]!), 'endpoint', `${ep.address}:${ep.port}`, 'allowed-ips', `${host(i)}/32`]);
    });
    const count = (await dev.peers()).length;
    if (count !== peers + spawns) throw new Error(`expected ${peers + spawns} peers on ${wgName}, found ${count}`);

    // -- routes: rtnetlink vs an `ip route add` process per route
    const index = rt.linkIndex(wgName);
    const nlRoute = await timeEach(peers, (i) => rt.addRoute({ dst: `${host(i)}/32`, dev: index }));
    const ipRoute = await timeEach(spawns, (j) => run(['ip', 'route', 'add', `${host(peers + j)}/32`, 'dev', wgName]).then(() => undefined));
    const byName = await timeEach(spawns, (j) => rt.replaceRoute({ dst: `${host(peers + j)}/32`, dev: wgName })); // with the name lookup

    // -- the agent's install step: a new peer and its route
    const install = await timeEach(spawns, async (j) => {
      const i = peers + spawns + j;
      const p = dev.setPeer({ publicKey: keys[i]!, endpoint: endpoint(i), allowedIps: [`${host(i)}/32`] });
      rt.addRoute({ dst: `${host(i)}/32`, dev: index });
      await p;
    });

    // -- a TUN: socket -> TUN (read path), TUN -> socket (write path)
    tun = TunDevice.open(tunName);
    rt.setLinkUp(tunName);
    rt.addAddress(tunName, '198.18.250.1/24');
    rt.addRoute({ dst: '198.18.251.0/24', dev: tunName });
    const s = (sock = createSocket('udp4'));
    await new Promise<void>((r) => s.bind(0, '198.18.250.1', r));
    const port = s.address().port;
    const payload = Buffer.alloc(64, 0x61);
    const read = trips(packets, () => s.send(payload, 9, '198.18.251.1'));
    tun.onPacket(read.arrived);
    const tunRead = await read.done;
    tun.pause();
    const reply = buildUdpPacket({ src: '198.18.251.1', dst: '198.18.250.1', srcPort: 9, dstPort: port, payload });
    const write = trips(packets, () => tun!.write(reply));
    s.on('message', write.arrived);
    const tunWrite = await write.done;

    const f = (x: Summary) => ({ median: round(x.median), p99: round(x.p99), n: x.n });
    const figures = {
      uapi_set_peer_ms: f(summarize(uapi)),
      wg_set_spawn_ms: f(summarize(wgSet)),
      netlink_route_add_ms: f(summarize(nlRoute)),
      netlink_route_replace_by_name_ms: f(summarize(byName)),
      ip_route_add_spawn_ms: f(summarize(ipRoute)),
      install_peer_and_route_ms: f(summarize(install)),
      tun_read_ms: f(summarize(tunRead)),
      tun_write_ms: f(summarize(tunWrite)),
    };
    const ratio = {
      wg_set_over_uapi: round(figures.wg_set_spawn_ms.median / figures.uapi_set_peer_ms.median, 3),
      ip_route_over_netlink: round(figures.ip_route_add_spawn_ms.median / figures.netlink_route_add_ms.median, 3),
    };
    const row = (name: string, x: { median: number; p99: number; n: number }) =>
      `${name.padEnd(40)} ${x.median.toFixed(4).padStart(9)} ${x.p99.toFixed(4).padStart(9)} ${String(x.n).padStart(6)}`;
    console.log(`${'operation (ms)'.padEnd(40)} ${'median'.padStart(9)} ${'p99'.padStart(9)} ${'n'.padStart(6)}`);
    console.log(row('setPeer, persistent UAPI', figures.uapi_set_peer_ms));
    console.log(row('wg set (spawned)', figures.wg_set_spawn_ms));
    console.log(row('route add, rtnetlink (ifindex)', figures.netlink_route_add_ms));
    console.log(row('route replace, rtnetlink (by name)', figures.netlink_route_replace_by_name_ms));
    console.log(row('ip route add (spawned)', figures.ip_route_add_spawn_ms));
    console.log(row('install: setPeer + route add', figures.install_peer_and_route_ms));
    console.log(row('TUN read: UDP send -> TUN handler', figures.tun_read_ms));
    console.log(row('TUN write: write -> UDP socket', figures.tun_write_ms));
    console.log(`wg set / UAPI: ${ratio.wg_set_over_uapi}x   ip route add / rtnetlink: ${ratio.ip_route_over_netlink}x`);
    console.log(JSON.stringify({ bench: 'wg', backend: dev.backend, peers, spawns, packets, ...figures, ratio }));
  } finally {
    sock?.close();
    tun?.close();
    await dev.close();
    rt.close();
  }
}

async function main(): Promise<void> {
  if (process.env[INNER]) return inner();
  // a namespace of our own that vanishes with the process
  const child = spawn(['unshare', '--net', process.execPath, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    env: { [INNER]: '1' },
    stdout: 'inherit',
    stderr: 'inherit',
  });
  const r = await child;
  process.exitCode = r.exitCode ?? 1;
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exitCode = 1;
});
