/**
 * `lispwg exp <name> [--quick | --full] ...` runs one experiment; `lispwg exp list` lists them;
 * `lispwg exp figures | report | gates | paper` are the npm scripts of the same names.
 * Also the compiled entry of `npm run exp:<name>` (node dist/experiments/cli.js <name>).
 */
import { fileURLToPath } from 'node:url';
import { LispwgError } from '../src/util/errors.js';
import { runExperiment } from './lib/driver.js';
import { experiments, findExperiment } from './registry.js';

function usage(): string {
  const w = Math.max(...experiments.map((e) => e.name.length), 8);
  return [
    'usage: lispwg exp <experiment> [--quick | --full] [--resume] [--key=value ...]',
    '       lispwg exp list | figures | report | gates | paper',
    '',
    ...experiments.map((e) => `  ${e.name.padEnd(w)}  ${e.title} (${e.reproduces})`),
    '',
    '  figures   re-render every saved run\'s figure from its samples',
    '  report    write results/index.html',
    '  gates     run the quick experiments and check the CI performance gates',
    '  paper     every experiment in quick mode, then the report',
    '',
    "run 'lispwg exp <experiment> --help' for its parameters",
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage() + '\n');
    return name ? 0 : 1;
  }
  if (name === 'list') {
    for (const e of experiments) process.stdout.write(`${e.name}\t${e.reproduces}\t${e.title}\n`);
    return 0;
  }
  if (name === 'figures') return (await import('./figures.js')).main(rest);
  if (name === 'report') return (await import('./report.js')).main(rest);
  if (name === 'gates') return (await import('./gates.js')).main(rest);
  if (name === 'paper') return (await import('./paper.js')).main(rest);
  const exp = findExperiment(name);
  if (!exp) throw new LispwgError('EXP_UNKNOWN', `no experiment '${name}'; known: ${experiments.map((e) => e.name).join(', ')}`);
  return runExperiment(exp, rest);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2)).then(
    (c) => (process.exitCode = c),
    (e: unknown) => {
      process.stderr.write(`lispwg exp: ${e instanceof LispwgError ? `${e.message} [${e.code}]` : e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
