/**
 * The `lispwg` entry: a flag a command does not have is named, with where to look, and exits 2
 * (not a stack trace); an unknown command lists the commands. Runs the built CLI (dist/).
 */
import { expect, it } from 'vitest';
import { run } from '../util/exec.js';
import { lispwgBin } from '../util/project.js';

it('names an unknown flag and the help to read, exit 2, no stack trace', async () => {
  for (const [args, what] of [
    [['ms', 'show', '--socket', 'x'], "lispwg ms show: Unknown option '--socket' (see 'lispwg ms show --help')"],
    [['query', '--bogus'], "lispwg query: Unknown option '--bogus' (see 'lispwg query --help')"],
  ] as const) {
    const r = await run(['node', lispwgBin(), ...args], { allowFail: true });
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stderr.trim()).toBe(what);
  }
  const r = await run(['node', lispwgBin(), 'frobnicate'], { allowFail: true });
  expect(r.exitCode).toBe(1);
  expect(r.stderr).toMatch(/unknown command 'frobnicate'[\s\S]*decode/);
});
