/**
 * `npm run report [-- --results DIR] [--no-browser]`: one HTML page (results/index.html) with an
 * overview of the paper's comparisons (LISP+WG beside OOR+WG, plain LISP beside OOR, ours / paper),
 * every experiment's figure with its samples, metadata, summary and the command that reproduces
 * it, the same-run ratios, the gates, and what differs from the paper's set-up and why. Built from
 * saved runs only; self-contained apart from the files it links, no script, no network. Then,
 * where Chromium is installed, the page is checked in it (lib/browser-check.ts) and the overview
 * saved as results/overview.png. After the paper's experiments, the newest finished run of each
 * researcher's script (experiments/lib/script.ts).
 */
import { writeFileSync } from 'node:fs';
import { scrapeFiles } from './lib/scrape-figure.js';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LispwgError } from '../src/util/errors.js';
import { checkReport, chromiumPath, CHROMIUM, CHROMIUM_MISSING, type ReportCheck } from './lib/browser-check.js';
import { runCommand } from './lib/command.js';
import { parseOptions, type Comparison } from './lib/experiment.js';
import type { GateResult } from './lib/gates.js';
import { headlineRows, type HeadlineRow, type HeadlineSummary } from './lib/headline.js';
import { latestFinished, listRuns, type SavedRun } from './lib/results.js';
import { resultsRoot } from './lib/run.js';
import type { Summary } from './lib/stats.js';
import { scriptOf } from './lib/script-experiment.js';
import { experimentOf, experiments, scriptExperiments, type AnyExperiment } from './registry.js';

/** What differs from the paper's set-up, and why (shown at the top of the report). */
const DIFFERENCES: ReadonlyArray<[string, string]> = [
  ['WireGuard in userspace (wireguard-go) instead of the kernel module',
    'This machine\'s kernel has no WireGuard module and loads none. wireguard-go is configured through its UAPI socket; every packet crosses the user/kernel boundary, which the paper\'s kernel WireGuard avoided. This costs most in throughput (Fig. 11), where the paper\'s point was precisely that OOR+WG stays in the kernel.'],
  ['Network namespaces on one machine instead of three servers on a Gigabit LAN',
    'Every node is a Linux network namespace; links are veth pairs through a bridge, shaped to 1 Gb/s with tbf where a rate matters. Sender, receiver, both tunnel ends and the Map-Server share the same 2 cores, so CPU-bound results (throughput) are lower than on the paper\'s 24-core Xeons and all results are noisier: every gate and ratio compares variants measured in the same run.'],
  ['Emulated access points instead of two Wi-Fi APs',
    'The kernel has no mac80211_hwsim. An access point is a namespace with a bridge and the gateway of its own subnet; a handover takes the mobile node\'s link in one AP down and its second interface up in the other (a new RLOC). There is no scanning or radio association, so absolute outages are shorter than over Wi-Fi; the difference between the variants is what is compared.'],
  ['No netem',
    'The kernel has no sch_netem: links have no added delay or loss. The paper\'s LAN had negligible delay too.'],
  ['Our Map-Server, agent and plain-LISP data plane instead of OOR',
    'lispwg is a new implementation (TypeScript, Node 20) of the paper\'s design. The plain LISP baseline keeps OOR\'s behaviour (userspace encapsulation, no key, drop while resolving, a Map-Server that pushes nothing); real OOR 1.3 numbers measured on this machine are listed beside the paper\'s where we have them.'],
  ['A second control round trip for LISP+WG',
    'lispwg\'s Map-Server pushes the requester\'s key to the destination and answers the requester once the destination has acknowledged it, so that the first WireGuard handshake never meets an unknown key (WireGuard would drop it and retry only after 5 s). OOR pays no such round trip. On this machine a control round trip after an idle moment costs about 2 ms (four wireguard-go crossings and two processes waking up), so LISP+WG\'s cache-add is about 2-3x plain LISP\'s here against 1.25x in the paper, whose OOR spent 13 ms on its own work. cache-add therefore also shows plain LISP on lispwg\'s control plane (pushes included): against it, the difference is what WireGuard itself adds, and the CI gate compares with it.'],
  ['Quick mode',
    'The committed reference run is the quick mode (CI: minutes): fewer repetitions and sizes than the paper. `--full` runs the paper\'s repetitions, durations and sizes (ms-response up to 1 000 000 entries): on this machine 21 min for all but throughput, and 51 min for throughput (12 rates, 4 variants, 60 s each).'],
];

