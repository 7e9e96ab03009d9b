/**
 * The example of README's "Your own experiment", end to end as a researcher runs it: `zx
 * experiments/examples/first-packet.mjs --n=5` (root, the built kit) brings paper-lan up in real
 * namespaces with real agents and wireguard-go, times five cold starts, records them, and takes
 * the lab down; `npm run figures` and `npm run report` then take the run in. Results go to a
 * temporary folder (LISPWG_RESULTS), never under results/. About 15 s.
 *
 *   flock /tmp/lispwg-netns.lock npx vitest run experiments/examples/first-packet.integration.test.ts --no-file-parallelism --testTimeout=120000
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { run } from '../../src/util/exec.js';
import { projectRoot } from '../../src/util/project.js';
import { prerequisites } from '../../src/testing/prerequisites.js';
import { destroyLab } from '../../lab/down.js';
import { labDir } from '../../lab/names.js';
import { renderAll } from '../figures.js';
import { buildReport } from '../report.js';
import { quietly } from '../testing/quietly.js';

const N = 5;
const dir = mkdtempSync(join(tmpdir(), 'lispwg-first-packet-'));
const labs: string[] = [];
afterAll(async () => {
  for (const l of labs) await destroyLab(l);
  rmSync(dir, { recursive: true, force: true });
});

const missing = await prerequisites('the first-packet example', { root: true, built: true, tools: ['ip', 'ping', 'wireguard-go'] });

describe.skipIf(missing !== undefined)('experiments/examples/first-packet.mjs', () => {
  it(`times ${N} cold starts in a lab of its own, records them, leaves no lab behind, and figures and report take the run`, async () => {
    const root = projectRoot();
    const r = await run([join(root, 'node_modules', '.bin', 'zx'), join(root, 'experiments', 'examples', 'first-packet.mjs'), `--n=${N}`], {
      allowFail: true,
      timeoutMs: 110_000,
      cwd: root,
      env: { ...process.env, LISPWG_RESULTS: dir } as Record<string, string>,
    });
    expect(r.exitCode, r.stderr).toBe(0);
    const runs = readdirSync(join(dir, 'first-packet'));
    expect(runs).toHaveLength(1);
    const runDir = join(dir, 'first-packet', runs[0]!);
    const meta = JSON.parse(readFileSync(join(runDir, 'metadata.json'), 'utf8')) as { labs: string[]; labBackend: string; wireguardBackend: Record<string, string>; params: Record<string, unknown>; script: { file: string } };
    const lab = meta.labs[0]!.split(' ')[0]!;
    labs.push(lab);
    expect(meta).toMatchObject({ labBackend: 'netns', params: { mode: 'quick', n: N }, script: { file: 'experiments/examples/first-packet.mjs' } });
    expect(meta.wireguardBackend[lab]).toBeTruthy();

    const samples = readFileSync(join(runDir, 'samples.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { value: unknown });
    expect(samples).toHaveLength(N);
    for (const s of samples) {
      expect(typeof s.value === 'number' && Number.isFinite(s.value) && s.value > 0, JSON.stringify(s)).toBe(true);
    }
    console.log(`first-packet: first echo reply of ${N} cold starts: ${samples.map((s) => s.value).join(', ')} ms`);

    // the lab it brought up is gone: no namespace, no state
    const netns = (await run(['ip', 'netns', 'list'])).stdout;
    expect(netns.split('\n').filter((l) => l.startsWith(`lw.${lab}.`))).toEqual([]);
    expect(existsSync(labDir(lab))).toBe(false);

    // the run is complete and `npm run figures` / `npm run report` take it in
    const summary = JSON.parse(readFileSync(join(runDir, 'summary.json'), 'utf8')) as { variants: Record<string, { n: number; median: number }> };
    expect(summary.variants['first-packet']!.n).toBe(N);
    const figures = await quietly(() => renderAll(dir));
    expect(figures.map((f) => f.experiment)).toEqual(['first-packet']);
    expect(readFileSync(figures[0]!.svg, 'utf8')).toMatch(/^<svg/);
    const report = buildReport(dir);
    expect(report.included).toEqual(['first-packet']);
    expect(readFileSync(report.file, 'utf8')).toContain('First packet of a cold start');
  });
});
