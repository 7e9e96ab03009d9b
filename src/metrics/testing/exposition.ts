/**
 * A strict parser of the Prometheus text format 0.0.4, for tests: it throws on anything a scraper
 * could read differently. Every line is a HELP, a TYPE or a sample (no comments, no blank lines, no
 * timestamps); every family has one HELP and one TYPE before its samples, which come together;
 * label values use only the three escapes; no series twice; counters end in `_total` and are >= 0;
 * histograms have, per label set, `le` buckets ascending and cumulative, ending in `+Inf` equal to
 * `_count`, and a `_sum`. Test support only.
 */

export interface ParsedSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface ParsedFamily {
  name: string;
  type: 'counter' | 'gauge' | 'histogram';
  help: string;
  samples: ParsedSample[];
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const VALUE = /^(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|[+-]Inf|NaN)$/;

function parseValue(text: string, line: number): number {
  if (!VALUE.test(text)) throw new Error(`line ${line}: '${text}' is not a sample value`);
  return text === '+Inf' ? Infinity : text === '-Inf' ? -Infinity : Number(text);
}

/** `{a="x",b="y"}` from `i` (at the brace); returns the labels and the index after the brace. */
function parseLabels(s: string, i: number, line: number): [Record<string, string>, number] {
  const labels: Record<string, string> = {};
  i++; // {
  if (s[i] === '}') throw new Error(`line ${line}: empty label braces`);
  for (;;) {
    const m = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(s.slice(i));
    if (!m) throw new Error(`line ${line}: a label name expected at column ${i + 1}`);
    const name = m[0];
    i += name.length;
    if (s[i] !== '=' || s[i + 1] !== '"') throw new Error(`line ${line}: ="..." expected after label ${name}`);
    i += 2;
    let v = '';
    for (;;) {
      const c = s[i];
      if (c === undefined) throw new Error(`line ${line}: unterminated label value`);
      if (c === '"') break;
      if (c === '\\') {
        const e = s[i + 1];
        if (e === '\\') v += '\\';
        else if (e === '"') v += '"';
        else if (e === 'n') v += '\n';
        else throw new Error(`line ${line}: bad escape \\${e ?? ''} in a label value`);
        i += 2;
        continue;
      }
      v += c;
      i++;
    }
    i++; // closing quote
    if (name in labels) throw new Error(`line ${line}: label ${name} twice`);
    labels[name] = v;
    if (s[i] === ',') {
      i++;
      continue;
    }
    if (s[i] === '}') return [labels, i + 1];
    throw new Error(`line ${line}: , or } expected at column ${i + 1}`);
  }
}

function unescapeHelp(t: string, line: number): string {
  return t.replace(/\\(.)/g, (_, e: string) => {
    if (e === '\\') return '\\';
    if (e === 'n') return '\n';
    throw new Error(`line ${line}: bad escape \\${e} in HELP`);
  });
}

const seriesKey = (name: string, labels: Record<string, string>) => `${name}{${Object.keys(labels).sort().map((k) => `${k}=${JSON.stringify(labels[k])}`).join(',')}}`;

export function parseExposition(text: string): Map<string, ParsedFamily> {
  if (!text.endsWith('\n')) throw new Error('the exposition does not end with a line feed');
  const lines = text.slice(0, -1).split('\n');
  const families = new Map<string, ParsedFamily>();
  const helps = new Map<string, string>();
  const series = new Set<string>();
  let current: ParsedFamily | undefined;
  lines.forEach((s, k) => {
    const line = k + 1;
    if (s === '') throw new Error(`line ${line}: blank line`);
    let m: RegExpExecArray | null;
    if ((m = new RegExp(`^# HELP (${NAME}) (.*)$`).exec(s))) {
      const [, name, help] = m as unknown as [string, string, string];
      if (helps.has(name)) throw new Error(`line ${line}: HELP of ${name} twice`);
      if (families.has(name)) throw new Error(`line ${line}: HELP of ${name} after its TYPE`);
      helps.set(name, unescapeHelp(help, line));
      return;
    }
    if ((m = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram)$`).exec(s))) {
      const [, name, type] = m as unknown as [string, string, ParsedFamily['type']];
      if (families.has(name)) throw new Error(`line ${line}: TYPE of ${name} twice`);
      const help = helps.get(name);
      if (help === undefined) throw new Error(`line ${line}: ${name} has no HELP before its TYPE`);
      if (type === 'counter' && !name.endsWith('_total')) throw new Error(`line ${line}: counter ${name} does not end in _total`);
      current = { name, type, help, samples: [] };
      families.set(name, current);
      return;
    }
    if (s.startsWith('#')) throw new Error(`line ${line}: a comment that is neither HELP nor TYPE: ${s}`);
    m = new RegExp(`^(${NAME})`).exec(s);
    if (!m) throw new Error(`line ${line}: not a sample: ${s}`);
    const name = m[1]!;
    let i = name.length;
    let labels: Record<string, string> = {};
    if (s[i] === '{') [labels, i] = parseLabels(s, i, line);
    if (s[i] !== ' ') throw new Error(`line ${line}: one space expected before the value`);
    const rest = s.slice(i + 1);
    if (rest.includes(' ')) throw new Error(`line ${line}: a timestamp or trailing text: '${rest}'`);
    const value = parseValue(rest, line);
    if (!current) throw new Error(`line ${line}: sample ${name} before any TYPE`);
    const f = current;
    const ok = f.type === 'histogram' ? [`${f.name}_bucket`, `${f.name}_sum`, `${f.name}_count`].includes(name) : name === f.name;
    if (!ok) throw new Error(`line ${line}: sample ${name} is not of family ${f.name} (${f.type}): a family's samples come together after its TYPE`);
    if (f.type === 'counter' && !(value >= 0)) throw new Error(`line ${line}: counter ${name} is ${value}`);
    if (name.endsWith('_bucket') && f.type === 'histogram' && labels.le === undefined) throw new Error(`line ${line}: a bucket without le`);
    const key = seriesKey(name, labels);
    if (series.has(key)) throw new Error(`line ${line}: series ${key} twice`);
    series.add(key);
    f.samples.push({ name, labels, value });
  });
  for (const name of helps.keys()) if (!families.has(name)) throw new Error(`${name} has a HELP and no TYPE`);
  for (const f of families.values()) if (f.type === 'histogram') checkHistogram(f);
  return families;
}

function checkHistogram(f: ParsedFamily): void {
  const groups = new Map<string, { buckets: Array<[number, number]>; sum?: number; count?: number }>();
  for (const s of f.samples) {
    const { le, ...rest } = s.labels;
    const k = seriesKey('', rest);
    const g = groups.get(k) ?? { buckets: [] };
    groups.set(k, g);
    if (s.name.endsWith('_bucket')) g.buckets.push([parseValue(le!, 0), s.value]);
    else if (s.name.endsWith('_sum')) g.sum = s.value;
    else g.count = s.value;
  }
  for (const [k, g] of groups) {
    const where = `${f.name}${k}`;
    if (g.count === undefined || g.sum === undefined) throw new Error(`${where}: no _count or no _sum`);
    if (!g.buckets.length || g.buckets[g.buckets.length - 1]![0] !== Infinity) throw new Error(`${where}: the buckets do not end in le="+Inf"`);
    for (let i = 1; i < g.buckets.length; i++) {
      if (!(g.buckets[i]![0] > g.buckets[i - 1]![0])) throw new Error(`${where}: le not ascending at ${g.buckets[i]![0]}`);
      if (g.buckets[i]![1] < g.buckets[i - 1]![1]) throw new Error(`${where}: buckets not cumulative at le=${g.buckets[i]![0]}`);
    }
    if (g.buckets[g.buckets.length - 1]![1] !== g.count) throw new Error(`${where}: le="+Inf" is ${g.buckets[g.buckets.length - 1]![1]}, _count ${g.count}`);
  }
}

/** The value of one series (undefined when absent); `labels` must match exactly. */
export function sampleValue(families: Map<string, ParsedFamily>, name: string, labels: Record<string, string> = {}): number | undefined {
  const want = seriesKey(name, labels);
  for (const f of families.values()) for (const s of f.samples) if (seriesKey(s.name, s.labels) === want) return s.value;
  return undefined;
}

/** GET `url` with node's fetch; returns the status, the content type and the body. */
export async function scrape(url: string): Promise<{ status: number; contentType: string | null; body: string }> {
  const res = await fetch(url);
  return { status: res.status, contentType: res.headers.get('content-type'), body: await res.text() };
}
