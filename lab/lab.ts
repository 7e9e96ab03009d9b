/**
 * A running lab: brought up from a model on a backend, or attached to by name from its state file.
 * One interface for both backends: exec, spawn (with a log), shape a link, move a station between
 * access points (or switch a two-interface station, as the thesis did), capture on an interface,
 * inspect, check reachability, and down.
 *
 *   const lab = await Lab.up(await loadTopology('topologies/paper-lan.yaml'));
 *   await lab.exec('mn1', ['ping', '-c1', '198.18.0.12']);
 *   await lab.down();
 */
import { availableParallelism } from 'node:os';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LispwgError } from '../src/util/errors.js';
import { run, type RunResult } from '../src/util/exec.js';
import type { ExecOptions, NodeBackend } from './backend/backend.js';
import { DockerBackend } from './backend/docker.js';
import { NetnsBackend } from './backend/netns.js';
import { Capture, captureCommand, type CaptureOptions, listening, settleMs } from './capture/capture.js';
import { destroyLab, type DownReport } from './down.js';
import { labDir, labPrefix, netnsName, nodeDir, stationPort, containerName } from './names.js';
import { ipBatch, listNetns, mapLimit, netnsPids, tcBatch } from './net/ip.js';
import { requireNetem } from './net/features.js';
import { associateLines, carrierExpected, disassociateLines, needsNetem, nodeLines, shapedDevices, shapeLines, sysctls, vethLines } from './net/plumb.js';
import { LabProcess } from './process.js';
import { cmdline, startTime } from './procs.js';
import { expectedPairs, neighbourBound, samplePairs, type ReachPair, type Stations } from './reach.js';
import { checkRequirements, daemonOf, writeRoleConfigs } from './kinds/index.js';
import { ensureInotifyInstances, ensureNeighbourEntries, wireguardGoCount } from './host-limits.js';
import { adminSocket, type RolePlan } from './roles.js';
import { type LabState, readState, StateWriter } from './state.js';
import { type Cidr, cidrText, contains, hostAt, hostNumber, ipText, parseCidr } from './topology/addr.js';
import { BRIDGE, type LabModel, type NodeModel, type Shaping } from './topology/model.js';
import type { BackendKind } from './topology/schema.js';
import { parseDuration, parseLoss, parseRate } from './topology/units.js';
import { TopologyError, formatProblems, validateTopology } from './topology/validate.js';

export interface Progress {
  /** Nodes configured so far (0 during the first phases). */
  done: number;
  total: number;
  message: string;
}

export interface UpOptions {
  /** Overrides the topology's `defaults.backend`. */
  backend?: BackendKind;
  /** Overrides the topology's name (two copies of one topology can run side by side). */
  name?: string;
  /** Start the lispwg daemons of ms/xtr/mn nodes (default true); false: networking only. */
  daemons?: boolean;
  onProgress?: (p: Progress) => void;
}

/** Link shaping as a topology writes it. */
export interface ShapeSpec {
  rate?: string;
  delay?: string;
  loss?: string;
}

/**
 * A step of a handover, stamped when lispwg did it: 'associated' just before the new address and
 * route are configured, 'up' once the `ip` command that did it returned (the kernel's change lies
 * between the two; under load the return can lag it by several ms).
 */
export interface HandoverStep {
  step: 'start' | 'disassociated' | 'moved' | 'associated' | 'up';
  /** Microseconds since the epoch (the clock of pcap timestamps). */
  timeUs: number;
}

/** What a handover did, step by step, with timestamps. */
export interface HandoverRecord {
  node: string;
  /** The interface taken down (two-interface handover) or moved (single interface). */
  from?: string;
  to: string;
  fromAp?: string;
  ap: string;
  address: string;
  associationDelayMs: number;
  steps: HandoverStep[];
  /** From start to up, milliseconds. */
  totalMs: number;
}

export interface CheckResult {
  lab: string;
  /** Pairs pinged (all, or the sample). */
  pairs: number;
  /** Pairs that should reach each other in the lab. */
  expected: number;
  reached: number;
  /** Pairs that failed both tries. */
  failures: ReachPair[];
  /** Pairs that failed the first try and answered the second (a loaded machine, not a broken lab). */
  retried: number;
  ms: number;
  /** `check paper-lan: 6/6 pairs reach each other (0.4 s)` */
  line: string;
}

export interface CheckOptions {
  /** Ping every expected pair, however many (default: a sample of CHECK_SAMPLE when there are more). */
  all?: boolean;
}

/** Pairs a check pings by default; more are sampled (every source, evenly spread targets). */
export const CHECK_SAMPLE = 4000;
/** First try: fping's retries and per-try timeout. A pair that fails is tried again, alone. */
const FIRST_TRY = { retries: 2, timeoutMs: 500 };
const SECOND_TRY = { retries: 3, timeoutMs: 1000 };
/** Echo requests in flight lab-wide at once, so that the check does not cause the losses it reports. */
const CHECK_SOURCES_AT_ONCE = 4;

