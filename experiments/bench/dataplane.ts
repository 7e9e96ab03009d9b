/**
 * Data-plane throughput of the paper's variants, side by side in one run (Fig. 11's question):
 *   veth       the two namespaces' underlay link itself (the ceiling)
 *   lisp       plain LISP, encapsulated in userspace by lispwg's data plane (the OOR baseline)
 *   lisp+wg    LISP+WireGuard: the tunnel a LISP+WG agent installs, on wireguard-go (userspace)
 *   ipsec      ESP tunnel mode with ChaCha20-Poly1305: kernel XFRM, else strongSwan kernel-libipsec
 * Each with nuttcp UDP at a fixed payload (1388 B for LISP, 1380 B for WireGuard, as the thesis, so
 * nothing fragments at MTU 1500; the largest that fits for IPsec) at a fixed offered rate, then TCP.
 * Prints Mb/s, packets/s and the ratios between variants, then one JSON line with every figure.
 * A variant this machine cannot run is reported unavailable with the reason, never as 0.
 *
 *   flock /tmp/lispwg-netns.lock npm run bench:dataplane [-- --seconds 4 --udp-rate 1000 --full]
 *
 * Quick mode (default): 4 s per measurement, about 45 s in all. --full: 20 s per measurement.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { run, spawn } from '../../src/util/exec.js';
import { createLogger } from '../../src/util/log.js';
import { lispwgBin } from '../../src/util/project.js';
import { generatePrivateKey } from '../../src/wg/keys.js';
import { openWireGuard, type WgDevice } from '../../src/wg/wireguard.js';
import { detectIpsec, openIpsecTunnel, type IpsecTunnel } from '../../src/ipsec/index.js';
import { collectMetadata } from '../lib/metadata.js';
import { round } from '../lib/stats.js';

/** Measured on this kind of machine (2 vCPU, namespaces), experiments.md and the issue. */
const REFERENCE = {
  'veth tcp': 12000,
  'OOR 1.3 userspace LISP tcp': 650,
  'OOR 1.3 userspace LISP udp (-l1388)': 290,
  'wireguard-go udp': 400,
  'wireguard-go tcp': 500,
};

type VariantName = 'veth' | 'lisp' | 'lisp+wg' | 'ipsec';

interface Figure {
  mbps: number;
  pps: number;
  /** UDP: share of the datagrams sent that never arrived (%). */
  lossPct?: number;
}

interface VariantResult {
  name: VariantName;
  available: boolean;
  /** What carries it, or why it cannot run here. */
  detail: string;
  udpPayload?: number;
  udp?: Figure;
  tcp?: Figure;
}

const tag = randomBytes(3).toString('hex');
const [nsA, nsB] = [`lwbA-${tag}`, `lwbB-${tag}`];
const [rlocA, rlocB] = ['198.18.50.1', '198.18.50.2'];
const log = createLogger({ bench: 'dataplane' }, { level: 'warn' });

const ns = (n: string, cmd: string[], timeoutMs = 60_000) => run(['ip', 'netns', 'exec', n, ...cmd], { timeoutMs });

/** nuttcp -fparse output: key=value pairs. */
function parseNuttcp(out: string): Record<string, number> {
  const line = out.trim().split('\n').filter((l) => l.includes('rate_Mbps=')).pop();
  if (!line) throw new Error(`nuttcp printed no result: ${out}`);
  return Object.fromEntries(line.trim().split(/\s+/).map((kv) => kv.split('=')).map(([k, v]) => [k!, Number(v)]));
}

