/**
 * The one loader of lispwg's YAML files: the Map-Server config (src/ms/config.ts), the agent
 * config (src/xtr/config.ts) and lab topologies (lab/topology/load.ts). Each format gives a zod
 * schema (and, for one release, its deprecated spellings); the loader parses the YAML, applies the
 * deprecations with a warning each, checks the schema and reports every problem as
 *
 *     file:line:col: path: message
 *         fix: hint
 *
 * pointing at the key or value the problem is about.
 *
 * The conventions every file follows:
 * - keys are kebab-case (`association-delay`, `retry`, `key-id`);
 * - a duration is a number with its unit, one of `us`, `ms`, `s`, `m`, `h`: `500us`, `250ms`,
 *   `1.5s`, `10m`, `24h`. A bare number is refused (it says nothing of its unit), except where a
 *   deprecation names the unit it had.
 *
 * A format's old spellings are one table (`Deprecation[]`: a renamed key, or the unit a bare
 * number had). They are rewritten in the YAML document before the schema sees it, so the schema
 * knows only the new spelling, and each one warns with its file:line:col and the new spelling.
 * Dropping them after a release is deleting the table.
 */
import { relative } from 'node:path';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node as YamlNode } from 'yaml';
import { z } from 'zod';
import { LispwgError } from './errors.js';

// ---------------------------------------------------------------------------------------------
// Durations

export type DurationUnit = 'us' | 'ms' | 's' | 'm' | 'h';
const UNIT_MS: Record<DurationUnit, number> = { us: 1e-3, ms: 1, s: 1e3, m: 60e3, h: 3600e3 };
const DURATION = /^(\d+(?:\.\d+)?)\s*(us|ms|s|m|h)$/;

/** `250ms` -> 250, `150us` -> 0.15, `10m` -> 600000 (milliseconds), or a message saying what was expected. */
export function parseDuration(value: string | number): number | string {
  if (typeof value === 'number') return `write the duration with its unit, e.g. '${value}ms' or '${value}s'`;
  const m = DURATION.exec(value.trim());
  if (!m) return `'${value}' is not a duration (write a number with its unit: 500us, 250ms, 1.5s, 10m, 1h)`;
  return Number(m[1]) * UNIT_MS[m[2] as DurationUnit];
}

/** A zod duration field: text with a unit, to milliseconds. */
export const duration = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const ms = parseDuration(v);
  if (typeof ms === 'string') {
    ctx.addIssue({ code: 'custom', message: ms });
    return z.NEVER;
  }
  return ms;
});

/** Milliseconds as the shortest exact duration text: 600000 -> `10m`, 250 -> `250ms`. */
export function formatDuration(ms: number): string {
  for (const unit of ['h', 'm', 's', 'ms'] as const) if (ms >= UNIT_MS[unit] && Number.isInteger(ms / UNIT_MS[unit])) return `${ms / UNIT_MS[unit]}${unit}`;
  return ms === 0 ? '0s' : `${Math.round(ms * 1000)}us`;
}

/**
 * A duration field in milliseconds, bounded; `whole` asks for a whole number of that unit (a
 * record TTL travels in minutes).
 */
export function durationField(o: { max?: number; positive?: boolean; whole?: DurationUnit } = {}) {
  return duration.superRefine((ms, ctx) => {
    const fail = (message: string) => ctx.addIssue({ code: 'custom', message });
    if (o.positive && ms <= 0) fail('must be longer than 0');
    else if (o.max !== undefined && ms > o.max) fail(`must be at most ${formatDuration(o.max)}`);
    else if (o.whole && !Number.isInteger(ms / UNIT_MS[o.whole])) fail(`must be a whole number of ${{ us: 'microseconds', ms: 'milliseconds', s: 'seconds', m: 'minutes', h: 'hours' }[o.whole]} (${formatDuration(ms)})`);
  });
}

// ---------------------------------------------------------------------------------------------
// Problems and their rendering

export type Path = (string | number)[];

export interface ConfigProblem {
  path: Path;
  message: string;
  hint?: string;
  /** The problem is the key at the end of `path` itself (an unknown key), not its value. */
  atKey?: boolean;
}

/** A file that was refused; `problems` lists every reason found, the message renders them. */
export class ConfigError extends LispwgError {
  constructor(
    code: string,
    readonly problems: ConfigProblem[],
    text: string,
  ) {
    super(code, text);
  }
}

/** `links[2].endpoints[1]` */
export const pathText = (p: readonly PropertyKey[]): string =>
  p.reduce<string>((s, k) => (typeof k === 'number' ? `${s}[${k}]` : s ? `${s}.${String(k)}` : String(k)), '');