const esc = (s: unknown): string => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const num = (x: unknown): string => (typeof x === 'number' && Number.isFinite(x) ? String(Number(x.toPrecision(4))) : x === null || x === undefined ? '—' : esc(x));

export interface ReportEntry {
  experiment: AnyExperiment;
  run?: SavedRun;
}

function statsTable(s: Record<string, Summary>, unit: string, labels: Record<string, string>): string {
  const rows = Object.entries(s).map(([v, st]) => `<tr><td>${esc(labels[v] ?? v)}</td><td>${st.n}</td><td>${num(st.median)}</td><td>${num(st.p90)}</td><td>${num(st.p99)}</td><td>${num(st.mean)}</td><td>${num(st.min)}</td><td>${num(st.max)}</td></tr>`);
  return `<table><thead><tr><th>variant</th><th>n</th><th>median</th><th>p90</th><th>p99</th><th>mean</th><th>min</th><th>max</th></tr></thead><tbody>${rows.join('')}</tbody></table><p class="unit">all in ${esc(unit)}</p>`;
}

function paperTable(rows: readonly Comparison[], labels: Record<string, string>): string {
  if (!rows.length) return '<p>The paper gives no number for this figure.</p>';
  const body = rows.map((c) => `<tr><td>${esc(c.metric)}</td><td>${esc(labels[c.variant] ?? c.variant)}</td><td class="ours">${num(c.ours)}</td><td>${num(c.paper)}</td><td>${esc(c.unit)}</td><td>${c.ratio === null ? '—' : num(c.ratio)}</td><td class="src">${esc(c.source)}${c.note ? ` (${esc(c.note)})` : ''}</td></tr>`);
  return `<table><thead><tr><th>metric</th><th>variant</th><th>ours</th><th>paper</th><th>unit</th><th>ours / paper</th><th>source</th></tr></thead><tbody>${body.join('')}</tbody></table>`;
}

/** The WireGuard backend of each lab of a run (one string in older runs). */
function wgBackends(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object') return Object.entries(v as Record<string, string>).map(([lab, b]) => `${b} (${lab})`).join('; ');
  return '—';
}

function metadataBlock(run: SavedRun): string {
  const m = run.metadata;
  const rows: Array<[string, unknown]> = [
    ['run', `${run.experiment}/${run.runId}`],
    ['command', m.command ?? '— (not recorded: runs before the command was kept)'],
    ['mode', m.params.mode],
    ['parameters', JSON.stringify(Object.fromEntries(Object.entries(m.params).filter(([k]) => k !== 'mode')))],
    ['started', m.startedAt],
    ['duration', run.summary?.durationS !== undefined ? `${num(run.summary.durationS)} s` : '—'],
    ['machine', `${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB`],
    ['kernel / OS', `${m.kernel} / ${m.os}`],
    ['backends', `lab: ${String(m.labBackend ?? '—')}; WireGuard: ${wgBackends(m.wireguardBackend)}`],
    ...(m.labs ? [['labs', (m.labs as string[]).join(', ')] as [string, unknown]] : []),
    ...(m.oor ? [['OOR', m.oor] as [string, unknown]] : []),
    ['software', `lispwg ${m.lispwg}${m.gitCommit ? ` (${m.gitCommit})` : ''}, Node ${m.node}`],
    ['tools', Object.entries(m.tools).map(([k, v]) => `${k}: ${v}`).join('; ') || '—'],
    ...(m.resumedAt?.length ? [['resumed at', m.resumedAt.join(', ')] as [string, unknown]] : []),
  ];
  return `<details><summary>run metadata</summary><table class="meta">${rows.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join('')}</table></details>`;
}

