import { describe, expect, it, vi } from 'vitest';
import { inCi, prerequisites } from './prerequisites.js';

const absent = 'lispwg-no-such-tool';

describe('prerequisites', () => {
  it('in CI, a missing tool fails, naming it and lab/setup.sh', async () => {
    await expect(prerequisites('suite x', { tools: ['sh', absent] }, { CI: 'true' })).rejects.toThrow(
      `suite x: missing ${absent} (install with: bash lab/setup.sh). In CI a suite may skip only for a kernel feature; a missing tool fails the run.`,
    );
    await expect(prerequisites('suite x', { toolProbes: [{ ok: false, why: 'no charon' }] }, { CI: '1' })).rejects.toThrow(/missing no charon \(install with: bash lab\/setup\.sh\)/);
  });

  it('outside CI, a missing tool skips, saying why', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      expect(await prerequisites('suite x', { tools: [absent, '/no/such/file'] }, {})).toBe(`suite x: missing ${absent}, /no/such/file (install with: bash lab/setup.sh)`);
      expect(warn).toHaveBeenCalledWith(expect.stringContaining('skipped (in CI this fails)'));
    } finally {
      warn.mockRestore();
    }
  });

  it('a missing kernel feature skips, in CI too', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      expect(await prerequisites('suite k', { tools: ['sh'], kernel: [{ ok: true }, { ok: false, why: 'the kernel has no ESP' }] }, { CI: 'true' })).toBe('suite k: skipped, the kernel has no ESP');
    } finally {
      warn.mockRestore();
    }
  });

  it('the real OOR missing skips, in CI too, naming it (the project cannot ship it)', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      expect(await prerequisites('suite o', { tools: ['sh'], foreign: [{ ok: false, why: 'no OOR binary (--oor PATH, LISPWG_OOR or oor on PATH)' }] }, { CI: 'true' })).toBe('suite o: skipped, no OOR binary (--oor PATH, LISPWG_OOR or oor on PATH)');
    } finally {
      warn.mockRestore();
    }
  });

  it('everything there: runs', async () => {
    expect(await prerequisites('suite ok', { tools: ['sh', '/bin/sh'], kernel: [{ ok: true }] }, { CI: 'true' })).toBeUndefined();
  });

  it('reads CI the way CI services set it', () => {
    expect([{ CI: 'true' }, { CI: '1' }, { CI: 'false' }, { CI: '0' }, { CI: '' }, {}].map((e) => inCi(e))).toEqual([true, true, false, false, false, false]);
  });
});