/** One problem a line: `<where>path: message`, then `    fix: hint`. */
export function formatProblems(problems: ConfigProblem[], where: (p: ConfigProblem) => string): string {
  return problems.map((p) => `${where(p)}${pathText(p.path) ? pathText(p.path) + ': ' : ''}${p.message}${p.hint ? `\n    fix: ${p.hint}` : ''}`).join('\n');
}

/**
 * The option nearest to `word` (edit distance with swaps, case-insensitive), when near enough to be
 * a typo; a camelCase or snake_case word whose kebab-case form is an option gets that.
 */
export function closest(word: string, options: readonly string[]): string | undefined {
  const kebab = word.replace(/([a-z0-9])([A-Z])/g, '$1-$2').replace(/_/g, '-').toLowerCase();
  if (kebab !== word && options.includes(kebab)) return kebab;
  const d = (a: string, b: string): number => {
    const dp = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
    for (let j = 1; j <= b.length; j++) dp[0]![j] = j;
    for (let i = 1; i <= a.length; i++)
      for (let j = 1; j <= b.length; j++) {
        dp[i]![j] = Math.min(dp[i - 1]![j]! + 1, dp[i]![j - 1]! + 1, dp[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
        // two letters swapped is one typo
        if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) dp[i]![j] = Math.min(dp[i]![j]!, dp[i - 2]![j - 2]! + 1);
      }
    return dp[a.length]![b.length]!;
  };
  const best = options.map((o) => [o, d(word.toLowerCase(), o.toLowerCase())] as const).sort((x, y) => x[1] - y[1])[0];
  return best && best[1] <= Math.max(1, Math.floor(word.length / 3)) ? best[0] : undefined;
}

// ---------------------------------------------------------------------------------------------
// zod issues in the user's words

type Schema = z.core.$ZodType;

/** The keys a map at `path` accepts, found by walking the schema along the input. */
export function keysAt(schema: Schema, path: readonly PropertyKey[], input: unknown): string[] {
  const defOf = (s: Schema) => s._zod.def as unknown as Record<string, unknown> & { type: string };
  const walk = (s: Schema, rest: readonly PropertyKey[], value: unknown): string[] => {
    const def = defOf(s);
    const next = (k: PropertyKey) => (value && typeof value === 'object' ? (value as Record<PropertyKey, unknown>)[k] : undefined);
    switch (def.type) {
      case 'optional':
      case 'nullable':
      case 'default':
      case 'prefault':
      case 'readonly':
      case 'catch':
      case 'nonoptional':
        return walk(def.innerType as Schema, rest, value);
      case 'pipe': {
        // a preprocess or transform: its object side is the schema with keys
        const inner = defOf(def.in as Schema).type === 'transform' ? (def.out as Schema) : (def.in as Schema);
        return walk(inner, rest, value);
      }
      case 'lazy':
        return walk((def.getter as () => Schema)(), rest, value);
      case 'object': {
        const shape = def.shape as Record<string, Schema>;
        if (!rest.length) return Object.keys(shape);
        const child = shape[String(rest[0])];
        return child ? walk(child, rest.slice(1), next(rest[0]!)) : [];
      }
      case 'record':
        return rest.length ? walk(def.valueType as Schema, rest.slice(1), next(rest[0]!)) : [];
      case 'array':
        return rest.length ? walk(def.element as Schema, rest.slice(1), next(rest[0]!)) : [];
      case 'union': {
        const options = def.options as Schema[];
        const disc = def.discriminator as string | undefined;
        const tag = disc && value && typeof value === 'object' ? (value as Record<string, unknown>)[disc] : undefined;
        const matching = disc
          ? options.filter((o) => {
              const shape = defOf(o).shape as Record<string, Schema> | undefined;
              const lit = shape?.[disc] ? defOf(shape[disc]!) : undefined;
              return lit?.type === 'literal' && (lit.values as unknown[]).includes(tag);
            })
          : [];
        const keys = (matching.length ? matching : options).flatMap((o) => walk(o, rest, value));
        return [...new Set(keys)];
      }
      default:
        return [];
    }
  };
  return walk(schema, path, input);
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = input;
  for (const k of path) v = v && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[k] : undefined;
  return v;
}

const typeName = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v === 'object' ? 'a map' : `${typeof v} ${JSON.stringify(v)}`);