export interface InterfaceInspection {
  name: string;
  state: string;
  mtu: number;
  addresses: string[];
  qdisc?: string;
}

export interface PeerInspection {
  interface: string;
  publicKey: string;
  endpoint: string;
  allowedIps: string[];
  latestHandshake: number;
  rxBytes: number;
  txBytes: number;
}

export interface NodeInspection {
  name: string;
  kind: string;
  netns: string;
  container?: string;
  interfaces: InterfaceInspection[];
  processes: { pid: number; name?: string; cmd: string }[];
  peers: PeerInspection[];
  /** What its kind's daemon says of itself (a Map-Server: its sites registered), when it runs. */
  status?: string;
}

export interface LabInspection {
  name: string;
  backend: BackendKind;
  phase: LabState['phase'];
  dir: string;
  createdAt: string;
  nodes: NodeInspection[];
}

const nowUs = (): number => Math.round((performance.timeOrigin + performance.now()) * 1000);
const PARALLEL = Math.max(2, availableParallelism() * 2);
/** How long the daemons of a lab may take to come up (51 of them share 2 cores in mesh-50). */
const DAEMON_READY_MS = 120_000;
/** How long the links of a new lab may take to carry traffic (the kernel passes carrier changes on about once a second). */
const CARRIER_MS = 5000;

/**
 * Waits until every link end and associated station of the lab has carrier (operstate UP).
 * Why: a veth's carrier reaches its peer through the kernel's linkwatch, which runs at most once a
 * second; until then a bridge port is disabled and drops what arrives (the first ARP request, so the
 * first packet across the LAN took a 1-s ARP retransmission, and a daemon's first handshake with it).
 */
async function waitForCarrier(lab: string, model: LabModel): Promise<void> {
  const deadline = Date.now() + CARRIER_MS;
  let pending = [...carrierExpected(model)];
  while (pending.length) {
    const left: typeof pending = [];
    await mapLimit(pending, PARALLEL, async ([node, ifaces]) => {
      const r = await run(['ip', '-j', '-n', netnsName(lab, node), 'link', 'show'], { allowFail: true });
      const up = new Set(r.exitCode === 0 ? (JSON.parse(r.stdout) as { ifname: string; operstate: string }[]).filter((l) => l.operstate === 'UP').map((l) => l.ifname) : []);
      const down = ifaces.filter((i) => !up.has(i));
      if (down.length) left.push([node, down]);
    });
    pending = left;
    if (!pending.length) return;
    if (Date.now() > deadline) {
      throw new LispwgError('LAB_NET_FAILED', `no carrier after ${CARRIER_MS / 1000} s on ${pending.map(([n, i]) => `${n}:${i.join(',')}`).slice(0, 10).join(' ')}`);
    }
    await sleep(50);
  }
}

function backendFor(kind: BackendKind): NodeBackend {
  return kind === 'docker' ? new DockerBackend() : new NetnsBackend();
}

function revalidate(model: LabModel, name: string): LabModel {
  const { model: m, problems } = validateTopology({ ...model.raw, name }, model.file);
  if (!m) throw new TopologyError(problems, formatProblems(problems, () => `lab ${name}: `));
  return m;
}

/** Parses `{rate: '50mbit', delay: '10ms'}` into tc parameters. */
export function parseShape(spec: ShapeSpec): Shaping {
  const s: Shaping = {};
  const take = (v: string | undefined, parse: (x: string) => number | string, set: (n: number) => void) => {
    if (v === undefined) return;
    const r = parse(v);
    if (typeof r === 'string') throw new LispwgError('LAB_BAD_SHAPE', r);
    set(r);
  };
  take(spec.rate, parseRate, (n) => (s.rateBps = n));
  take(spec.delay, parseDuration, (n) => (s.delayMs = n));
  take(spec.loss, parseLoss, (n) => (s.lossPct = n));
  return s;
}

export class Lab {
  private constructor(
    readonly model: LabModel,
    private readonly backend: NodeBackend,
    private readonly writer: StateWriter,
  ) {}

  get name(): string {
    return this.model.name;
  }
  get dir(): string {
    return this.state.dir;
  }
  get backendKind(): BackendKind {
    return this.backend.kind;
  }
  private get state(): LabState {
    return this.writer.state;
  }

  /** The network namespace of a node (both backends have one). */
  netns(node: string): string {
    this.node(node);
    return netnsName(this.name, node);
  }

  private node(name: string): NodeModel {
    const n = this.model.nodes.find((x) => x.name === name);
    if (!n) throw new LispwgError('LAB_NO_NODE', `lab ${this.name} has no node '${name}' (nodes: ${this.model.nodes.map((x) => x.name).join(', ')})`);
    return n;
  }

  // ---------------------------------------------------------------------------------------------
  // up / attach / down

