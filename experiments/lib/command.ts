/**
 * The command that reproduces a run: `npm run exp:<name> -- --<mode> --key=value ...`. A run
 * records it in metadata.json (`command`: the options it was given, normalised, without
 * --results and --resume). For runs from before that, it is rebuilt from the recorded mode and
 * parameters: the options that the experiment's own `params()` turns into the recorded values,
 * checked by calling `params()` on them.
 */
import type { Experiment, Mode, Sample } from './experiment.js';

/** Options of the driver, not of the experiment: they change where a run goes, not what it measures. */
export const PLACE_OPTIONS: ReadonlySet<string> = new Set(['results', 'resume']);

/** The option names an experiment declares (`--reps=N  ...` -> reps), in its order. */
export function optionNames(exp: Pick<Experiment<Sample, object>, 'options'>): string[] {
  return exp.options.map((o) => /^--([a-z][a-z-]*)/.exec(o)?.[1]).filter((n): n is string => n !== undefined);
}

/** A shell word: as is when safe, else single-quoted. */
const word = (s: string): string => (/^[\w,.:=/+@%-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

/** `npm run exp:<name> -- --<mode> --k=v ...`, the options in the experiment's order. */
export function commandLine(exp: Pick<Experiment<Sample, object>, 'name' | 'options'>, mode: Mode, overrides: Record<string, string>): string {
  const order = optionNames(exp);
  const keys = Object.keys(overrides).filter((k) => !PLACE_OPTIONS.has(k)).sort((a, b) => order.indexOf(a) - order.indexOf(b));
  return ['npm', 'run', `exp:${exp.name}`, '--', `--${mode}`, ...keys.map((k) => word(`--${k}=${overrides[k]}`))].join(' ');
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/** The option values that could give a recorded parameter: a list as a,b,c; {variant, ms} as variant:ms. */
function candidates(v: unknown): string[] {
  if (Array.isArray(v)) return [v.join(',')];
  if (v && typeof v === 'object') return [Object.values(v).join(':')];
  return v === undefined ? [] : [String(v)];
}

export interface RebuiltCommand {
  command: string;
  /** recorded parameters that no option of the current code gives exactly (fixed in code, or recorded in an older form) */
  unset: string[];
}

/** Rebuilds the command of a run that did not record one, from its mode and parameters. */
export function rebuildCommand(exp: Experiment<Sample, object>, mode: Mode, recorded: Record<string, unknown>): RebuiltCommand {
  const target = Object.fromEntries(Object.entries(recorded).filter(([k]) => k !== 'mode'));
  const paramsOf = (o: Record<string, string>): Record<string, unknown> | undefined => {
    try {
      return exp.params(mode, o) as Record<string, unknown>;
    } catch {
      return undefined;
    }
  };
  const names = optionNames(exp);
  const chosen: Record<string, string> = {};
  let now = paramsOf({}) ?? {};
  for (const key of Object.keys(target)) {
    if (same(now[key], target[key])) continue;
    const matched = Object.keys(target).filter((k) => same(now[k], target[k]));
    search: for (const value of candidates(target[key])) {
      for (const name of names) {
        if (name in chosen) continue;
        const p = paramsOf({ ...chosen, [name]: value });
        if (p && same(p[key], target[key]) && matched.every((k) => same(p[k], target[k]))) {
          chosen[name] = value;
          now = p;
          break search;
        }
      }
    }
  }
  return { command: commandLine(exp, mode, chosen), unset: Object.keys(target).filter((k) => !same(now[k], target[k])) };
}

/** The command of a saved run: the one it recorded, else rebuilt. */
export function runCommand(exp: Experiment<Sample, object>, metadata: { params: Record<string, unknown>; command?: unknown }): RebuiltCommand & { recorded: boolean } {
  if (typeof metadata.command === 'string') return { command: metadata.command, unset: [], recorded: true };
  const mode: Mode = metadata.params.mode === 'full' ? 'full' : 'quick';
  return { ...rebuildCommand(exp, mode, metadata.params), recorded: false };
}