/** A zod issue as problems: an unknown key names the key and the nearest accepted one. */
export function issueProblems(issue: z.core.$ZodIssue, input: unknown, schema: Schema): ConfigProblem[] {
  const path = issue.path.filter((k): k is string | number => typeof k !== 'symbol');
  const value = valueAt(input, path);
  if (issue.code === 'unrecognized_keys') {
    const accepted = keysAt(schema, path, input);
    return issue.keys.map((key) => {
      const guess = closest(key, accepted);
      return {
        path: [...path, key],
        message: `unknown key '${key}'`,
        hint: guess ? `did you mean '${guess}'?` : accepted.length ? `accepted here: ${accepted.join(', ')}` : 'remove it, or check its spelling and indentation',
        atKey: true,
      };
    });
  }
  const parent = valueAt(input, path.slice(0, -1));
  // missing from a map (not from a value a preprocess turned into one: `- 198.18.1.0/24` is { prefix })
  if (value === undefined && path.length && parent !== null && typeof parent === 'object') {
    const key = String(path[path.length - 1]);
    return [{ path: path.slice(0, -1), message: `missing '${key}'`, hint: `add '${key}: ${issue.code === 'invalid_type' ? `<${issue.expected}>` : '...'}'` }];
  }
  if (issue.code === 'invalid_type') {
    const expected = issue.expected === 'tuple' ? 'a list' : issue.expected === 'record' ? 'a map' : issue.expected === 'object' ? 'a map' : `a ${issue.expected}`;
    return [{ path, message: `expected ${expected}, got ${typeName(value)}` }];
  }
  if (issue.code === 'invalid_union' && issue.errors.length) {
    // a duration and the like: say what the string branch said
    const custom = issue.errors.flat().find((e) => e.code === 'custom');
    if (custom) return [{ path, message: custom.message }];
  }
  if (issue.code === 'invalid_value') {
    const options = issue.values.map((v) => (typeof v === 'string' ? v : JSON.stringify(v)));
    const guess = typeof value === 'string' ? closest(value, options) : undefined;
    return [{ path, message: `${JSON.stringify(value)} is not allowed (expected ${options.length > 1 ? 'one of ' : ''}${options.join(', ')})`, ...(guess ? { hint: `did you mean '${guess}'?` } : {}) }];
  }
  return [{ path, message: issue.message }];
}

// ---------------------------------------------------------------------------------------------
// Deprecated spellings (accepted for one release, with a warning)

/**
 * An old spelling: `path` is dotted, `*` for any key of a map or any item of a list
 * (`nodes.*.associationDelay`). `rename` gives the new key; `unit` the unit a bare number had,
 * which becomes `<number><unit>`.
 */
export interface Deprecation {
  path: string;
  rename?: string;
  unit?: DurationUnit;
}

export interface ConfigWarning {
  file: string;
  line: number;
  col: number;
  /** `file:line:col: path: ... is deprecated: write ...` */
  message: string;
}

const matches = (pattern: string[], path: Path): boolean => pattern.length === path.length && pattern.every((p, i) => p === '*' || p === String(path[i]));

/** Rewrites the deprecated spellings in `doc` in place (positions kept); returns what it did, and clashes. */
function applyDeprecations(doc: Document, deprecations: readonly Deprecation[]): { done: Array<{ offset: number; text: string }>; problems: ConfigProblem[] } {
  const done: Array<{ offset: number; text: string }> = [];
  const problems: ConfigProblem[] = [];
  const patterns = deprecations.map((d) => ({ ...d, segs: d.path.split('.') }));
  const visit = (node: unknown, path: Path): void => {
    if (isMap(node)) {
      for (const pair of node.items) {
        if (!isScalar(pair.key)) continue;
        let key = String(pair.key.value);
        const here = [...path, key];
        for (const d of patterns.filter((p) => matches(p.segs, here))) {
          const bare = d.unit && isScalar(pair.value) && typeof pair.value.value === 'number' ? pair.value.value : undefined;
          if (!d.rename && bare === undefined) continue; // already in the new spelling
          if (d.rename && node.items.some((p) => isScalar(p.key) && p.key.value === d.rename)) {
            problems.push({ path: here, message: `both '${key}' (the old spelling) and '${d.rename}' are given`, hint: `keep only '${d.rename}'`, atKey: true });
            continue;
          }
          const old = bare === undefined ? pathText(here) : `${pathText(here)}: ${bare}`;
          const now = bare === undefined ? d.rename! : `${d.rename ?? key}: ${bare}${d.unit}`;
          if (bare !== undefined) (pair.value as { value: unknown }).value = `${bare}${d.unit}`;
          if (d.rename) pair.key.value = key = d.rename;
          done.push({ offset: pair.key.range?.[0] ?? 0, text: `${old} is deprecated: write ${now}` });
        }
        visit(pair.value, [...path, key]);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => visit(item, [...path, i]));
    }
  };
  visit(doc.contents, []);
  return { done, problems };
}

// ---------------------------------------------------------------------------------------------
// The loader

/** The YAML node at `path`, or the deepest existing ancestor (for a missing key). */
function nodeAt(doc: Document, path: Path): YamlNode | undefined {
  let cur: unknown = doc.contents;
  for (const key of path) {
    if (isMap(cur)) {
      const pair = cur.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(key));
      if (!pair) return cur;
      cur = pair.value ?? pair.key;
    } else if (isSeq(cur) && typeof key === 'number' && cur.items[key]) {
      cur = cur.items[key];
    } else return cur as YamlNode;
  }
  return cur as YamlNode;
}

