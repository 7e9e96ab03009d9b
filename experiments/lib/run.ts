/**
 * One run of an experiment or benchmark, Flent-style: a self-describing folder
 * `results/<name>/<run-id>/` with metadata.json (machine, versions, parameters), samples.jsonl
 * (appended as each sample is taken, so an interrupted run keeps what it measured and can be
 * resumed) and summary.json. The run ends by printing its figures as one line of JSON.
 */
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { collectMetadata, type Metadata } from './metadata.js';
import { projectRoot } from '../../src/util/project.js';
import { LispwgError } from '../../src/util/errors.js';

export interface RunOptions {
  params?: Record<string, unknown>;
  /** the command that reproduces the run (`npm run exp:<name> -- --quick ...`), kept in metadata.json */
  command?: string;
  /** Tools whose versions go into the metadata: name -> command printing the version. */
  tools?: Record<string, string[]>;
  /** Where results go (default: <project>/results). */
  resultsDir?: string;
  quiet?: boolean;
  /**
   * Continue an interrupted run instead of starting a new one: a run id, or true for the newest
   * run of this name that has no summary.json and was started with the same parameters.
   */
  resume?: string | boolean;
}

export type RunMetadata = Metadata & { experiment: string; runId: string; command?: string; params: Record<string, unknown>; resumedAt?: string[]; [fact: string]: unknown };

export const resultsRoot = (): string => join(projectRoot(), 'results');

/** Reads a samples.jsonl; a last line cut short by an interruption is dropped. */
export function readSamples<T = Record<string, unknown>>(file: string): T[] {
  if (!existsSync(file)) return [];
  const out: T[] = [];
  const lines = readFileSync(file, 'utf8').split('\n');
  for (const [i, line] of lines.entries()) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line) as T);
    } catch (e) {
      if (i < lines.length - 2) throw new LispwgError('RESULTS_CORRUPT', `${file}:${i + 1} is not JSON: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  return out;
}

const sameParams = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

export class ExperimentRun {
  private readonly started = Date.now();

  private constructor(
    readonly name: string,
    readonly id: string,
    readonly dir: string,
    readonly metadata: RunMetadata,
    private readonly quiet: boolean,
    /** samples already on disk when the run was resumed */
    readonly previous: ReadonlyArray<Record<string, unknown>>,
  ) {}

  static async start(name: string, opts: RunOptions = {}): Promise<ExperimentRun> {
    const root = join(opts.resultsDir ?? resultsRoot(), name);
    const params = opts.params ?? {};
    if (opts.resume) {
      const dir = ExperimentRun.findResumable(root, params, opts.resume);
      const metadata = JSON.parse(readFileSync(join(dir, 'metadata.json'), 'utf8')) as RunMetadata;
      metadata.resumedAt = [...(metadata.resumedAt ?? []), new Date().toISOString()];
      writeFileSync(join(dir, 'metadata.json'), JSON.stringify(metadata, null, 2) + '\n');
      const previous = readSamples(join(dir, 'samples.jsonl'));
      return new ExperimentRun(name, metadata.runId, dir, metadata, opts.quiet ?? false, previous);
    }
    const id = new Date().toISOString().replace(/[:.]/g, '-').replace('Z', '');
    const dir = join(root, id);
    mkdirSync(dir, { recursive: true });
    const metadata: RunMetadata = { experiment: name, runId: id, ...(opts.command ? { command: opts.command } : {}), params, ...(await collectMetadata(opts.tools)) };
    writeFileSync(join(dir, 'metadata.json'), JSON.stringify(metadata, null, 2) + '\n');
    return new ExperimentRun(name, id, dir, metadata, opts.quiet ?? false, []);
  }

  /** The run folder to resume: the named one, or the newest unfinished one with these parameters. */
  private static findResumable(root: string, params: Record<string, unknown>, which: string | true): string {
    if (typeof which === 'string') {
      const dir = join(root, which);
      if (!existsSync(join(dir, 'metadata.json'))) throw new LispwgError('RUN_NOT_FOUND', `no run ${which} under ${root}`);
      if (existsSync(join(dir, 'summary.json'))) throw new LispwgError('RUN_FINISHED', `run ${which} is finished (it has a summary.json): start a new one`);
      return dir;
    }
    const ids = existsSync(root) ? readdirSync(root).sort().reverse() : [];
    for (const id of ids) {
      const dir = join(root, id);
      if (!existsSync(join(dir, 'metadata.json')) || existsSync(join(dir, 'summary.json'))) continue;
      const meta = JSON.parse(readFileSync(join(dir, 'metadata.json'), 'utf8')) as RunMetadata;
      if (sameParams(meta.params, params)) return dir;
    }
    throw new LispwgError('RUN_NOT_FOUND', `no unfinished run of ${root.split('/').pop()} with these parameters to resume under ${root}`);
  }

  /** Adds facts learnt during the run (the lab's backend, the WireGuard backend) to metadata.json. */
  annotate(fields: Record<string, unknown>): void {
    Object.assign(this.metadata, fields);
    writeFileSync(join(this.dir, 'metadata.json'), JSON.stringify(this.metadata, null, 2) + '\n');
  }

  /** Appends one raw sample (synchronously: it is on disk before the next one is taken). */
  sample(record: Record<string, unknown>): void {
    appendFileSync(join(this.dir, 'samples.jsonl'), JSON.stringify(record) + '\n');
  }

  /** Every sample of this run, those of the interrupted part included. */
  samples<T = Record<string, unknown>>(): T[] {
    return readSamples<T>(join(this.dir, 'samples.jsonl'));
  }

  /** A progress line: `[name] label 3/20, 12.0 s elapsed, ~68 s left`. */
  progress(done: number, total: number, label = ''): void {
    if (this.quiet) return;
    const elapsed = (Date.now() - this.started) / 1000;
    const left = done > 0 ? (elapsed / done) * (total - done) : NaN;
    process.stderr.write(
      `[${this.name}] ${label ? label + ' ' : ''}${done}/${total}, ${elapsed.toFixed(1)} s elapsed` +
        (Number.isFinite(left) ? `, ~${left.toFixed(0)} s left` : '') + '\n',
    );
  }

  /** Writes summary.json and prints the figures as the run's last line of JSON. */
  finish(figures: Record<string, unknown>): void {
    const summary = { experiment: this.name, runId: this.id, durationS: (Date.now() - this.started) / 1000, ...figures };
    writeFileSync(join(this.dir, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
    process.stdout.write(JSON.stringify(summary) + '\n');
  }
}
