/**
 * Experiments of a researcher's own, as zx scripts: a small API over a running lab and the
 * results layout, so that a new measurement needs no Experiment module, registration or driver.
 *
 *   import { up, record } from 'lispwg/script';              // dist/experiments/lib/script.js
 *   const lab = await up('topologies/paper-lan.yaml');       // or: await attach('paper-lan')
 *   const rec = await record('my-experiment', { params: { n: 10 }, metric: 'first reply', unit: 'ms' });
 *   await lab.flush();                                       // every agent: a cold start
 *   const out = await lab.node('mn1').$`ping -c1 ${lab.node('mn2').eid}`;   // zx, in mn1's namespace
 *   rec.sample({ value: Number(/time=([\d.]+)/.exec(out.stdout)?.[1]) });
 *   await rec.done();                                        // summary.json and figure.svg/png
 *
 * A lab the script brought up goes down when the script ends, fails, or is interrupted (Ctrl-C,
 * SIGTERM); an attached lab stays, but the processes the script spawned in it are stopped. Runs
 * land in results/<name>/<run-id>/ as the framework's (LISPWG_RESULTS moves them), and `npm run
 * figures` and `npm run report` analyse them from their metadata (lib/script-experiment.ts).
 *
 * It lives in experiments/lib, not lab/, because it joins the lab with what only the experiments
 * have (the agents' admin sockets, the run folders, the plots): imports flow experiments -> lab.
 */
import { spawn as spawnChild, spawnSync, type SpawnOptions, type SpawnSyncOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { basename, isAbsolute, join, relative, resolve } from 'node:path';
import { $, type Shell } from 'zx/core';
import { LispwgError } from '../../src/util/errors.js';
import { lispwgBin, projectRoot } from '../../src/util/project.js';
import type { AgentStatus } from '../../src/xtr/show.js';
import { destroyLab } from '../../lab/down.js';
import { Lab, type HandoverRecord } from '../../lab/lab.js';
import { nodeDir } from '../../lab/names.js';
import type { LabProcess } from '../../lab/process.js';
import { aliveSync } from '../../lab/procs.js';
import { readState } from '../../lab/state.js';
import { loadTopology } from '../../lab/topology/load.js';
import type { BackendKind } from '../../lab/topology/schema.js';
import { agentNodes, agentsReady, eidOf, flush, status } from './agents.js';
import { COMMON_TOOLS, finishRun, type SavedSummary } from './driver.js';
import type { Mode, Sample } from './experiment.js';
import { withNodeSettings, type NodeSettings } from './lab.js';
import { ExperimentRun, resultsRoot } from './run.js';
import { scriptExperiment, type ScriptDescription } from './script-experiment.js';
import { reservedName } from '../registry.js';

const say = (line: string): void => void process.stderr.write(`[script] ${line}\n`);

// ------------------------------------------------------------------------------------------------
// what the script opened, and its teardown

/** Labs the script brought up: down when it ends, however it ends. */
const owned = new Set<string>();
const opened: ScriptLab[] = [];
const recorders: Recorder[] = [];
let hooked = false;
let finishing: Promise<void> | undefined;

/** The asynchronous teardown: the normal end (beforeExit, also after zx reported a failure) and signals. */
function tearDown(): Promise<void> {
  return (finishing ??= (async () => {
    for (const l of opened) await l.stopSpawned().catch((e: Error) => say(`stopping processes in ${l.name}: ${e.message}`));
    for (const name of [...owned]) {
      await destroyLab(name).then(
        (r) => say(`lab ${name} down${r.notes.length ? `: ${r.notes.join('; ')}` : ''}`),
        (e: Error) => say(`lab ${name} down failed: ${e.message} (run 'lispwg lab down ${name}')`),
      );
      owned.delete(name);
    }
  })());
}

/** What is left at `exit` (process.exit, an uncaught error under plain node): synchronous, so `lispwg lab down` as a child. */
function tearDownSync(): void {
  for (const l of opened) l.killSpawnedSync();
  for (const name of owned) {
    spawnSync(process.execPath, [lispwgBin(), 'lab', 'down', name], { stdio: ['ignore', 'ignore', 'inherit'] });
    say(`lab ${name} down (at exit)`);
  }
  owned.clear();
}

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.once('beforeExit', () => void tearDown());
  process.once('exit', tearDownSync);
  for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]] as const) {
    process.once(sig, () => {
      say(`${sig}: tearing down`);
      void tearDown().finally(() => process.exit(code));
    });
  }
}