  /** Brings a lab up; on any failure everything created so far is removed again. */
  static async up(input: LabModel, opts: UpOptions = {}): Promise<Lab> {
    const model = opts.name && opts.name !== input.name ? revalidate(input, opts.name) : input;
    const name = model.name;
    const backend = backendFor(opts.backend ?? model.backend);
    const progress = (done: number, message: string) => opts.onProgress?.({ done, total: model.nodes.length, message });
    if (await readState(name)) throw new LispwgError('LAB_EXISTS', `lab ${name} is already up (or crashed): run 'lispwg lab down ${name}' first`);
    const leftovers = (await listNetns()).filter((n) => n.startsWith(labPrefix(name)));
    if (leftovers.length) throw new LispwgError('LAB_EXISTS', `namespaces of an earlier lab ${name} remain (${leftovers.slice(0, 3).join(', ')}...): run 'lispwg lab down ${name}' first`);

    const netem = [...model.links.filter((l) => needsNetem(l.shaping)).map((l) => `links[${l.index}] (${l.a.node}:${l.a.iface} <-> ${l.b.node}:${l.b.iface})`)];
    if (netem.length) await requireNetem(`the delay/loss of ${netem.join(', ')}`);
    await checkRequirements(model, { daemons: opts.daemons !== false });
    const wgGo = wireguardGoCount(model, opts.daemons !== false, await userspaceWireGuard(model, opts.daemons !== false));
    const raised = await ensureInotifyInstances(wgGo, `the ${wgGo} wireguard-go processes of lab ${name}`);
    if (raised) progress(0, raised);
    for (const line of await ensureNeighbourEntries(neighbourBound(model), `the links of lab ${name}`)) progress(0, line);
    await backend.prepare();

    const dir = labDir(name);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const names = model.nodes.map((n) => n.name);
    const state: LabState = {
      version: 1,
      name,
      backend: backend.kind,
      dir,
      createdAt: new Date().toISOString(),
      phase: 'creating',
      ownerPid: process.pid,
      ...(model.file ? { file: model.file } : {}),
      topology: model.raw,
      daemons: opts.daemons !== false,
      namespaces: names.map((n) => netnsName(name, n)),
      containers: backend.kind === 'docker' ? names.map((n) => containerName(name, n)) : [],
      ...(backend.image ? { image: backend.image } : {}),
      processes: [],
      wgInterfaces: [],
      stations: Object.fromEntries(model.nodes.flatMap((n) => n.wifi.map((s) => [`${n.name}:${s.iface}`, { ap: s.ap, address: s.associated ? cidrText(s.address) : '', associated: s.associated }]))),
    };
    const writer = new StateWriter(state);
    await writer.update(() => undefined);
    const lab = new Lab(model, backend, writer);
    try {
      progress(0, `creating ${names.length} ${backend.kind === 'docker' ? 'containers' : 'namespaces'}`);
      await backend.createNodes(name, names, { dir });
      const stations = model.nodes.reduce((k, n) => k + n.wifi.length, 0);
      progress(0, `creating ${model.links.length} links${stations ? ` and ${stations} stations` : ''}`);
      await ipBatch(vethLines(name, model));
      let done = 0;
      await mapLimit(model.nodes, PARALLEL, async (n) => {
        const ns = netnsName(name, n.name);
        await run(['ip', 'netns', 'exec', ns, 'sysctl', '-q', '-w', ...sysctls(n)]);
        await ipBatch(nodeLines(model, n), ns);
        await tcBatch(shapedDevices(model, n).flatMap((d) => shapeLines(d.dev, d.shaping, d.mtu)), ns);
        progress(++done, `node ${n.name} up`);
      });
      progress(done, 'waiting for carrier on every link');
      await waitForCarrier(name, model);
      const roles = await writeRoleConfigs(name, model);
      await writer.update((s) => (s.wgInterfaces = roles.flatMap((r) => r.interfaces)));
      await lab.startNodeProcesses(roles, opts.daemons !== false, (m) => progress(done, m));
      await writer.update((s) => (s.phase = 'up'));
      return lab;
    } catch (e) {
      await destroyLab(name).catch(() => undefined);
      throw e;
    }
  }