async function measure(dst: string, seconds: number, udp: { rateMbps: number; payload: number } | undefined, mtu: number): Promise<Figure> {
  const args = udp ? ['-u', `-R${udp.rateMbps}m`, `-l${udp.payload}`] : [];
  const r = parseNuttcp((await ns(nsA, ['nuttcp', `-T${seconds}`, '-fparse', ...args, dst], (seconds + 30) * 1000)).stdout);
  const mbps = r.rate_Mbps!;
  if (udp) {
    const received = r.pkt! - r.drop!;
    return { mbps: round(mbps), pps: Math.round(received / r.real_seconds!), lossPct: round(r.data_loss!, 3) };
  }
  // TCP: packets of full-size segments (MSS = MTU - 40) needed for that rate
  return { mbps: round(mbps), pps: Math.round((mbps * 1e6) / 8 / (mtu - 40)) };
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { full: { type: 'boolean', default: false }, seconds: { type: 'string' }, 'udp-rate': { type: 'string' } } });
  const full = values.full;
  const seconds = Number(values.seconds ?? (full ? 20 : 4));
  const udpRate = Number(values['udp-rate'] ?? 1000);
  if (!(seconds >= 1 && seconds <= 600)) throw new Error(`--seconds must be 1..600, got ${values.seconds}`);
  if (!(udpRate > 0)) throw new Error(`--udp-rate (Mb/s) must be > 0, got ${values['udp-rate']}`);
  const started = performance.now();
  const meta = await collectMetadata({ nuttcp: ['nuttcp', '-V'], 'wireguard-go': ['wireguard-go', '--version'], strongswan: ['sh', '-c', 'swanctl --version 2>/dev/null'] });

  const cleanups: Array<() => Promise<unknown>> = [];
  const results: VariantResult[] = [];
  try {
    // --- the underlay: two namespaces and a veth -------------------------------------------------
    for (const n of [nsA, nsB]) {
      await run(['ip', 'netns', 'add', n]);
      cleanups.push(() => run(['ip', 'netns', 'del', n], { allowFail: true }));
    }
    await run(['ip', '-n', nsA, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', nsB]);
    for (const [n, rloc] of [[nsA, rlocA], [nsB, rlocB]] as const) {
      await run(['ip', '-n', n, 'addr', 'add', `${rloc}/24`, 'dev', 'eth0']);
      for (const l of ['eth0', 'lo']) await run(['ip', '-n', n, 'link', 'set', l, 'up']);
    }
    const server = spawn(['ip', 'netns', 'exec', nsB, 'nuttcp', '-S', '--nofork']);
    cleanups.push(async () => {
      server.kill('SIGTERM');
      await server.catch(() => undefined);
    });

    // --- plain LISP: lispwg's userspace data plane at both ends ----------------------------------
    const lispNodes = [
      spawn(['ip', 'netns', 'exec', nsA, process.execPath, lispwgBin(), 'lisp-dp', '--map', `198.19.2.0/24=${rlocB}`, '--address', '198.19.1.1/32', '--log-level', 'warn'], { stdout: 'pipe' }),
      spawn(['ip', 'netns', 'exec', nsB, process.execPath, lispwgBin(), 'lisp-dp', '--map', `198.19.1.0/24=${rlocA}`, '--address', '198.19.2.1/32', '--log-level', 'warn'], { stdout: 'pipe' }),
    ];
    for (const p of lispNodes) {
      cleanups.push(async () => {
        p.kill('SIGTERM');
        await p.catch(() => undefined);
      });
    }
    await Promise.all(lispNodes.map((p) => new Promise<void>((resolve, reject) => {
      p.stdout?.on('data', (d: Buffer) => d.toString().includes('"ready":true') && resolve());
      void p.then((r) => reject(new Error(`lisp-dp exited before it was ready (exit ${r.exitCode ?? r.signal ?? r.error?.message})`)));
    })));

    // --- LISP+WireGuard: the peers an agent installs, on wireguard-go ------------------------------
    const wg: WgDevice[] = [];
    cleanups.push(() => Promise.all(wg.map((d) => d.close())));
    const [keyA, keyB] = [generatePrivateKey(), generatePrivateKey()];
    wg.push(await openWireGuard({ name: `lwbwa${tag}`, privateKey: keyA, netns: nsA, listenPort: 51820, mtu: 1420, addresses: ['198.19.11.1/24'], log }));
    wg.push(await openWireGuard({ name: `lwbwb${tag}`, privateKey: keyB, netns: nsB, listenPort: 51820, mtu: 1420, addresses: ['198.19.11.2/24'], log }));
    await wg[0]!.setPeer({ publicKey: wg[1]!.publicKey, endpoint: { address: rlocB, port: 51820 }, allowedIps: ['198.19.11.2/32'] });
    await wg[1]!.setPeer({ publicKey: wg[0]!.publicKey, endpoint: { address: rlocA, port: 51820 }, allowedIps: ['198.19.11.1/32'] });
    await ns(nsA, ['ping', '-c', '1', '-W', '2', '198.19.11.2']); // the handshake, before timing

    // --- IPsec ------------------------------------------------------------------------------------
    const ipsecChoice = await detectIpsec();
    let ipsec: IpsecTunnel | undefined;
    let ipsecWhy = ipsecChoice.reason;
    if (ipsecChoice.backend) {
      for (const [n, eid] of [[nsA, '198.19.21.1'], [nsB, '198.19.22.1']] as const) await run(['ip', '-n', n, 'addr', 'add', `${eid}/32`, 'dev', 'lo']);
      try {
        ipsec = await openIpsecTunnel(
          { name: `a${tag}`, netns: nsA, local: rlocA, remote: rlocB, localTs: ['198.19.21.1/32'], remoteTs: ['198.19.22.1/32'] },
          { name: `b${tag}`, netns: nsB, local: rlocB, remote: rlocA, localTs: ['198.19.22.1/32'], remoteTs: ['198.19.21.1/32'] },
          ipsecChoice,
        );
        const t = ipsec;
        cleanups.push(() => t.close());
        ipsecWhy = t.detail;
      } catch (e) {
        ipsecWhy = `could not bring the tunnel up: ${(e as Error).message}`;
      }
    }

    // --- measurements: one variant at a time --------------------------------------------------------
    const plan: Array<{ name: VariantName; dst?: string; payload: number; mtu: number; detail: string }> = [
      { name: 'veth', dst: rlocB, payload: 1388, mtu: 1500, detail: 'the veth between the namespaces, no tunnel' },
      { name: 'lisp', dst: '198.19.2.1', payload: 1388, mtu: 1464, detail: "lispwg's userspace LISP data plane (TUN, worker thread, UDP 4341)" },
      { name: 'lisp+wg', dst: '198.19.11.2', payload: 1380, mtu: 1420, detail: 'WireGuard peers as a LISP+WG agent installs them, on wireguard-go' },
      { name: 'ipsec', ...(ipsec ? { dst: '198.19.22.1' } : {}), payload: (ipsec?.mtu ?? 1408) - 28, mtu: ipsec?.mtu ?? 1408, detail: ipsecWhy },
    ];
    for (const v of plan) {
      if (!v.dst) {
        results.push({ name: v.name, available: false, detail: v.detail });
        continue;
      }
      const udp = await measure(v.dst, seconds, { rateMbps: udpRate, payload: v.payload }, v.mtu);
      const tcp = await measure(v.dst, seconds, undefined, v.mtu);
      results.push({ name: v.name, available: true, detail: v.detail, udpPayload: v.payload, udp, tcp });
      process.stderr.write(`  ${v.name}: UDP ${udp.mbps} Mb/s, TCP ${tcp.mbps} Mb/s\n`);
    }
  } finally {
    for (const c of cleanups.reverse()) await c().catch((e: unknown) => process.stderr.write(`cleanup: ${String(e)}\n`));
  }

  // --- report ----------------------------------------------------------------------------------------
  const by = Object.fromEntries(results.map((r) => [r.name, r])) as Record<VariantName, VariantResult>;
  const ratio = (a: VariantName, b: VariantName, k: 'udp' | 'tcp') => (by[a]?.[k] && by[b]?.[k] ? round(by[a][k]!.mbps / by[b][k]!.mbps, 3) : null);
  const ratios = {
    lisp_over_veth_tcp: ratio('lisp', 'veth', 'tcp'),
    wg_over_veth_tcp: ratio('lisp+wg', 'veth', 'tcp'),
    wg_over_lisp_udp: ratio('lisp+wg', 'lisp', 'udp'),
    wg_over_lisp_tcp: ratio('lisp+wg', 'lisp', 'tcp'),
    ipsec_over_wg_udp: ratio('ipsec', 'lisp+wg', 'udp'),
    ipsec_over_wg_tcp: ratio('ipsec', 'lisp+wg', 'tcp'),
    lisp_over_oor_tcp: by.lisp?.tcp ? round(by.lisp.tcp.mbps / REFERENCE['OOR 1.3 userspace LISP tcp'], 3) : null,
    lisp_over_oor_udp: by.lisp?.udp ? round(by.lisp.udp.mbps / REFERENCE['OOR 1.3 userspace LISP udp (-l1388)'], 3) : null,
  };
  const cell = (f: Figure | undefined) => (f ? `${String(f.mbps).padStart(9)} ${String(f.pps).padStart(9)}` : ''.padStart(19));
  console.log(`data-plane throughput, nuttcp ${seconds} s per figure, UDP offered at ${udpRate} Mb/s (${meta.kernel}, ${meta.cores} cores)`);
  console.log(`${'variant'.padEnd(9)} ${'UDP Mb/s'.padStart(9)} ${'pkt/s'.padStart(9)} ${'loss %'.padStart(7)} ${'TCP Mb/s'.padStart(9)} ${'pkt/s'.padStart(9)}  what`);
  for (const r of results) {
    if (!r.available) console.log(`${r.name.padEnd(9)} ${'unavailable'.padStart(47)}  ${r.detail}`);
    else console.log(`${r.name.padEnd(9)} ${cell(r.udp)} ${String(r.udp!.lossPct).padStart(7)} ${cell(r.tcp)}  ${r.detail} (UDP payload ${r.udpPayload} B)`);
  }
  console.log(`ratios: ${Object.entries(ratios).map(([k, v]) => `${k}=${v ?? 'n/a'}`).join('  ')}`);
  console.log(`reference points on this machine (Mb/s): ${Object.entries(REFERENCE).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  console.log('TCP pkt/s: full-size segments (MSS = MTU - 40) for that rate; UDP pkt/s: datagrams received per second');
  console.log(JSON.stringify({ bench: 'dataplane', mode: full ? 'full' : 'quick', seconds, udpRateMbps: udpRate, variants: results, ratios, reference: REFERENCE, elapsedS: round((performance.now() - started) / 1000, 3), kernel: meta.kernel, cores: meta.cores, node: meta.node, tools: meta.tools }));
  return 0;
}

main().then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    process.stderr.write(`bench:dataplane: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
