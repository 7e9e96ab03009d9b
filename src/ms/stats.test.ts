import { describe, expect, it } from 'vitest';
import { Histogram } from './stats.js';

describe('Histogram', () => {
  it('gives quantiles within its 4 % resolution', () => {
    const h = new Histogram();
    const values: number[] = [];
    for (let i = 0; i < 10_000; i++) values.push(1000 + ((i * 7919) % 100_000));
    for (const v of values) h.record(v);
    values.sort((a, b) => a - b);
    for (const q of [0.5, 0.9, 0.99]) {
      const exact = values[Math.ceil(q * values.length) - 1]!;
      expect(Math.abs(h.quantile(q) - exact) / exact).toBeLessThan(0.04);
    }
    expect(h.summary().count).toBe(10_000);
    expect(h.summary().min).toBe(1);
    const small = new Histogram();
    for (const v of [3, 5, 8, 2 ** 40]) small.record(v);
    expect(small.quantile(0.25)).toBe(3);
    expect(small.quantile(1)).toBe(2 ** 40);
  });
});
