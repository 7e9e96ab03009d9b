import { describe, expect, it } from 'vitest';
import { Histogram } from '../ms/stats.js';
import { LATENCY_BOUNDS_SECONDS, MetricsWriter, escapeLabelValue } from './prometheus.js';
import { parseExposition, sampleValue } from './testing/exposition.js';

describe('MetricsWriter', () => {
  it('writes HELP, TYPE and samples a strict parser reads back, label values and help escaped', () => {
    const nasty = 'a "quoted" back\\slash\nnew line';
    const text = new MetricsWriter()
      .counter('x_events_total', 'Events, with a \\ and a\nline feed', [{ labels: { reason: nasty }, value: 3 }, { labels: { reason: 'plain' }, value: 0 }])
      .gauge('x_level', 'A level', 2.5)
      .gauge('x_empty', 'No series at all', [])
      .text();
    expect(text).toContain(`x_events_total{reason="${escapeLabelValue(nasty)}"} 3\n`);
    expect(escapeLabelValue(nasty)).toBe('a \\"quoted\\" back\\\\slash\\nnew line');
    const f = parseExposition(text);
    expect(f.get('x_events_total')).toMatchObject({ type: 'counter', help: 'Events, with a \\ and a\nline feed' });
    expect(sampleValue(f, 'x_events_total', { reason: nasty })).toBe(3);
    expect(sampleValue(f, 'x_level')).toBe(2.5);
    expect(f.get('x_empty')!.samples).toEqual([]);
  });

  it('refuses what a scraper would misread: no _total, a family or a series twice, bad names', () => {
    expect(() => new MetricsWriter().counter('x_events', 'h', 1)).toThrow(/_total/);
    expect(() => new MetricsWriter().gauge('x', 'h', 1).gauge('x', 'h', 2)).toThrow(/twice/);
    expect(() => new MetricsWriter().gauge('x', 'h', [{ labels: { a: '1' }, value: 1 }, { labels: { a: '1' }, value: 2 }])).toThrow(/twice/);
    expect(() => new MetricsWriter().gauge('x-y', 'h', 1)).toThrow(/metric name/);
    expect(() => new MetricsWriter().gauge('x', 'h', [{ labels: { 'a-b': '1' }, value: 1 }])).toThrow(/label name/);
    expect(() => new MetricsWriter().histogram('x_latency', 'h', new Histogram())).toThrow(/seconds/);
    expect(() => new MetricsWriter().histogram('x_seconds', 'h', [{ labels: { le: '1' }, histogram: new Histogram() }])).toThrow(/le/);
    expect(() => new MetricsWriter().histogram('x_seconds', 'h', new Histogram(), [1, 0.5])).toThrow(/ascend/);
  });

  it('writes special values as Prometheus spells them', () => {
    const f = parseExposition(new MetricsWriter().gauge('x', 'h', [{ labels: { v: 'nan' }, value: NaN }, { labels: { v: 'inf' }, value: Infinity }, { labels: { v: 'small' }, value: 1e-7 }]).text());
    expect(sampleValue(f, 'x', { v: 'nan' })).toBeNaN();
    expect(sampleValue(f, 'x', { v: 'inf' })).toBe(Infinity);
    expect(sampleValue(f, 'x', { v: 'small' })).toBe(1e-7);
  });
});

describe('histograms from the log-linear Histogram', () => {
  it('are cumulative in seconds, end in +Inf = _count, and carry the sum', () => {
    const h = new Histogram();
    for (const us of [20, 40, 40, 70, 90, 1200, 30_000, 3_000_000]) h.record(us * 1000);
    const f = parseExposition(new MetricsWriter().histogram('x_duration_seconds', 'h', h).text());
    const le = (b: string) => sampleValue(f, 'x_duration_seconds_bucket', { le: b });
    // log-linear buckets (ns): 40 000 in [38912, 40960), 90 000 in [86016, 90112), 30 ms in [28.3, 29.4) ms
    expect(le('0.00005')).toBe(3);
    expect(le('0.0001')).toBe(5);
    expect(le('0.001')).toBe(5);
    expect(le('0.0025')).toBe(6);
    expect(le('0.05')).toBe(7);
    expect(le('2.5')).toBe(7);
    expect(le('+Inf')).toBe(8);
    expect(sampleValue(f, 'x_duration_seconds_count')).toBe(8);
    expect(sampleValue(f, 'x_duration_seconds_sum')).toBeCloseTo((20 + 40 + 40 + 70 + 90 + 1200 + 30_000 + 3_000_000) / 1e6, 9);
    expect(f.get('x_duration_seconds')!.samples.filter((s) => s.name.endsWith('_bucket'))).toHaveLength(LATENCY_BOUNDS_SECONDS.length + 1);
  });

  it('put a bucket that straddles a bound under the next bound: never more than the true count, short by that bucket at most', () => {
    // the log-linear bucket around 50 us is [49152, 51200) ns: 49 500 ns is <= 50 us but counted under 100 us
    const h = new Histogram();
    h.record(49_500);
    h.record(49_000); // [47104, 49152): wholly under 50 us
    expect(h.cumulative([50_000, 100_000])).toEqual([1, 2]);

    const values: number[] = [];
    let x = 12345;
    const rnd = () => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const r = new Histogram();
    for (let i = 0; i < 20_000; i++) {
      const v = Math.floor(10 ** (3 + rnd() * 7)); // 1 us .. 10 s, log-uniform
      values.push(v);
      r.record(v);
    }
    const bounds = LATENCY_BOUNDS_SECONDS.map((s) => Math.round(s * 1e9));
    const got = r.cumulative(bounds);
    bounds.forEach((b, i) => {
      const exact = values.filter((v) => v <= b).length;
      // the straddling bucket: values within 1/16 of a power of two below b
      const width = 2 ** (Math.floor(Math.log2(b)) - 4);
      const near = values.filter((v) => v <= b && v > b - width).length;
      expect(got[i]).toBeLessThanOrEqual(exact);
      expect(exact - got[i]!).toBeLessThanOrEqual(near);
    });
    expect(got.every((c, i) => i === 0 || c >= got[i - 1]!)).toBe(true);
  });
});
