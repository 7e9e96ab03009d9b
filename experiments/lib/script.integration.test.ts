/**
 * The scripting kit (experiments/lib/script.ts, built) in real labs, driven by small scripts as a
 * researcher writes them: a lab the script brought up is gone after the script failed (under zx,
 * and under plain node) or was interrupted with SIGINT; attached to a lab that is up, a script runs
 * zx's `$` in a node, spawns background traffic, hands the mobile node over and reads its agent,
 * and leaves the lab up with its own processes stopped. About 30 s.
 *
 *   flock /tmp/lispwg-netns.lock npx vitest run experiments/lib/script.integration.test.ts --no-file-parallelism --testTimeout=120000
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { run } from '../../src/util/exec.js';
import { projectRoot } from '../../src/util/project.js';
import { prerequisites } from '../../src/testing/prerequisites.js';
import { destroyLab } from '../../lab/down.js';
import { Lab } from '../../lab/lab.js';
import { labDir, labPrefix } from '../../lab/names.js';
import { listNetns } from '../../lab/net/ip.js';
import { alive } from '../../lab/procs.js';
import { readState } from '../../lab/state.js';
import { loadTopology } from '../../lab/topology/load.js';

const root = projectRoot();
const kit = pathToFileURL(join(root, 'dist', 'experiments', 'lib', 'script.js')).href;
const zx = join(root, 'node_modules', '.bin', 'zx');
const id = randomBytes(2).toString('hex');
const dir = mkdtempSync(join(tmpdir(), 'lispwg-script-it-'));
const labs: string[] = [];
afterAll(async () => {
  for (const l of labs) await destroyLab(l);
  rmSync(dir, { recursive: true, force: true });
});

/** Writes a script importing the kit; returns its path. */
function script(name: string, body: string): string {
  const file = join(dir, `${name}.mjs`);
  writeFileSync(file, `import { attach, up } from '${kit}';\n${body}\n`);
  return file;
}

async function assertGone(lab: string): Promise<void> {
  expect((await listNetns()).filter((n) => n.startsWith(labPrefix(lab)))).toEqual([]);
  expect(existsSync(labDir(lab))).toBe(false);
}

const missing = await prerequisites('the scripting kit', { root: true, built: true, tools: ['ip', 'ping', 'wireguard-go'] });

describe.skipIf(missing !== undefined)('experiments/lib/script.ts in real labs', () => {
  it.each([
    ['zx', 'zx (its failure report, then the normal end)'],
    ['node', 'plain node (an uncaught error: the exit handler)'],
  ])('a lab the script brought up is taken down when it fails, under %s', async (runner) => {
    const lab = `sk-fail-${runner}-${id}`;
    labs.push(lab);
    const file = script(`fail-${runner}`, `await up('topologies/paper-lan.yaml', { name: '${lab}' });\nthrow new Error('boom in the script');`);
    const r = await run(runner === 'zx' ? [zx, file] : [process.execPath, file], { allowFail: true, timeoutMs: 60_000, cwd: root });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('boom in the script');
    expect(r.stderr).toContain(runner === 'zx' ? `lab ${lab} down` : `lab ${lab} down (at exit)`);
    await assertGone(lab);
  });

  it('a lab the script brought up is taken down on Ctrl-C (SIGINT), with what it spawned', async () => {
    const lab = `sk-int-${id}`;
    labs.push(lab);
    const file = script('interrupted', `const lab = await up('topologies/paper-lan.yaml', { name: '${lab}' });
await lab.node('mn1').spawn('ping -i 0.2 ' + lab.node('mn2').eid);
console.log('READY');
await new Promise((r) => setTimeout(r, 60_000));`);
    const child = spawn(zx, [file], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
    await new Promise<void>((res, rej) => {
      child.stdout.on('data', (b: Buffer) => {
        out += b.toString();
        if (out.includes('READY')) res();
      });
      void exited.then(() => rej(new Error(`the script ended before READY: ${err}`)));
    });
    const pings = (await readState(lab))!.processes.filter((p) => p.name.startsWith('script-'));
    expect(pings).toHaveLength(1);
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(err).toContain('SIGINT: tearing down');
    await assertGone(lab);
    expect(await alive(pings[0]!.pid, pings[0]!.startTime)).toBe(false);
  });

  it('attached to a lab that is up: $ in a node, background traffic, a handover, the agent; the lab stays, its processes do not', async () => {
    const name = `sk-att-${id}`;
    labs.push(name);
    const lab = await Lab.up(await loadTopology(join(root, 'topologies', 'handover.yaml')), { name });
    const file = script('attached', `const lab = await attach('${name}');
const mn = lab.node('mn');
const ping = await mn.spawn(['ping', '-n', '-i', '0.01', lab.node('cn').eid]);
await new Promise((r) => setTimeout(r, 500));
const before = (await mn.$\`ip -4 -o addr show dev wlan0\`).stdout;
const moved = await mn.handover();
await new Promise((r) => setTimeout(r, 1500));
const after = await mn.$\`ip -4 -o addr show dev wlan1\`;
const shown = await mn.show();
const ns = (await mn.$\`ip netns identify\`).stdout.trim();
console.log(JSON.stringify({ before, moved, after: after.stdout, exitCode: after.exitCode, shown, ns, ping: { pid: ping.pid, startTime: ping.startTime, log: ping.log } }));`);
    try {
      const r = await run([zx, file], { allowFail: true, timeoutMs: 60_000, cwd: root });
      expect(r.exitCode, r.stderr).toBe(0);
      const o = JSON.parse(r.stdout.trim().split('\n').pop()!) as {
        before: string;
        moved: { from: string; to: string; ap: string; address: string };
        after: string;
        exitCode: number;
        shown: { registration: { state: string }; peers: { eidPrefixes: string[] }[] };
        ns: string;
        ping: { pid: number; startTime: string; log: string };
      };
      expect(o.ns).toBe(`lw.${name}.mn`); // $ ran inside the node's namespace
      expect(o.before).toContain('198.18.10.10');
      expect(o.moved).toMatchObject({ from: 'wlan0', to: 'wlan1', ap: 'ap2', address: '198.18.20.10' });
      expect(o.after).toContain('198.18.20.10');
      expect(o.exitCode).toBe(0);
      expect(o.shown.registration.state).toBe('registered');
      expect(o.shown.peers.flatMap((p) => p.eidPrefixes)).toContain('198.19.2.1/32'); // cn, reached by the background ping
      // the lab stays up, the script's ping does not
      expect(await readState(name)).toBeDefined();
      expect(await alive(o.ping.pid, o.ping.startTime)).toBe(false);
      expect((await lab.exec('mn', ['ping', '-c1', '-W2', '198.19.2.1'], { allowFail: true })).exitCode).toBe(0);
    } finally {
      await lab.down();
    }
    await assertGone(name);
  });
});