  private async startNodeProcesses(roles: RolePlan[], daemons: boolean, say: (m: string) => void): Promise<void> {
    // stage by stage (etcd, then the Map-Servers, then the sites), each up before the next starts;
    // within a stage a few at a time (each spawn is a few processes: one after the other, 500 sites took minutes)
    const stage = (r: RolePlan) => this.daemon(r.node).stage ?? 0;
    if (daemons) {
      const stages = [...new Set(roles.map(stage))].sort((a, b) => b - a);
      for (const s of stages) {
        const group = roles.filter((r) => stage(r) === s);
        const procs = new Map<string, LabProcess>();
        await mapLimit(group, PARALLEL, async (r) => {
          const d = this.daemon(r.node);
          procs.set(r.node, await this.spawn(r.node, d.process, r.cmd));
          say(`started ${d.label} on ${r.node}`);
        });
        await this.daemonsUp(group, procs, say);
      }
      // then every daemon in service (every site registered with its Map-Server), so the overlay works
      const deadline = Date.now() + DAEMON_READY_MS;
      for (const plan of roles) await this.daemon(plan.node).settle?.({ model: this.model, dir: this.dir, plan, plans: roles, deadline, seconds: DAEMON_READY_MS / 1000, say });
    }
    await mapLimit(this.model.nodes, PARALLEL, async (n) => {
      for (const cmd of n.exec) await this.exec(n.name, ['sh', '-c', cmd]);
      for (const p of n.run) await this.spawn(n.name, p.name, ['sh', '-c', p.cmd]);
    });
  }

  private daemon(node: string) {
    return daemonOf(this.node(node))!;
  }

  /** Waits until every daemon has its `ready` file (its admin socket) or start line: it is up; fails with the log of a daemon that died. */
  private async daemonsUp(roles: RolePlan[], procs: Map<string, LabProcess>, say: (m: string) => void): Promise<void> {
    const deadline = Date.now() + DAEMON_READY_MS;
    let pending = roles.filter((r) => r.ready || r.readyLog);
    const up = (r: RolePlan) => (r.ready ? existsSync(r.ready) : existsSync(r.readyLog!.file) && readFileSync(r.readyLog!.file, 'utf8').includes(r.readyLog!.text));
    // whether a daemon still runs is asked once a second: hundreds of them are starting on two cores
    for (let round = 0; pending.length; round++) {
      const left: RolePlan[] = [];
      for (const r of pending) {
        if (up(r)) continue;
        const p = procs.get(r.node)!;
        if (round % 20 === 0 && !(await p.running())) throw new LispwgError('LAB_DAEMON_EXITED', `${this.daemon(r.node).process} on ${r.node} exited while starting (log ${p.log}): ${(await p.output()).trim().split('\n').filter((l) => !/^\s+at /.test(l)).slice(-5).join('\n')}`);
        left.push(r);
      }
      pending = left;
      if (!pending.length) break;
      if (Date.now() > deadline) throw new LispwgError('LAB_DAEMON_TIMEOUT', `${pending.map((r) => `${this.daemon(r.node).process} on ${r.node}`).join(', ')} not up after ${DAEMON_READY_MS / 1000} s (no admin socket, or no start line in its log): see the logs in ${this.dir}/nodes/<node>/<process>.log`);
      await sleep(50);
    }
    say(`${roles.length} daemons up`);
  }

  /** Attaches to a lab that is up, from its state file. */
  static async attach(name: string): Promise<Lab> {
    const state = await readState(name);
    if (!state) throw new LispwgError('LAB_NOT_FOUND', `no lab named ${name} is up (no state file in ${labDir(name)})`);
    const { model, problems } = validateTopology(state.topology, state.file);
    if (!model) throw new LispwgError('LAB_STATE_CORRUPT', `the topology stored for lab ${name} no longer validates: ${problems[0]?.message}`);
    const backend = backendFor(state.backend);
    if (state.backend === 'docker') await backend.prepare();
    return new Lab(model, backend, new StateWriter(state));
  }

  /** Removes everything of this lab. */
  down(): Promise<DownReport> {
    return destroyLab(this.name);
  }

  // ---------------------------------------------------------------------------------------------
  // commands and processes

  /** Runs a command in a node to completion (output, exit code). */
  exec(node: string, cmd: readonly string[], opts?: ExecOptions): Promise<RunResult> {
    this.node(node);
    return this.backend.exec(this.name, node, cmd, opts);
  }

  /**
   * The host command line that runs `cmd` in a node as exec() does, for a caller that spawns it
   * with its own stdio and streams its output (zx's `$`): `ip netns exec`, or `docker exec -i`.
   */
  command(node: string, cmd: readonly string[]): string[] {
    this.node(node);
    return this.backend.commandLine(this.name, node, cmd);
  }

  /** Starts a long-running command in a node; its output goes to `<lab dir>/nodes/<node>/<name>.log`. */
  async spawn(node: string, name: string, cmd: readonly string[]): Promise<LabProcess> {
    this.node(node);
    if (!/^[A-Za-z0-9_.-]+$/.test(name)) throw new LispwgError('LAB_BAD_NAME', `process name '${name}' must be letters, digits, . _ -`);
    const prev = this.state.processes.find((p) => p.node === node && p.name === name);
    if (prev && (await new LabProcess(node, name, prev.pid, prev.startTime, prev.log).running())) {
      throw new LispwgError('LAB_PROCESS_EXISTS', `${name} already runs on ${node} (pid ${prev.pid})`);
    }
    const dir = nodeDir(this.name, node);
    await mkdir(dir, { recursive: true });
    const log = join(dir, `${name}.log`);
    const pidFile = join(dir, `${name}.pid`);
    await rm(pidFile, { force: true });
    const pid = await this.backend.spawn(this.name, node, cmd, log, pidFile);
    const start = (await startTime(pid)) ?? '';
    await this.writer.update((s) => {
      s.processes = s.processes.filter((p) => !(p.node === node && p.name === name));
      s.processes.push({ node, name, pid, startTime: start, log, cmd: [...cmd] });
    });
    return new LabProcess(node, name, pid, start, log);
  }

