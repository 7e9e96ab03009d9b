/**
 * `lispwg lab`: the test-bed's verbs, as containerlab's (deploy/destroy/inspect/graph) and
 * Mininet's pingall: up, down, inspect, exec, graph, check, plus list and validate.
 */
import { parseArgs } from 'node:util';
import { LispwgError } from '../src/util/errors.js';
import { destroyLab, type DownReport } from './down.js';
import { nodeDir } from './names.js';
import { CHECK_SAMPLE, Lab, type LabInspection } from './lab.js';
import { meshTopology, MESH_LIMITS } from './topology/mesh.js';
import { mkdir, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseDuration } from '../src/util/config-file.js';
import { startScrape } from './metrics.js';
import { listLabs, readState } from './state.js';
import { mermaid } from './topology/graph.js';
import { loadTopology } from './topology/load.js';
import { BACKENDS, type BackendKind } from './topology/schema.js';

const HELP = () => `usage: lispwg lab <verb> ...

  up FILE [--backend netns|docker] [--name NAME] [--no-daemons] [--oor PATH] [--scrape DIR [--scrape-interval 1s]]
                             bring a topology up (progress on stderr); Ctrl-C removes it again.
                             Every lispwg daemon serves Prometheus metrics on its control address,
                             port 9464; --scrape: each Map-Server reads its own and its sites' every
                             interval (default 1s) into DIR/metrics-<lab>-<ms>.jsonl until lab down
  down NAME                  remove everything of a lab (also after a crash)
  inspect NAME [--json]      nodes, daemon status, interfaces, addresses, processes, WireGuard peers
  exec NAME NODE -- CMD...   run a command in a node, print its output, exit with its code
  check NAME [--all]         ping the pairs of nodes that should reach each other (one line; a
                             sample of ${CHECK_SAMPLE} pairs in larger labs, every pair with --all)
  generate mesh --sites S --nodes-per-site N [--name NAME] [-o FILE]
                             write a mesh topology (the shape of topologies/mesh-50.yaml)
  graph FILE                 print the topology as a Mermaid flowchart
  validate FILE...           check topology files, change nothing
  list                       labs that are up (or crashed and not yet taken down)

--oor PATH: the Open Overlay Router binary that kind oor nodes run (else $LISPWG_OOR, else oor on
PATH; lispwg does not ship OOR).

Labs keep their state in /run/lispwg/labs/<name>/ (LISPWG_LAB_ROOT overrides); every namespace
and container of a lab is named lw.<name>.<node>. Topologies: topologies/*.yaml.`;

const usage = (msg: string): LispwgError => new LispwgError('USAGE', `${msg}\n\n${HELP()}`);
const out = (s: string) => process.stdout.write(s + '\n');
const err = (s: string) => process.stderr.write(s + '\n');

type Options = Record<string, { type: 'string' | 'boolean'; short?: string }>;

function parse(argv: string[], options: Options = {}): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  try {
    const r = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
    return { values: r.values as Record<string, string | boolean | undefined>, positionals: r.positionals };
  } catch (e) {
    throw usage((e as Error).message);
  }
}

export async function main(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  if (!verb || verb === '-h' || verb === '--help' || verb === 'help') {
    out(HELP());
    return verb ? 0 : 1;
  }
  switch (verb) {
    case 'up':
      return up(rest);
    case 'down':
      return down(rest);
    case 'inspect':
      return inspect(rest);
    case 'exec':
      return exec(rest);
    case 'check':
      return check(rest);
    case 'generate':
      return generate(rest);
    case 'graph':
    case 'validate':
      return graph(verb, rest);
    case 'list':
      return list();
    default:
      throw usage(`unknown verb '${verb}'`);
  }
}

function one(positionals: string[], what: string): string {
  if (positionals.length !== 1) throw usage(`expected ${what}`);
  return positionals[0]!;
}