/** How a file is named in messages: relative to the working directory when inside it. */
function shownName(file: string): string {
  if (file.startsWith('<')) return file;
  const rel = relative(process.cwd(), file);
  return rel && !rel.startsWith('..') ? rel : file;
}

/** A parsed YAML file that knows where each of its paths is. */
class ConfigDocument {
  readonly shown: string;
  constructor(
    readonly file: string,
    private readonly doc: Document,
    private readonly lines: LineCounter,
    private readonly makeError: (problems: ConfigProblem[], text: string) => ConfigError,
  ) {
    this.shown = shownName(file);
  }

  /**
   * Where a problem is: the key of a map entry when the problem is the key (an unknown key) or
   * the entry's value is a map (a section), else the value.
   */
  position(path: Path, atKey = false): { line: number; col: number } {
    let offset: number | undefined;
    const parent = path.length ? nodeAt(this.doc, path.slice(0, -1)) : undefined;
    const last = path[path.length - 1];
    if (parent && isMap(parent)) {
      const pair = parent.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(last));
      const valueIsLeaf = pair?.value && (isScalar(pair.value) || isSeq(pair.value));
      if (pair && isScalar(pair.key) && pair.key.range && (atKey || !valueIsLeaf)) offset = pair.key.range[0];
    }
    offset ??= nodeAt(this.doc, path)?.range?.[0] ?? 0;
    return this.lines.linePos(offset);
  }

  /** `file:line:col: ` of a problem. */
  where(p: ConfigProblem): string {
    const pos = this.position(p.path, p.atKey === true);
    return `${this.shown}:${pos.line}:${pos.col}: `;
  }

  /** The error listing `problems`, each at its place in the file. */
  error(problems: ConfigProblem[]): ConfigError {
    return this.makeError(problems, formatProblems(problems, (p) => this.where(p)));
  }
}

export interface ConfigFormat {
  /** The error code of a refused file: CONFIG_INVALID, TOPOLOGY_INVALID. */
  code: string;
  /** Old spellings still accepted, each with a warning. */
  deprecations?: readonly Deprecation[];
  /** The error of a refused file (default: a ConfigError with `code`). */
  makeError?: (problems: ConfigProblem[], text: string) => ConfigError;
  /** Called with each deprecation warning; default: to stderr. */
  onWarning?: (w: ConfigWarning) => void;
}

const warnToStderr = (w: ConfigWarning): void => {
  process.stderr.write(`warning: ${w.message}\n`);
};

/**
 * Parses YAML text into plain data with the deprecations applied; throws a ConfigError for a
 * syntax error. The schema is left to the caller (`checkConfig`), which may add its own problems
 * through `doc.error`.
 */
export function readConfigText(text: string, file: string, format: ConfigFormat): { data: unknown; doc: ConfigDocument; warnings: ConfigWarning[] } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const makeError = format.makeError ?? ((problems: ConfigProblem[], message: string) => new ConfigError(format.code, problems, message));
  const cdoc = new ConfigDocument(file, doc, lines, makeError);
  if (doc.errors.length) {
    const problems = doc.errors.map((e) => ({ path: [], message: `YAML: ${e.message.split('\n')[0]}`, hint: /duplicate|unique/i.test(e.message) ? 'give each key once' : 'check indentation and quoting (quote values that contain ": " or start with [ { * &)', pos: lines.linePos(e.pos[0]) }));
    throw makeError(problems, problems.map((p) => `${cdoc.shown}:${p.pos.line}:${p.pos.col}: ${p.message}\n    fix: ${p.hint}`).join('\n'));
  }
  const { done, problems } = applyDeprecations(doc, format.deprecations ?? []);
  if (problems.length) throw cdoc.error(problems);
  const warnings = done.map((d) => {
    const pos = lines.linePos(d.offset);
    return { file: cdoc.shown, line: pos.line, col: pos.col, message: `${cdoc.shown}:${pos.line}:${pos.col}: ${d.text} (the old spelling goes in the next release)` };
  });
  warnings.forEach(format.onWarning ?? warnToStderr);
  return { data: doc.toJS() ?? {}, doc: cdoc, warnings };
}

/** Checks data against a schema; throws every problem at its place in the file. */
export function checkConfig<S extends Schema>(schema: S, data: unknown, doc: ConfigDocument): z.output<S> {
  const r = z.safeParse(schema, data);
  if (r.success) return r.data;
  throw doc.error(r.error.issues.flatMap((i) => issueProblems(i, data, schema)));
}