  /**
   * Stops a process the lab started (SIGTERM, then SIGKILL after 3 s) and starts it again with the
   * same command line, its output appended to the same log. What a daemon without a cache-flush
   * command (OOR) needs between repetitions; the caller waits for whatever says it is ready again.
   */
  async restart(node: string, name: string): Promise<LabProcess> {
    const rec = this.state.processes.find((p) => p.node === node && p.name === name);
    if (!rec?.cmd) throw new LispwgError('LAB_NO_PROCESS', `lab ${this.name} started no process '${name}' on ${node} that it can restart`);
    const p = new LabProcess(node, name, rec.pid, rec.startTime, rec.log);
    await p.stop('SIGTERM');
    if (!(await p.exited(5000))) throw new LispwgError('LAB_PROCESS_STUCK', `${name} on ${node} (pid ${rec.pid}) did not exit`);
    return this.spawn(node, name, rec.cmd);
  }

  /** A process the lab started (by node and name), e.g. the node's daemon: `process('ms', 'lispwg')`. */
  process(node: string, name: string): LabProcess | undefined {
    const p = this.state.processes.find((x) => x.node === node && x.name === name);
    return p && new LabProcess(p.node, p.name, p.pid, p.startTime, p.log);
  }

  // ---------------------------------------------------------------------------------------------
  // links

  /** The address (without prefix) of a node's interface, or its first address. */
  addressOf(node: string, iface?: string): string {
    this.node(node);
    for (const l of this.model.links) {
      for (const e of [l.a, l.b]) if (e.node === node && (!iface || e.iface === iface) && e.addresses[0]) return ipText(e.addresses[0]);
    }
    const st = Object.entries(this.state.stations).find(([k, v]) => k.startsWith(`${node}:`) && (!iface || k === `${node}:${iface}`) && v.associated);
    if (st) return st[1].address.split('/')[0]!;
    const n = this.node(node);
    if (n.ap && (!iface || iface === BRIDGE)) return ipText(n.ap.gateway);
    throw new LispwgError('LAB_NO_ADDRESS', `${node}${iface ? `:${iface}` : ''} has no address`);
  }

  /** Shapes both directions of the link (or station) an endpoint `node:iface` belongs to. */
  async shape(endpoint: string, spec: ShapeSpec | Shaping): Promise<void> {
    const s: Shaping = 'rateBps' in spec || 'delayMs' in spec || 'lossPct' in spec ? (spec as Shaping) : parseShape(spec as ShapeSpec);
    const [node, iface] = endpoint.split(':') as [string, string | undefined];
    this.node(node);
    const ends: { ns: string; dev: string; mtu: number }[] = [];
    const link = this.model.links.find((l) => [l.a, l.b].some((e) => e.node === node && e.iface === iface));
    if (link) for (const e of [link.a, link.b]) ends.push({ ns: netnsName(this.name, e.node), dev: e.iface, mtu: link.mtu });
    const st = iface ? this.state.stations[`${node}:${iface}`] : undefined;
    if (st) ends.push({ ns: netnsName(this.name, node), dev: iface!, mtu: 1500 }, { ns: netnsName(this.name, st.ap), dev: stationPort(node, iface!), mtu: 1500 });
    if (!ends.length) throw new LispwgError('LAB_NO_LINK', `no link or station has the endpoint '${endpoint}' in lab ${this.name}`);
    if (needsNetem(s)) await requireNetem(`shaping ${endpoint} with delay/loss`);
    for (const e of ends) {
      const lines = shapeLines(e.dev, s, e.mtu);
      if (lines.length) await tcBatch(lines, e.ns);
      else await run(['tc', '-n', e.ns, 'qdisc', 'del', 'dev', e.dev, 'root'], { allowFail: true });
    }
  }

  // ---------------------------------------------------------------------------------------------
  // access points and stations

  private stations(): Stations {
    const m: Stations = new Map();
    for (const [k, v] of Object.entries(this.state.stations)) {
      const address = v.address ? parseCidr(v.address) : undefined;
      m.set(k, { ap: v.ap, associated: v.associated, ...(address && typeof address !== 'string' ? { address } : {}) });
    }
    return m;
  }

  private apOf(name: string) {
    const n = this.node(name);
    if (!n.ap) throw new LispwgError('LAB_NOT_AP', `${name} is a ${n.kind}, not an access point`);
    return n.ap;
  }