async function up(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { backend: { type: 'string' }, name: { type: 'string' }, 'no-daemons': { type: 'boolean' }, oor: { type: 'string' }, scrape: { type: 'string' }, 'scrape-interval': { type: 'string' } });
  if (values.help) return (out(HELP()), 0);
  const file = one(positionals, 'a topology file: lispwg lab up FILE');
  const backend = values.backend as string | undefined;
  if (backend !== undefined && !BACKENDS.includes(backend as BackendKind)) throw usage(`--backend is one of ${BACKENDS.join(', ')}`);
  // kind oor finds its binary there (lab/kinds/oor.ts)
  if (typeof values.oor === 'string') process.env.LISPWG_OOR = values.oor;
  const model = await loadTopology(file);
  const name = (values.name as string | undefined) ?? model.name;
  const t0 = performance.now();
  let interrupted = false;
  // Ctrl-C reaches the ip/tc children too, so the running step fails and Lab.up removes the lab
  const onSigint = () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    err(`interrupted: removing lab ${name} (Ctrl-C again to quit at once)`);
  };
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigint);
  try {
    const lab = await Lab.up(model, {
      ...(backend ? { backend: backend as BackendKind } : {}),
      name,
      daemons: !values['no-daemons'],
      onProgress: (p) => err(p.done ? `[${p.done}/${p.total}] ${p.message}` : `${p.message}...`),
    });
    if (interrupted) {
      await lab.down();
      return 130;
    }
    if (typeof values.scrape === 'string') {
      if (values['no-daemons']) throw usage('--scrape reads the daemons: not with --no-daemons');
      const interval = values['scrape-interval'] === undefined ? 1000 : parseDuration(values['scrape-interval'] as string);
      if (typeof interval === 'string') throw usage(`--scrape-interval: ${interval}`);
      const intervalMs = interval;
      await mkdir(values.scrape, { recursive: true });
      const { files } = await startScrape(lab, { dir: resolve(values.scrape), intervalMs });
      err(`scraping metrics every ${intervalMs} ms into ${files.join(', ')}`);
    }
    const s = ((performance.now() - t0) / 1000).toFixed(1);
    out(`lab ${lab.name} up: ${model.nodes.length} nodes, ${model.links.length} links (${lab.backendKind}) in ${s} s; 'lispwg lab inspect ${lab.name}', 'lispwg lab down ${lab.name}'`);
    return 0;
  } catch (e) {
    if (interrupted) {
      await destroyLab(name);
      return 130;
    }
    throw e;
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
  }
}

export function downLine(r: DownReport): string {
  const parts = [`${r.namespaces.length} namespaces`, `${r.processes} processes`];
  if (r.containers.length) parts.push(`${r.containers.length} containers`);
  if (r.sockets.length) parts.push(`${r.sockets.length} WireGuard sockets`);
  return `lab ${r.lab} down: removed ${parts.join(', ')}${r.removedDir ? ' and its directory' : ''}${r.notes.length ? `\n  note: ${r.notes.join('\n  note: ')}` : ''}`;
}

async function down(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv);
  if (values.help) return (out(HELP()), 0);
  const r = await destroyLab(one(positionals, 'a lab name: lispwg lab down NAME'));
  out(downLine(r));
  return r.notes.length ? 1 : 0;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n');
}

export function renderInspection(x: LabInspection): string {
  const rows = [['NODE', 'KIND', 'STATUS', 'INTERFACES', 'PROCESSES', 'PEERS']];
  for (const n of x.nodes) {
    const ifs = n.interfaces.map((i) => `${i.name}${i.state === 'UP' || i.state === 'UNKNOWN' ? '' : `(${i.state.toLowerCase()})`}${i.addresses.length ? ' ' + i.addresses.join(' ') : ''}${i.qdisc ? ` [${i.qdisc}]` : ''}`).join(', ');
    const procs = n.processes.map((p) => `${p.name ?? p.cmd.split(' ')[0]?.split('/').pop()}:${p.pid}`).join(' ');
    const peers = n.peers.map((p) => `${p.publicKey.slice(0, 8)}… ${p.endpoint} ${p.allowedIps.join(',')}`).join('; ');
    rows.push([n.name, n.kind, n.status ?? '-', ifs || '-', procs || '-', peers || '-']);
  }
  return `lab ${x.name} (${x.backend}, ${x.phase} since ${x.createdAt}, ${x.dir})\n${table(rows)}`;
}