// ------------------------------------------------------------------------------------------------
// a lab and its nodes

/** One node of the lab: zx's `$` in its namespace, background processes, its agent. */
export class ScriptNode {
  /**
   * zx's `$`, run in the node (as `lab.exec`: `ip netns exec`, or `docker exec -i` on the docker
   * backend) with LISPWG_RUN_DIR set to the node's directory, as `lispwg lab exec` does (so
   * `node dist/src/cli/main.js show` talks to its agent). Resolves to zx's ProcessOutput.
   */
  readonly $: Shell;

  constructor(
    private readonly owner: ScriptLab,
    readonly name: string,
  ) {
    const inNode = (cmd: string, args?: readonly string[]): string[] => {
      const env = ['env', `LISPWG_RUN_DIR=${nodeDir(owner.name, name)}`];
      return owner.lab.command(name, args?.length ? [...env, cmd, ...args] : [...env, cmd]);
    };
    // zx hands its spawn the whole command line and its shell (`bash -c ...` inside the node)
    const shellLine = (cmd: string, args: readonly string[] | undefined, shell: unknown): string[] =>
      shell ? inNode(typeof shell === 'string' ? shell : '/bin/sh', ['-c', args?.length ? [cmd, ...args].join(' ') : cmd]) : inNode(cmd, args);
    const spawn = (cmd: string, args?: readonly string[] | SpawnOptions, opts?: SpawnOptions) => {
      const [a, o] = Array.isArray(args) ? [args, opts ?? {}] : [undefined, (args as SpawnOptions | undefined) ?? {}];
      const [file, ...rest] = shellLine(cmd, a, o.shell);
      return spawnChild(file!, rest, { ...o, shell: false });
    };
    const spawnSyncIn = (cmd: string, args?: readonly string[] | SpawnSyncOptions, opts?: SpawnSyncOptions) => {
      const [a, o] = Array.isArray(args) ? [args, opts ?? {}] : [undefined, (args as SpawnSyncOptions | undefined) ?? {}];
      const [file, ...rest] = shellLine(cmd, a, o.shell);
      return spawnSync(file!, rest, { ...o, shell: false });
    };
    this.$ = $({ spawn: spawn as unknown as typeof spawnChild, spawnSync: spawnSyncIn as unknown as typeof spawnSync });
  }

  /** Its first EID address (mn1's `198.19.1.1`). */
  get eid(): string {
    return eidOf(this.owner.lab, this.name);
  }

  /** The address of one of its interfaces, or its first. */
  address(iface?: string): string {
    return this.owner.lab.addressOf(this.name, iface);
  }

  /**
   * Starts a background command (a string runs with `sh -c`), its output in
   * `<lab dir>/nodes/<node>/<name>.log`; stopped when the script ends if the lab stays.
   */
  async spawn(cmd: string | readonly string[], opts: { name?: string } = {}): Promise<LabProcess> {
    const name = opts.name ?? `script-${process.pid}-${++this.owner.spawns}`;
    const p = await this.owner.lab.spawn(this.name, name, typeof cmd === 'string' ? ['sh', '-c', cmd] : cmd);
    this.owner.spawned.push(p);
    return p;
  }

  /** The handover of the handover experiment (Lab.handover): to `to`, or to its Wi-Fi interface not in use. */
  handover(to?: string): Promise<HandoverRecord> {
    return this.owner.lab.handover(this.name, to);
  }

  /** Its agent's status, as `lispwg show --json` prints it (map-cache, peers, registration, latencies). */
  show(): Promise<AgentStatus> {
    return status(this.owner.lab, this.name);
  }

  /** Empties its agent's map-cache, peers and routes. */
  flush(): Promise<void> {
    return flush(this.owner.lab, [this.name]);
  }
}

/** A lab as a script sees it; `lab` is the whole Lab API (capture, shape, associate, check, inspect). */
export class ScriptLab {
  private readonly nodes = new Map<string, ScriptNode>();
  /** @internal processes this script started */
  readonly spawned: LabProcess[] = [];
  /** @internal */
  spawns = 0;

  constructor(
    readonly lab: Lab,
    /** the topology's name (`paper-lan`), for the run's metadata */
    readonly topology: string,
  ) {}

  get name(): string {
    return this.lab.name;
  }

  node(name: string): ScriptNode {
    this.lab.netns(name); // LAB_NO_NODE, naming the nodes there are
    return this.nodes.get(name) ?? this.nodes.set(name, new ScriptNode(this, name)).get(name)!;
  }

