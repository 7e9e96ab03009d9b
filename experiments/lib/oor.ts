/**
 * The real Open Overlay Router as an experiment variant (`oor`), beside lispwg's imitation of it
 * (`lisp`: lispwg's plain-LISP agent set up as OOR). It runs where lab/kinds/oor.ts finds the
 * user's binary (`--oor PATH`, LISPWG_OOR, or `oor` on PATH) and is left out elsewhere; the run's
 * metadata says which OOR ran, with its version.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { LispwgError } from '../../src/util/errors.js';
import { run } from '../../src/util/exec.js';
import type { Lab } from '../../lab/lab.js';
import { OOR_REGISTERED, oorBinary } from '../../lab/kinds/oor.js';
import type { NodeSettings } from './lab.js';
import type { ExperimentRun } from './run.js';

/** `variants` with `oor` appended where the real OOR exists (the default variant list of an experiment). */
export function withRealOor(variants: readonly string[]): string[] {
  return oorBinary() ? [...variants, 'oor'] : [...variants];
}

/** The named nodes run the real OOR (`kind: oor`) in `mode` (mn: the EID on its lispTun0). */
export function oorSettings(nodes: readonly string[], mode: 'mn' | 'xtr' = 'mn'): NodeSettings {
  return Object.fromEntries(nodes.map((n) => [n, { kind: 'oor', config: { mode } }]));
}

/** "OOR v1.3.0 (/usr/local/bin/oor)", from the binary's own `--version`. */
export async function oorVersion(bin: string): Promise<string> {
  const r = await run([bin, '--version'], { allowFail: true, timeoutMs: 5000 });
  const v = /Open Overlay Router (v\S+)/.exec(r.stdout + r.stderr)?.[1];
  return `OOR ${v ?? '(version not printed)'} (${bin})`;
}

/**
 * Records in the run's metadata which OOR the run compared with: the real one with its version
 * when the `oor` variant runs, and what the `lisp` variant is in any case.
 */
export async function annotateOor(r: ExperimentRun, variants: readonly string[], lispIs = "lispwg's plain-LISP agent set up as OOR (an imitation)"): Promise<void> {
  const bin = oorBinary();
  const real = variants.includes('oor') && bin ? await oorVersion(bin) : undefined;
  r.annotate({
    oor: [real ? `variant oor: the real ${real}` : 'the real OOR did not run (no binary: --oor PATH, LISPWG_OOR or oor on PATH)', ...(variants.includes('lisp') ? [`variant lisp: ${lispIs}`] : [])].join('; '),
  });
}

/**
 * A cold start for OOR, which has no command to empty its map-cache: each node's OOR is
 * restarted, and is ready again when the Map-Server has acknowledged its new registration.
 */
export async function restartOor(lab: Lab, nodes: readonly string[], timeoutMs = 15_000): Promise<void> {
  await Promise.all(
    nodes.map(async (n) => {
      const before = (await lab.process(n, 'oor')?.output())?.length ?? 0;
      const p = await lab.restart(n, 'oor');
      const end = Date.now() + timeoutMs;
      for (;;) {
        const log = (await p.output()).slice(before);
        if (log.includes(OOR_REGISTERED)) return;
        if (!(await p.running())) throw new LispwgError('EXP_OOR_EXITED', `OOR on ${n} exited after its restart: ${log.trim().slice(-400)}`);
        if (Date.now() > end) throw new LispwgError('EXP_NOT_REGISTERED', `OOR on ${n} did not register within ${timeoutMs / 1000} s of its restart (log ${p.log})`);
        await sleep(20);
      }
    }),
  );
}
