/**
 * One run of an experiment or benchmark, Flent-style: a self-describing folder
 * `results/<name>/<run-id>/` with metadata.json (machine, versions, parameters), samples.jsonl
 * (appended as each sample is taken, so an interrupted run keeps what it measured) and
 * summary.json. The run ends by printing its figures as one line of JSON.
 */
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { collectMetadata, type Metadata } from './metadata.js';
import { projectRoot } from '../../src/util/project.js';

export interface RunOptions {
  params?: Record<string, unknown>;
  /** Tools whose versions go into the metadata: name -> command printing the version. */
  tools?: Record<string, string[]>;
  /** Where results go (default: <project>/results). */
  resultsDir?: string;
  quiet?: boolean;
}

export class ExperimentRun {
  private readonly started = Date.now();

  private constructor(
    readonly name: string,
    readonly id: string,
    readonly dir: string,
    readonly metadata: Metadata & { experiment: string; runId: string; params: Record<string, unknown> },
    private readonly quiet: boolean,
  ) {}

  static async start(name: string, opts: RunOptions = {}): Promise<ExperimentRun> {
    const id = new Date().toISOString().replace(/[:.]/g, '-').replace('Z', '');
    const dir = join(opts.resultsDir ?? join(projectRoot(), 'results'), name, id);
    mkdirSync(dir, { recursive: true });
    const metadata = { experiment: name, runId: id, params: opts.params ?? {}, ...(await collectMetadata(opts.tools)) };
    writeFileSync(join(dir, 'metadata.json'), JSON.stringify(metadata, null, 2) + '\n');
    return new ExperimentRun(name, id, dir, metadata, opts.quiet ?? false);
  }

  /** Appends one raw sample (synchronously: it is on disk before the next one is taken). */
  sample(record: Record<string, unknown>): void {
    appendFileSync(join(this.dir, 'samples.jsonl'), JSON.stringify(record) + '\n');
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