  /** The nodes running a lispwg agent (xtr, mn). */
  agents(): string[] {
    return agentNodes(this.lab);
  }

  /** Empties the agents' map-caches, peers and routes: those named, or every agent of the lab. */
  flush(...nodes: string[]): Promise<void> {
    return flush(this.lab, nodes.length ? nodes : this.agents());
  }

  /** Takes the lab down now (also one the script attached to). */
  async down(): Promise<void> {
    await this.stopSpawned();
    await destroyLab(this.name);
    owned.delete(this.name);
    say(`lab ${this.name} down`);
  }

  /** @internal */
  async stopSpawned(): Promise<void> {
    for (const p of this.spawned.splice(0)) await p.stop('SIGTERM', 1000);
  }

  /** @internal */
  killSpawnedSync(): void {
    for (const p of this.spawned.splice(0)) {
      if (!aliveSync(p.pid, p.startTime)) continue;
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        /* gone meanwhile */
      }
    }
  }
}

async function opening(lab: Lab, topology: string): Promise<ScriptLab> {
  const l = new ScriptLab(lab, topology);
  opened.push(l);
  for (const r of recorders) await r.noteLab(l);
  return l;
}

/** Attaches to a lab that is up (`lispwg lab up ... --name NAME`); it stays up after the script. */
export async function attach(name: string): Promise<ScriptLab> {
  const lab = await Lab.attach(name);
  hookExit();
  return opening(lab, lab.model.file ? basename(lab.model.file).replace(/\.ya?ml$/, '') : name);
}

export interface UpOptions {
  /** The lab's name (default: the topology's name and 4 hex digits, so it never meets one that is up). */
  name?: string;
  backend?: BackendKind;
  /** Agent settings merged into some nodes: `{ mn1: { config: { 'miss-policy': 'drop' } } }`. */
  settings?: NodeSettings;
  /** false: the network only, no lispwg daemons. */
  daemons?: boolean;
}

/** A topology file as given, else relative to the project (`topologies/paper-lan.yaml` from anywhere). */
function topologyFile(path: string): string {
  if (isAbsolute(path) || existsSync(path)) return resolve(path);
  const inProject = resolve(projectRoot(), path);
  if (existsSync(inProject)) return inProject;
  throw new LispwgError('SCRIPT_NO_TOPOLOGY', `no topology file '${path}' (here or in ${projectRoot()})`);
}