  /** An address for a station joining `ap`: the same host number as before when free. */
  private stationAddress(station: string, ap: string, hint?: Cidr): Cidr {
    const subnet = this.apOf(ap).subnet;
    const taken = new Set<string>();
    for (const l of this.model.links) for (const e of [l.a, l.b]) for (const a of e.addresses) taken.add(ipText(a));
    taken.add(ipText(this.apOf(ap).gateway));
    for (const [k, v] of Object.entries(this.state.stations)) if (k !== station && v.address) taken.add(v.address.split('/')[0]!);
    const initial = this.node(station.split(':')[0]!).wifi.find((s) => `${station.split(':')[0]}:${s.iface}` === station);
    const candidates: Cidr[] = [];
    if (hint) candidates.push(hint);
    if (initial && contains(subnet, initial.address)) candidates.push(initial.address);
    if (initial) {
      try {
        candidates.push(hostAt(subnet, Number(hostNumber(initial.address))));
      } catch {
        /* the host number does not fit this subnet */
      }
    }
    for (let h = 100; h < 250; h++) candidates.push(hostAt(subnet, h));
    const free = candidates.find((c) => contains(subnet, c) && !taken.has(ipText(c)));
    if (!free) throw new LispwgError('LAB_AP_FULL', `no free address in ${cidrText(subnet)} for ${station}`);
    return free;
  }

  /**
   * Associates a station (`node:iface`) with an access point: takes the link down (address gone),
   * moves the radio to the new AP if it changes, waits the AP's association delay, and brings the
   * link up with an address in the AP's subnet and the default route via the AP.
   */
  async associate(station: string, ap: string, opts: { address?: string } = {}): Promise<HandoverRecord> {
    const st = this.state.stations[station];
    if (!st) throw new LispwgError('LAB_NO_STATION', `'${station}' is not a Wi-Fi station of lab ${this.name} (stations: ${Object.keys(this.state.stations).join(', ') || 'none'})`);
    const [node, iface] = station.split(':') as [string, string];
    const target = this.apOf(ap);
    let hint: Cidr | undefined;
    if (opts.address) {
      const c = parseCidr(opts.address, () => target.subnet.prefix);
      if (typeof c === 'string' || !contains(target.subnet, c)) throw new LispwgError('LAB_BAD_ADDRESS', `${opts.address} is not an address of ${ap}'s subnet ${cidrText(target.subnet)}`);
      hint = { ...c, prefix: target.subnet.prefix };
    }
    const address = this.stationAddress(station, ap, hint);
    const ns = netnsName(this.name, node);
    const steps: HandoverStep[] = [{ step: 'start', timeUs: nowUs() }];
    const fromAp = st.ap;
    if (st.associated) {
      await ipBatch(disassociateLines(iface), ns);
      steps.push({ step: 'disassociated', timeUs: nowUs() });
    }
    if (fromAp !== ap) {
      const port = stationPort(node, iface);
      await ipBatch([`link set dev ${port} netns ${netnsName(this.name, ap)}`], netnsName(this.name, fromAp));
      await ipBatch([`link set dev ${port} master ${BRIDGE}`, `link set dev ${port} up`], netnsName(this.name, ap));
      await tcBatch(shapeLines(port, target.shaping, 1500), netnsName(this.name, ap));
      await tcBatch(shapeLines(iface, target.shaping, 1500), ns);
      steps.push({ step: 'moved', timeUs: nowUs() });
    }
    await this.writer.update((s) => (s.stations[station] = { ap, address: '', associated: false }));
    await sleep(target.associationDelayMs);
    steps.push({ step: 'associated', timeUs: nowUs() });
    await ipBatch(associateLines({ iface, address }, target.gateway, true), ns);
    steps.push({ step: 'up', timeUs: nowUs() });
    await this.writer.update((s) => (s.stations[station] = { ap, address: cidrText(address), associated: true }));
    return { node, from: iface, to: iface, fromAp, ap, address: ipText(address), associationDelayMs: target.associationDelayMs, steps, totalMs: (steps.at(-1)!.timeUs - steps[0]!.timeUs) / 1000 };
  }

