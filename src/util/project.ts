/**
 * Where the project lives on disk, found by walking up from this module to the package.json
 * named "lispwg": the same answer whether the code runs compiled (dist/) or as TypeScript (tests).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

export function projectRoot(): string {
  if (root) return root;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'lispwg') return (root = dir);
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the lispwg project root above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
}

/** The compiled CLI entry, for spawning `lispwg ms`, `lispwg xtr` as real processes. */
export const lispwgBin = (): string => join(projectRoot(), 'dist', 'src', 'cli', 'main.js');
/** The N-API addon (src/native), built by node-gyp; the same file whether code runs from src/ or dist/. */
export const nativeAddonPath = (): string => join(projectRoot(), 'src', 'native', 'build', 'Release', 'lispwg_native.node');

export const projectVersion = (): string =>
  (JSON.parse(readFileSync(join(projectRoot(), 'package.json'), 'utf8')) as { version: string }).version;