/** Brings a topology up as a new lab, taken down when the script ends, fails or is interrupted. */
export async function up(topology: string, opts: UpOptions = {}): Promise<ScriptLab> {
  const loaded = await loadTopology(topologyFile(topology));
  const model = opts.settings ? withNodeSettings(loaded, opts.settings) : loaded;
  const name = opts.name ?? `${loaded.name.slice(0, 19).replace(/-$/, '')}-${randomBytes(2).toString('hex')}`;
  // never tear down a lab that was there before: only once this one is ours
  if (await readState(name)) throw new LispwgError('LAB_EXISTS', `lab ${name} is already up: attach('${name}') to use it, or choose another name`);
  hookExit();
  owned.add(name);
  const t0 = Date.now();
  let lab: Lab;
  try {
    lab = await Lab.up(model, { name, ...(opts.backend ? { backend: opts.backend } : {}), ...(opts.daemons === false ? { daemons: false } : {}) });
  } catch (e) {
    if (e instanceof LispwgError && e.code === 'LAB_EXISTS') owned.delete(name);
    throw e;
  }
  say(`lab ${name} (${loaded.name}, ${lab.backendKind}) up in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return opening(lab, loaded.name);
}

// ------------------------------------------------------------------------------------------------
// recording a run

export interface RecordOptions {
  /** The run's parameters (metadata.json), e.g. `{ n: 20 }`. */
  params?: Record<string, unknown>;
  /** What the value measures, and its unit: the figure's axis and the summary's metric. */
  metric?: string;
  unit?: string;
  /** The sample field holding the value (default `value`). */
  value?: string;
  title?: string;
  /** One paragraph on the method, for the report. */
  description?: string;
  /** Recorded as the framework's runs are (default quick). */
  mode?: Mode;
  /** Where run folders go (default LISPWG_RESULTS, else <project>/results). */
  resultsDir?: string;
}

/** The script's file as the run's metadata names it: `node FILE` or `zx FILE`, relative to the project. */
function scriptFile(): string {
  const file = process.argv.slice(1).find((a) => /\.(m?js|ts)$/.test(a) && !/node_modules[\\/](zx|vitest)[\\/]/.test(a));
  if (!file) return 'an unnamed script';
  const rel = relative(projectRoot(), resolve(file));
  return rel.startsWith('..') ? resolve(file) : rel;
}

/** One run being recorded: samples on disk as they are taken, then the summary and the figure. */
export class Recorder {
  private finished = false;

  /** @internal */
  constructor(
    readonly run: ExperimentRun,
    private readonly description: ScriptDescription,
    private readonly params: Record<string, unknown>,
    private readonly mode: Mode,
  ) {}

  get dir(): string {
    return this.run.dir;
  }

  /**
   * Appends one sample to samples.jsonl (on disk before the next is taken): a number is the value
   * itself; an object may name its `variant` (default: the experiment's name) and carry anything
   * else. A sample whose value is missing or not finite counts as a failed one (give its `error`).
   */
  sample(s: number | Record<string, unknown>): void {
    if (this.finished) throw new LispwgError('SCRIPT_RUN_DONE', `the run ${this.run.id} of ${this.run.name} is done: record() a new one`);
    const fields = typeof s === 'number' ? { [this.description.value]: s } : s;
    this.run.sample({ variant: this.run.name, ...fields });
  }

  /** Adds facts to metadata.json (what the script learnt: a version, a setting). */
  annotate(facts: Record<string, unknown>): void {
    this.run.annotate(facts);
  }

  /** Every sample so far. */
  samples(): Sample[] {
    return this.run.samples<Sample>();
  }

  /** Writes summary.json and the figure (figure.svg, .png, .vl.json), prints the summary; returns it. */
  async done(): Promise<SavedSummary> {
    if (this.finished) throw new LispwgError('SCRIPT_RUN_DONE', `the run ${this.run.id} of ${this.run.name} is already done`);
    this.finished = true;
    recorders.splice(recorders.indexOf(this), 1);
    await finishRun(scriptExperiment(this.run.name, this.description), this.run, this.params, this.mode);
    return JSON.parse(readFileSync(join(this.run.dir, 'summary.json'), 'utf8')) as SavedSummary;
  }

  /** @internal the lab's backend and WireGuard's, as upLab and agentsReady record them */
  async noteLab(l: ScriptLab): Promise<void> {
    const labs = (this.run.metadata.labs as string[] | undefined) ?? [];
    this.run.annotate({ labBackend: l.lab.backendKind, labs: [...labs, `${l.name} (${l.topology})`] });
    const agents = l.agents();
    // an attached lab may have an agent down: say so, and record anyway
    if (agents.length) await agentsReady(this.run, l.lab, agents).catch((e: Error) => say(`${l.name}: ${e.message}`));
  }
}

/**
 * Starts a run of the experiment `name` (a folder under results/ of its own: not one of the
 * registered experiments'), its metadata as the framework writes it (machine, versions of the
 * tools, parameters, mode, labs) plus what the samples measure.
 */
export async function record(name: string, opts: RecordOptions = {}): Promise<Recorder> {
  if (!/^[a-z0-9][a-z0-9-]{0,63}$/.test(name)) throw new LispwgError('SCRIPT_BAD_NAME', `'${name}' is not an experiment name: lowercase letters, digits and -, as results/<name>/`);
  if (reservedName(name)) throw new LispwgError('SCRIPT_BAD_NAME', `'${name}' is taken (a registered experiment, a benchmark, paper or gates): name your experiment otherwise`);
  const description: ScriptDescription = {
    file: scriptFile(),
    title: opts.title ?? name,
    metric: opts.metric ?? 'value',
    unit: opts.unit ?? '',
    value: opts.value ?? 'value',
    ...(opts.description ? { description: opts.description } : {}),
  };
  const params = opts.params ?? {};
  const mode = opts.mode ?? 'quick';
  const run = await ExperimentRun.start(name, {
    params: { mode, ...params },
    tools: COMMON_TOOLS,
    resultsDir: opts.resultsDir ?? process.env.LISPWG_RESULTS ?? resultsRoot(),
  });
  run.annotate({ script: description });
  say(`run ${run.id} -> ${run.dir}`);
  const rec = new Recorder(run, description, params, mode);
  recorders.push(rec);
  for (const l of opened) await rec.noteLab(l);
  return rec;
}