function section(e: ReportEntry, outDir: string): string {
  const x = e.experiment;
  const script = e.run ? scriptOf(e.run.metadata) : undefined;
  const head = `<h2 id="${esc(x.name)}">${esc(x.title)} <span class="name">${esc(x.name)}</span></h2>` + (script ? `<p class="repro">A script of its own: <code>${esc(script.file)}</code>.</p>` : `<p class="repro">Reproduces ${esc(x.reproduces)}.</p>`);
  if (!e.run?.summary) {
    return `<section class="missing">${head}<p><strong>Not run yet</strong>: no finished run under results/${esc(x.name)}/. Run <code>npm run exp:${esc(x.name)}</code>.</p></section>`;
  }
  const s = e.run.summary as Record<string, unknown> & { metric: string; unit: string; variants: Record<string, Summary>; ratios: Record<string, number>; paper: Comparison[]; notes: string[]; figure: { svg: string; png: string; spec: string } };
  const rel = (f: string): string => relative(outDir, join(e.run!.dir, f)).split('\\').join('/');
  const ratios = Object.entries(s.ratios ?? {});
  const link = (f: string, text = f): string => `<a href="${esc(rel(f))}">${esc(text)}</a>`;
  const scraped = scrapeFiles(e.run.dir);
  const mf = (s as { figure: { metrics?: { svg: string; png: string; spec: string } } }).figure.metrics;
  // a script is run again as it was: its file, with the parameters it recorded as flags
  const scriptArgs = script ? Object.entries(e.run.metadata.params).filter(([k]) => k !== 'mode').map(([k, v]) => ` --${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join('') : '';
  const cmd = script ? { command: `npx zx ${script.file}${scriptArgs}`, recorded: true, unset: [] as string[] } : runCommand(x, e.run.metadata);
  const how = script
    ? "the script's file and the parameters it recorded"
    : cmd.recorded
    ? 'as recorded in metadata.json'
    : `rebuilt from the recorded mode and parameters${cmd.unset.length ? `; today's options do not give exactly ${cmd.unset.map((k) => `${k}=${JSON.stringify(e.run!.metadata.params[k])}`).join(', ')} (the run's code: commit ${e.run.metadata.gitCommit ?? 'unknown'})` : ''}`;
  return `<section>${head}
<p class="method">${esc(x.method)}</p>
<figure><img src="${esc(rel(s.figure.svg))}" alt="${esc(x.title)}"><figcaption>${esc(x.title)}. Run ${esc(e.run.runId)}: ${link('samples.jsonl')} (raw samples), ${link('metadata.json')}, ${link('summary.json')}${scraped.length ? `; the daemons' counters over time (lab metrics scrape): ${scraped.map((f) => link(f)).join(', ')}` : ''}; figure as ${link(s.figure.png, 'PNG')}, ${link(s.figure.spec, 'vega-lite spec')}.
<span class="cmd">Reproduce: <code>${esc(cmd.command)}</code> <span class="how">(${esc(how)})</span></span></figcaption></figure>
${mf ? `<figure><img src="${esc(rel(mf.svg))}" alt="the daemons over the run"><figcaption>The daemons' CPU and memory over the run, from the lab's metrics scrape (${scraped.map((f) => link(f)).join(', ')}) of the run with ${link('samples.jsonl')}, ${link('metadata.json')}, ${link('summary.json')}; figure as ${link(mf.png, 'PNG')}, ${link(mf.spec, 'vega-lite spec')}.</figcaption></figure>\n` : ''}${script ? '' : `<h3>Ours beside the paper's</h3>${paperTable(s.paper ?? [], x.labels)}`}
<h3>${esc(s.metric)}</h3>${statsTable(s.variants ?? {}, s.unit, x.labels)}
${ratios.length ? `<h3>Ratios between variants (same run)</h3><ul>${ratios.map(([k, r]) => `<li>${esc(k)}: <strong>${num(r)}</strong></li>`).join('')}</ul>` : ''}
${s.notes?.length ? `<h3>Notes</h3><ul>${s.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>` : ''}
${metadataBlock(e.run)}
</section>`;
}

const ROLE: Record<HeadlineRow['role'], string> = { 'lisp-wg': 'LISP+WG', lisp: 'plain LISP', oor: 'real OOR', claim: 'claim' };

/** One experiment's rows of the overview: its headline (lib/headline.ts), the experiment named once. */
function overviewRows(e: ReportEntry): string {
  const x = e.experiment;
  const name = `<a href="#${esc(x.name)}">${esc(x.name)}</a><span class="repro">${esc(x.reproduces)}</span>`;
  if (!e.run?.summary) return `<tbody><tr><td class="exp">${name}</td><td colspan="4"><em>not run yet</em>: <code>npm run exp:${esc(x.name)}</code></td></tr></tbody>`;
  const summary = e.run.summary as unknown as HeadlineSummary & { metric?: string };
  const rows = headlineRows(x, summary);
  const metric = `<span class="metric">${esc(x.headline.metric ?? summary.metric ?? '')}</span>`;
  const said = new Set<string>(); // a reason shared by several rows is given once
  const body = rows.map((r, i) => {
    const notes = r.notes.filter((n) => !said.has(n) && said.add(n));
    const ours = r.ours === null ? '<span class="none">—</span>' : `<strong>${num(r.ours)}</strong> ${esc(r.unit)}${r.stat ? ` <span class="stat">${esc(r.stat)}</span>` : ''}`;
    const paper = r.paper === null ? '<span class="none">no number</span>' : `${r.paperLabel ? `${esc(r.paperLabel)} ` : ''}<strong>${num(r.paper)}</strong> ${esc(r.unit)}`;
    return `<tr>${i === 0 ? `<td class="exp" rowspan="${rows.length}">${name}${metric}</td>` : ''}<td><span class="role ${r.role}">${ROLE[r.role]}</span>${esc(r.label)}${notes.length ? `<span class="note">${esc(notes.join('; '))}</span>` : ''}</td><td class="n">${ours}</td><td class="n"${r.source ? ` title="${esc(r.source)}"` : ''}>${paper}</td><td class="n">${r.ratio === null ? '<span class="none">—</span>' : `<strong>${num(r.ratio)}</strong>`}</td></tr>`;
  });
  return `<tbody>${body.join('')}</tbody>`;
}

function gatesBlock(gates: { runId: string; results: GateResult[] } | undefined): string {
  if (!gates) return '<p>No gates run yet (<code>npm run gates</code>).</p>';
  const pass = gates.results.every((g) => g.pass);
  return `<p>Run ${esc(gates.runId)}: <strong class="${pass ? 'pass' : 'fail'}">${pass ? 'all gates pass' : 'some gates FAIL'}</strong></p><table><thead><tr><th>gate</th><th>result</th><th>measured</th></tr></thead><tbody>${gates.results
    .map((g) => `<tr><td>${esc(g.gate)}</td><td class="${g.pass ? 'pass' : 'fail'}">${g.pass ? 'pass' : 'FAIL'}</td><td>${esc(g.measured)}</td></tr>`)
    .join('')}</tbody></table>`;
}

/** The page, from the chosen runs (pure: no file access). */
function renderReport(entries: readonly ReportEntry[], outDir: string, gates?: { runId: string; results: GateResult[] }, generatedAt = new Date().toISOString()): string {
  const overview = entries.map(overviewRows).join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">
<title>lispwg: reproducing "A Control Plane for WireGuard"</title>
<style>
body{font-family:"DejaVu Sans",system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em}h2{border-top:1px solid #ccc;padding-top:1em}h2 .name{font-size:.6em;color:#777;font-family:monospace}
table{border-collapse:collapse;margin:.5em 0;font-size:.9em}th,td{border:1px solid #ddd;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.ours{font-weight:bold}td.src{color:#555;font-size:.9em}.unit{color:#666;font-size:.85em;margin:0}
figure{margin:1em 0}figure img{max-width:100%;height:auto;border:1px solid #eee}figcaption{font-size:.85em;color:#555}
.pass{color:#080}.fail{color:#b00}section.missing{color:#777}table.meta th{width:9em}code{background:#f4f4f4;padding:0 .2em}
figcaption .cmd{display:block;margin-top:.3em;color:#222}figcaption .how{color:#777}
.lead{color:#444;font-size:.92em}
table.overview{width:100%;font-size:.86em}table.overview tbody{border-top:2px solid #bbb}
table.overview td.exp{width:11em;background:#fafafa}table.overview td.exp a{font-weight:bold;font-family:monospace;font-size:1.1em}
table.overview .repro,table.overview .metric{display:block;color:#666;font-size:.88em}table.overview .metric{font-style:italic}
table.overview th.n,table.overview td.n{text-align:right;white-space:nowrap}
.role{display:inline-block;min-width:5.6em;font-weight:bold;font-size:.85em;color:#fff;background:#567;border-radius:3px;padding:0 .3em;margin-right:.3em;text-align:center}
.role.lisp-wg{background:#1f6f43}.role.lisp{background:#8a5a00}.role.oor{background:#6b3fa0}.role.claim{background:#777}
.note{display:block;color:#666;font-size:.9em}.none{color:#999}.stat{color:#777;font-size:.9em}
</style></head><body>
<h1>lispwg: reproducing <em>A Control Plane for WireGuard</em> (ICCCN 2021)</h1>
<p>Every figure of the paper and thesis, measured by this repository's experiments, with the paper's numbers beside ours. Generated ${esc(generatedAt)} from the saved runs under <code>results/</code> (<code>npm run report</code>; figures re-rendered from samples by <code>npm run figures</code>).</p>
<section id="overview"><h2>Overview: the paper's comparisons</h2>
<p class="lead">For each experiment: our LISP+WG beside the paper's OOR+WG, and plain LISP (lispwg set up as OOR; the real OOR when it ran) beside the paper's OOR, with ours / paper; then the paper's other claims for that figure. Our statistic is the one the paper reports.</p>
<table class="overview"><thead><tr><th>experiment, metric</th><th>our variant</th><th class="n">ours</th><th class="n">paper</th><th class="n">ours / paper</th></tr></thead>${overview}</table></section>
<h2 id="gates">CI performance gates</h2>${gatesBlock(gates)}
<h2 id="differences">What differs from the paper's set-up, and why</h2>
<dl>${DIFFERENCES.map(([k, v]) => `<dt><strong>${esc(k)}</strong></dt><dd>${esc(v)}</dd>`).join('')}</dl>
${entries.map((e) => section(e, outDir)).join('\n')}
</body></html>
`;
}

/** Writes <resultsDir>/index.html from the newest finished run of every experiment, and of every script that finished one. */
export function buildReport(resultsDir: string): { file: string; included: string[]; missing: string[]; figures: number } {
  const entries: ReportEntry[] = experiments.map((experiment) => {
    const run = latestFinished(resultsDir, experiment.name);
    return { experiment, ...(run ? { run } : {}) };
  });
  for (const { name } of scriptExperiments(resultsDir)) {
    const run = listRuns(resultsDir, name).filter((r) => r.summary && scriptOf(r.metadata)).pop();
    if (run) entries.push({ experiment: experimentOf(run)!, run });
  }
  const g = latestFinished(resultsDir, 'gates');
  const gates = g?.summary ? { runId: g.runId, results: (g.summary.gates as GateResult[]) ?? [] } : undefined;
  const file = join(resultsDir, 'index.html');
  writeFileSync(file, renderReport(entries, resultsDir, gates));
  const figures = entries.filter((e) => e.run).length + entries.filter((e) => (e.run?.summary as { figure?: { metrics?: unknown } } | undefined)?.figure?.metrics).length;
  return { file, included: entries.filter((e) => e.run).map((e) => e.experiment.name), missing: entries.filter((e) => !e.run).map((e) => e.experiment.name), figures };
}

/** The files every figure links to. */
export const FIGURE_LINKS = ['samples.jsonl', 'metadata.json', 'summary.json'] as const;

/** Checks a built report in Chromium, the overview's screenshot written as <dir>/overview.png. */
export function checkBuiltReport(report: { file: string; included: string[]; figures?: number }, resultsDir: string, executablePath?: string): Promise<ReportCheck> {
  return checkReport(report.file, {
    ...(executablePath ? { executablePath } : {}),
    figures: report.figures ?? report.included.length,
    figureLinks: FIGURE_LINKS,
    screenshot: { file: join(resultsDir, 'overview.png'), until: 'overview' },
  });
}

const USAGE = `usage: npm run report [-- --results DIR] [--no-browser]
writes DIR/index.html (default results/index.html) from the newest finished run of every experiment,
then checks it in headless Chromium (${CHROMIUM}, or LISPWG_CHROMIUM) and saves the overview as DIR/overview.png
  --no-browser   write the page only
`;

export async function main(argv: string[]): Promise<number> {
  const { flags, values, rest } = parseOptions(argv);
  if (flags.has('help')) {
    process.stdout.write(USAGE);
    return 0;
  }
  for (const f of flags) if (f !== 'no-browser') throw new LispwgError('REPORT_OPTIONS', `unknown flag --${f} (see --help)`);
  for (const k of Object.keys(values)) if (k !== 'results') throw new LispwgError('REPORT_OPTIONS', `unknown option --${k} (see --help)`);
  if (rest.length) throw new LispwgError('REPORT_OPTIONS', `unexpected argument '${rest[0]}' (see --help)`);
  const dir = values.results ?? resultsRoot();
  const r = buildReport(dir);
  process.stderr.write(`report: ${r.file} (${r.included.length} experiments${r.missing.length ? `; not run yet: ${r.missing.join(', ')}` : ''})\n`);
  let browser: { checked: false; why: string } | { checked: true; problems: string[]; figures: number; links: number; screenshot?: string };
  const chromium = chromiumPath();
  if (flags.has('no-browser')) browser = { checked: false, why: '--no-browser' };
  else if (!chromium) {
    browser = { checked: false, why: CHROMIUM_MISSING };
    process.stderr.write(`report: ${CHROMIUM_MISSING}; the page was not checked in a browser and no overview.png was taken\n`);
  } else {
    const c = await checkBuiltReport(r, dir, chromium);
    browser = { checked: true, problems: c.problems, figures: c.figures.length, links: c.links, ...(c.screenshot ? { screenshot: c.screenshot } : {}) };
    if (c.problems.length) for (const p of c.problems) process.stderr.write(`report: in Chromium: ${p}\n`);
    else process.stderr.write(`report: checked in Chromium (${chromium}): ${c.figures.length} figures shown, ${c.links} links resolve, no console error or failed request; overview: ${c.screenshot ?? '-'}\n`);
  }
  process.stdout.write(JSON.stringify({ ...r, browser }) + '\n');
  return browser.checked && browser.problems.length ? 1 : 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2)).then((c) => (process.exitCode = c), (e: unknown) => {
    process.stderr.write(`report: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  });
}
