import { describe, expect, it } from 'vitest';
import { HoldDown } from './hold-down.js';

describe('hold-down table', () => {
  it('lets a key pass once per hold-down', () => {
    const h = new HoldDown(1000, 10);
    expect(h.take('a', 0)).toBe('pass');
    expect(h.take('a', 999)).toBe('held');
    expect(h.take('a', 1000)).toBe('pass');
    h.release('a');
    expect(h.take('a', 1001)).toBe('pass');
  });

  it('when full of held keys refuses new ones instead of forgetting the held ones; room again as they expire', () => {
    const h = new HoldDown(1000, 4096);
    for (let i = 0; i < 4096; i++) expect(h.take(`k${i}`, i / 10)).toBe('pass');
    // a flood of new keys: none passes, and the held keys stay held
    for (let i = 0; i < 10_000; i++) expect(h.take(`flood${i}`, 500)).toBe('full');
    for (let i = 0; i < 4096; i++) expect(h.take(`k${i}`, 600)).toBe('held');
    expect(h.size).toBe(4096);
    // the first ten expire at 1000.0 .. 1000.9
    expect(h.take('new', 1000.95)).toBe('pass');
    expect(h.size).toBe(4096 - 10 + 1);
  });
});
