/**
 * A lab's metrics scraper (lab/metrics.ts starts it in a Map-Server's namespace):
 * `node scrape.js --out FILE --lab NAME --interval MS --max-bytes N --targets '[{"node","url"}]'`.
 * Every interval it reads each target's /metrics (a timeout of one interval) and appends one JSON
 * line per target: `{"t": epoch ms, "lab", "node", "ms": scrape time, "series": {"name{labels}": value}}`,
 * or `{"t", "node", "error"}`. Histogram buckets are left out (their _sum and _count stay). It
 * stops at SIGTERM, or once the file holds `max-bytes`, saying so in a last line.
 */
import { appendFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

/** The samples of a text exposition (0.0.4): series -> value, buckets left out. */
export function parseExposition(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    // the value follows the last space outside the labels (label values may hold spaces)
    const close = line.lastIndexOf('}');
    const sp = line.indexOf(' ', close < 0 ? 0 : close);
    if (sp < 0) continue;
    const series = line.slice(0, sp);
    if (/_bucket(\{|$)/.test(series)) continue;
    const value = Number(line.slice(sp + 1).trim().split(' ')[0]);
    if (!Number.isNaN(value)) out[series] = value;
  }
  return out;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { out: { type: 'string' }, lab: { type: 'string' }, interval: { type: 'string' }, 'max-bytes': { type: 'string' }, targets: { type: 'string' } } });
  const out = values.out!;
  const lab = values.lab ?? '';
  const intervalMs = Number(values.interval ?? 1000);
  const maxBytes = Number(values['max-bytes'] ?? 256 << 20);
  const targets = JSON.parse(values.targets ?? '[]') as Array<{ node: string; url: string }>;
  let written = 0;
  let stopped = false;
  const write = (o: object) => {
    const line = JSON.stringify(o) + '\n';
    appendFileSync(out, line);
    written += line.length;
  };
  process.on('SIGTERM', () => {
    stopped = true;
  });
  while (!stopped) {
    const due = Date.now() + intervalMs;
    await Promise.all(
      targets.map(async ({ node, url }) => {
        const t = Date.now();
        const t0 = performance.now();
        try {
          const r = await fetch(url, { signal: AbortSignal.timeout(intervalMs) });
          if (!r.ok) throw new Error(`HTTP ${r.status}`);
          const series = parseExposition(await r.text());
          write({ t, lab, node, ms: Math.round((performance.now() - t0) * 100) / 100, series });
        } catch (e) {
          write({ t, lab, node, error: (e as Error).message });
        }
      }),
    );
    if (written >= maxBytes) {
      write({ t: Date.now(), stopped: `the file reached ${maxBytes} bytes (--max-bytes)` });
      return;
    }
    await new Promise((r) => setTimeout(r, Math.max(0, due - Date.now())));
  }
}

// run as a program (lab/metrics.ts), not imported (its test)
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e: unknown) => {
    process.stderr.write(`scrape: ${(e as Error).message}\n`);
    process.exit(1);
  });
}