  /**
   * The thesis' handover: a node with two Wi-Fi interfaces on two APs switches from the one in
   * use (or `from`) to `to`: the old interface goes down, the new AP's association delay passes,
   * the new interface comes up with its address and the default route via its AP. Without `to`,
   * to the node's one Wi-Fi interface not in use (back and forth between two).
   */
  async handover(node: string, to?: string, opts: { from?: string } = {}): Promise<HandoverRecord> {
    to ??= this.idleStation(node);
    const key = `${node}:${to}`;
    const target = this.state.stations[key];
    if (!target) throw new LispwgError('LAB_NO_STATION', `${node} has no Wi-Fi interface '${to}'`);
    const from = opts.from ?? Object.entries(this.state.stations).find(([k, v]) => k.startsWith(`${node}:`) && k !== key && v.associated)?.[0].split(':')[1];
    const ap = this.apOf(target.ap);
    const initial = this.node(node).wifi.find((s) => s.iface === to)!;
    const address = target.ap === initial.ap ? initial.address : this.stationAddress(key, target.ap);
    const ns = netnsName(this.name, node);
    const steps: HandoverStep[] = [{ step: 'start', timeUs: nowUs() }];
    if (from) {
      await ipBatch(disassociateLines(from), ns);
      steps.push({ step: 'disassociated', timeUs: nowUs() });
      const old = this.state.stations[`${node}:${from}`]!;
      await this.writer.update((s) => (s.stations[`${node}:${from}`] = { ap: old.ap, address: '', associated: false }));
    }
    if (target.associated) await ipBatch(disassociateLines(to), ns);
    await sleep(ap.associationDelayMs);
    steps.push({ step: 'associated', timeUs: nowUs() });
    await ipBatch(associateLines({ iface: to, address }, ap.gateway, true), ns);
    steps.push({ step: 'up', timeUs: nowUs() });
    await this.writer.update((s) => (s.stations[key] = { ap: target.ap, address: cidrText(address), associated: true }));
    return {
      node,
      ...(from ? { from, fromAp: this.state.stations[`${node}:${from}`]!.ap } : {}),
      to,
      ap: target.ap,
      address: ipText(address),
      associationDelayMs: ap.associationDelayMs,
      steps,
      totalMs: (steps.at(-1)!.timeUs - steps[0]!.timeUs) / 1000,
    };
  }

  /** The one Wi-Fi interface of a node that is not associated (where a handover goes). */
  private idleStation(node: string): string {
    this.node(node);
    const idle = Object.entries(this.state.stations).filter(([k, v]) => k.startsWith(`${node}:`) && !v.associated).map(([k]) => k.slice(node.length + 1));
    if (idle.length !== 1) {
      throw new LispwgError('LAB_NO_STATION', `${node} has ${idle.length ? `${idle.length} idle Wi-Fi interfaces (${idle.join(', ')})` : 'no idle Wi-Fi interface'}: name the one to hand over to`);
    }
    return idle[0]!;
  }

  // ---------------------------------------------------------------------------------------------
  // captures, inspection, check

  private captures = 0;

  /** Starts a capture on a node's interface; resolves once the tool listens. */
  async capture(node: string, iface: string, opts: CaptureOptions = {}): Promise<Capture> {
    const name = `capture-${iface}-${process.pid}-${++this.captures}`;
    const file = join(nodeDir(this.name, node), `${name}.pcap`);
    const proc = await this.spawn(node, name, captureCommand(iface, file, opts));
    await proc.waitForLog(listening(opts), 15_000);
    await sleep(settleMs(opts));
    return new Capture(node, iface, file, proc, opts);
  }

  /**
   * Pings every pair of nodes that should reach each other (lab check, Mininet's pingall), or a
   * sample of CHECK_SAMPLE pairs in a larger lab (`all` for every pair). A few sources at a time,
   * and a pair is reported unreachable only after a second try on its own with a longer timeout:
   * on a loaded machine (right after `lab up` of hundreds of nodes) a lost echo is not a broken lab.
   */
  async check(opts: CheckOptions = {}): Promise<CheckResult> {
    const t0 = performance.now();
    const expected = expectedPairs(this.model, this.stations());
    const pairs = opts.all || expected.length <= CHECK_SAMPLE ? expected : samplePairs(expected, CHECK_SAMPLE);
    const bySource = new Map<string, ReachPair[]>();
    for (const p of pairs) bySource.set(p.from, [...(bySource.get(p.from) ?? []), p]);
    const fping = async (from: string, targets: string[], t: { retries: number; timeoutMs: number }): Promise<Set<string>> => {
      const r = await this.exec(from, ['fping', '-a', '-r', String(t.retries), '-t', String(t.timeoutMs), '-i', '1', ...targets], { allowFail: true });
      return new Set(r.stdout.split('\n').map((l) => l.trim()).filter(Boolean));
    };
    const missed: ReachPair[] = [];
    await mapLimit([...bySource], CHECK_SOURCES_AT_ONCE, async ([from, list]) => {
      const alive = await fping(from, [...new Set(list.map((p) => p.address))], FIRST_TRY);
      for (const p of list) if (!alive.has(p.address)) missed.push(p);
    });
    const failures: ReachPair[] = [];
    await mapLimit(missed, 2, async (p) => {
      if (!(await fping(p.from, [p.address], SECOND_TRY)).has(p.address)) failures.push(p);
    });
    const ms = performance.now() - t0;
    const reached = pairs.length - failures.length;
    const shown = failures.slice(0, 5).map((f) => `${f.from} -> ${f.to} (${f.address})`).join(', ');
    const sampled = pairs.length < expected.length ? ` (a sample of ${expected.length}: every node, ${Math.round((pairs.length / expected.length) * 1000) / 10} % of the pairs; --all for every pair)` : '';
    const line =
      `check ${this.name}: ${reached}/${pairs.length} pairs reach each other${sampled} (${(ms / 1000).toFixed(1)} s)` +
      (missed.length ? `; ${missed.length - failures.length} answered only a second try (${SECOND_TRY.retries + 1} x ${SECOND_TRY.timeoutMs} ms)` : '') +
      (failures.length ? `; unreachable: ${shown}${failures.length > 5 ? ', ...' : ''}` : '');
    return { lab: this.name, pairs: pairs.length, expected: expected.length, reached, failures, retried: missed.length - failures.length, ms, line };
  }

