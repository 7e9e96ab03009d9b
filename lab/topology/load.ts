/**
 * Reads a topology file through the one config loader (src/util/config-file.ts), then
 * validate.ts. Every problem is reported as `file:line:col: path: message` with a `fix:` line,
 * pointing at the node of the YAML document the problem is about.
 */
import { readFile } from 'node:fs/promises';
import { LispwgError } from '../../src/util/errors.js';
import { readConfigText, type ConfigWarning, type Deprecation } from '../../src/util/config-file.js';
import type { LabModel } from './model.js';
import { TopologyError, validateTopology } from './validate.js';

/** The camelCase keys of before one key style; accepted, with a warning, for one release. */
const DEPRECATED: readonly Deprecation[] = [
  { path: 'nodes.*.associationDelay', rename: 'association-delay' },
  { path: 'nodes.*.authKey', rename: 'auth-key' },
];

export interface LoadOptions {
  /** Each deprecation warning (default: printed on stderr). */
  onWarning?: (w: ConfigWarning) => void;
}

/** Parses and validates topology text; `file` names it in errors. */
export function parseTopology(text: string, file = '<topology>', opts: LoadOptions = {}): LabModel {
  const { data, doc } = readConfigText(text, file, {
    code: 'TOPOLOGY_INVALID',
    deprecations: DEPRECATED,
    makeError: (problems, message) => new TopologyError(problems, message),
    ...opts,
  });
  const { model, problems } = validateTopology(data, file);
  if (!model) throw doc.error(problems);
  return model;
}

/** Reads and validates a topology file. */
export async function loadTopology(file: string, opts: LoadOptions = {}): Promise<LabModel> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new LispwgError('TOPOLOGY_FILE', `cannot read topology file ${file}: ${(e as Error).message}`);
  }
  return parseTopology(text, file, opts);
}
