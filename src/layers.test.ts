/**
 * Imports flow downward only: each package may import the packages below it in LAYERS, never one
 * above it or beside it on the same line. Test support (`*.test.ts`, `testing/`) is left out: a
 * test may reach anything it exercises.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { expect, it } from 'vitest';
import { projectRoot } from './util/project.js';

/** Bottom first; packages on one line do not import each other. */
const LAYERS: string[][] = [
  ['src/util'],
  ['src/ip', 'src/metrics'],
  ['src/lisp'],
  ['src/pcap', 'src/mapping', 'src/native'],
  ['src/net'],
  ['src/wg', 'src/ipsec'],
  ['src/dataplane', 'src/control'],
  ['src/ms'],
  ['src/grpc'],
  ['src/xtr'],
  ['src/cli'],
  ['lab'],
  ['experiments'],
];
/** The one file that joins the layers: the `lispwg` entry loads the lab's and the experiments' commands. */
const ENTRY = 'src/cli/main.ts';
const level = new Map(LAYERS.flatMap((line, i) => line.map((p) => [p, i] as const)));

const root = projectRoot();
const packageOf = (file: string): string => {
  const parts = relative(root, file).split('/');
  return parts[0] === 'src' ? `src/${parts[1]}` : parts[0]!;
};

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return name === 'testing' || name === 'node_modules' || name === 'build' ? [] : sources(p);
    return p.endsWith('.ts') && !p.endsWith('.test.ts') && !p.endsWith('.d.ts') ? [p] : [];
  });
}

it('no module imports a package above its own (src/util at the bottom, experiments at the top)', () => {
  const files = ['src', 'lab', 'experiments'].flatMap((d) => sources(join(root, d)));
  expect(files.length).toBeGreaterThan(100);
  const upward: string[] = [];
  for (const file of files) {
    if (relative(root, file) === ENTRY) continue;
    const from = packageOf(file);
    const own = level.get(from);
    if (own === undefined && from.startsWith('src/')) throw new Error(`package ${from} (${relative(root, file)}) is in no layer of LAYERS: give it its place`);
    for (const m of readFileSync(file, 'utf8').matchAll(/(?:from|import\(|^import)\s*'(\.[^']+)'/gm)) {
      const to = packageOf(resolve(dirname(file), m[1]!));
      if (to === from || !level.has(to)) continue;
      if (level.get(to)! >= own!) upward.push(`${relative(root, file)} imports ${to} (${m[1]})`);
    }
  }
  expect(upward).toEqual([]);
});