  /** The status line of a node's daemon, if its kind has one and it has an admin socket. */
  private async daemonStatus(n: NodeModel): Promise<string | undefined> {
    const d = daemonOf(n);
    if (!d?.status || !this.state.processes.some((p) => p.node === n.name && p.name === d.process)) return undefined;
    const socket = adminSocket(n, nodeDir(this.name, n.name), d.socket);
    if (!existsSync(socket)) return `no admin socket (${socket})`;
    return d.status(socket).catch((e: Error) => `no answer on ${socket}: ${e.message}`);
  }

  /** Nodes, interfaces, addresses, processes, WireGuard peers (public keys only), daemon status. */
  async inspect(): Promise<LabInspection> {
    const nodes = await mapLimit(this.model.nodes, PARALLEL, async (n): Promise<NodeInspection> => {
      const ns = netnsName(this.name, n.name);
      const links = await run(['ip', '-n', ns, '-d', '-j', 'addr', 'show'], { allowFail: true });
      const qd = await run(['tc', '-n', ns, '-j', 'qdisc', 'show'], { allowFail: true });
      type IpLink = { ifname: string; operstate: string; mtu: number; addr_info?: { local: string; prefixlen: number; scope: string }[]; linkinfo?: { info_kind?: string } };
      const parsed = links.exitCode === 0 && links.stdout ? (JSON.parse(links.stdout) as IpLink[]) : [];
      const qdiscs = qd.exitCode === 0 && qd.stdout ? (JSON.parse(qd.stdout) as { dev: string; kind: string; root?: boolean; options?: { rate?: number } }[]) : [];
      const interfaces = parsed
        .filter((l) => l.ifname !== 'lo')
        .map((l) => {
          const q = qdiscs.find((x) => x.dev === l.ifname && x.root && ['tbf', 'htb', 'netem'].includes(x.kind));
          return {
            name: l.ifname,
            state: l.operstate,
            mtu: l.mtu,
            addresses: (l.addr_info ?? []).filter((a) => a.scope !== 'link').map((a) => `${a.local}/${a.prefixlen}`),
            ...(q ? { qdisc: q.kind } : {}),
          };
        });
      const pids = await netnsPids(ns);
      const known = this.state.processes.filter((p) => p.node === n.name);
      const processes = await Promise.all(pids.map(async (pid) => {
        const k = known.find((p) => p.pid === pid);
        return { pid, ...(k ? { name: k.name } : {}), cmd: await cmdline(pid) };
      }));
      const peers: PeerInspection[] = [];
      for (const l of parsed.filter((x) => x.linkinfo?.info_kind === 'tun' || x.linkinfo?.info_kind === 'wireguard')) {
        const r = await this.exec(n.name, ['wg', 'show', l.ifname, 'dump'], { allowFail: true });
        if (r.exitCode !== 0) continue;
        // the first line holds the interface's private key: it is skipped, never printed
        for (const row of r.stdout.split('\n').slice(1).filter(Boolean)) {
          const [publicKey, , endpoint, allowed, hs, rx, tx] = row.split('\t');
          peers.push({ interface: l.ifname, publicKey: publicKey!, endpoint: endpoint!, allowedIps: allowed === '(none)' ? [] : allowed!.split(','), latestHandshake: Number(hs), rxBytes: Number(rx), txBytes: Number(tx) });
        }
      }
      const status = await this.daemonStatus(n);
      return { name: n.name, kind: n.kind, netns: ns, ...(this.backend.kind === 'docker' ? { container: containerName(this.name, n.name) } : {}), interfaces, processes, peers, ...(status ? { status } : {}) };
    });
    return { name: this.name, backend: this.backend.kind, phase: this.state.phase, dir: this.dir, createdAt: this.state.createdAt, nodes };
  }
}

/** Whether the lab's daemons will run wireguard-go (no kernel module), asked only when it has daemons. */
async function userspaceWireGuard(model: LabModel, daemons: boolean): Promise<boolean> {
  if (!daemons || !model.nodes.some((n) => n.role && !n.role.cmd)) return false;
  const { detectWireGuardBackend } = await import('../src/wg/wireguard.js');
  return (await detectWireGuardBackend()).backend === 'userspace';
}
