import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { scrapePoints, scrapeSpec } from './scrape-figure.js';
import { writeFigure } from './render.js';
import { readFileSync } from 'node:fs';

const dir = mkdtempSync(join(tmpdir(), 'lispwg-scrape-figure-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("a run's metrics scrape as a figure", () => {
  it('gives each daemon its CPU rate and memory over time, no rate across a restart, and skips a torn line', async () => {
    const line = (t: number, node: string, cpu: number, rss: number) => JSON.stringify({ t, lab: 'l', node, ms: 1, series: { process_cpu_seconds_total: cpu, process_resident_memory_bytes: rss } });
    writeFileSync(
      join(dir, 'metrics-l-ms.jsonl'),
      [line(1000, 'ms', 1, 2 ** 20 * 50), line(1000, 'mn1', 2, 2 ** 20 * 40), line(2000, 'ms', 1.5, 2 ** 20 * 51), JSON.stringify({ t: 2000, lab: 'l', node: 'mn1', error: 'fetch failed' }), line(3000, 'ms', 0.1, 2 ** 20 * 30), '{"t": 4000, "no'].join('\n'),
    );
    const p = scrapePoints(dir);
    expect(p.filter((x) => x.daemon === 'ms')).toEqual([
      { s: 0, daemon: 'ms', rssMiB: 50 },
      { s: 1, daemon: 'ms', cpuPct: 50, rssMiB: 51 },
      { s: 2, daemon: 'ms', rssMiB: 30 }, // restarted: its counter began again
    ]);
    expect(p.filter((x) => x.daemon === 'mn1')).toHaveLength(1);
    const f = await writeFigure(dir, 'metrics', scrapeSpec(p));
    expect(readFileSync(f.svg, 'utf8')).toMatch(/<svg[\s\S]*resident memory/);
  });
});