async function inspect(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { json: { type: 'boolean' } });
  if (values.help) return (out(HELP()), 0);
  const lab = await Lab.attach(one(positionals, 'a lab name: lispwg lab inspect NAME'));
  const x = await lab.inspect();
  out(values.json ? JSON.stringify(x, null, 2) : renderInspection(x));
  return 0;
}

async function exec(argv: string[]): Promise<number> {
  const dash = argv.indexOf('--');
  if (argv.includes('-h') && (dash < 0 || argv.indexOf('-h') < dash)) return (out(HELP()), 0);
  if (dash !== 2 || argv.length < 4) throw usage('expected: lispwg lab exec NAME NODE -- CMD...');
  const lab = await Lab.attach(argv[0]!);
  // `lispwg show` / `lispwg ms show` in the node find its daemon's admin socket through this
  const r = await lab.exec(argv[1]!, ['env', `LISPWG_RUN_DIR=${nodeDir(lab.name, argv[1]!)}`, ...argv.slice(3)], { allowFail: true });
  if (r.stdout) process.stdout.write(r.stdout + '\n');
  if (r.stderr) process.stderr.write(r.stderr + '\n');
  return r.exitCode < 0 ? 127 : r.exitCode;
}

async function check(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { all: { type: 'boolean' } });
  if (values.help) return (out(HELP()), 0);
  const lab = await Lab.attach(one(positionals, 'a lab name: lispwg lab check NAME'));
  const r = await lab.check({ all: values.all === true });
  out(r.line);
  return r.failures.length ? 1 : 0;
}

async function generate(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { sites: { type: 'string' }, 'nodes-per-site': { type: 'string' }, name: { type: 'string' }, output: { type: 'string', short: 'o' } });
  if (values.help) return (out(HELP()), 0);
  if (positionals[0] !== 'mesh' || positionals.length !== 1) throw usage('lispwg lab generate knows one shape: mesh');
  const count = (flag: 'sites' | 'nodes-per-site', max: number): number => {
    const v = Number(values[flag]);
    if (!Number.isInteger(v) || v < 1 || v > max) throw usage(`--${flag} wants a whole number from 1 to ${max}, not '${values[flag] ?? ''}'`);
    return v;
  };
  const sites = count('sites', MESH_LIMITS.sites);
  const perSite = count('nodes-per-site', MESH_LIMITS.perSite);
  const yaml = meshTopology({ sites, mns: sites * perSite, ...(typeof values.name === 'string' ? { name: values.name } : {}) }).toYaml();
  if (typeof values.output === 'string') {
    await writeFile(values.output, yaml);
    err(`wrote ${values.output}: ${sites} sites x ${perSite} mobile nodes, a core router and a Map-Server`);
  } else process.stdout.write(yaml);
  return 0;
}

async function graph(verb: string, argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv);
  if (values.help) return (out(HELP()), 0);
  if (verb === 'graph') {
    out(mermaid(await loadTopology(one(positionals, 'a topology file: lispwg lab graph FILE'))).trimEnd());
    return 0;
  }
  if (!positionals.length) throw usage('expected a topology file: lispwg lab validate FILE...');
  let bad = 0;
  for (const file of positionals) {
    try {
      const model = await loadTopology(file);
      out(`${file}: lab ${model.name} is valid: ${model.nodes.length} nodes, ${model.links.length} links`);
    } catch (e) {
      if (!(e instanceof LispwgError)) throw e;
      err(e.message);
      bad++;
    }
  }
  return bad ? 1 : 0;
}

async function list(): Promise<number> {
  const labs = await listLabs();
  if (!labs.length) return (out('no labs'), 0);
  const rows = [['LAB', 'BACKEND', 'PHASE', 'NODES', 'SINCE']];
  for (const name of labs) {
    const s = await readState(name).catch(() => undefined);
    rows.push([name, s?.backend ?? '?', s?.phase ?? 'no state', String(s?.namespaces.length ?? '?'), s?.createdAt ?? '?']);
  }
  out(table(rows));
  return 0;
}
