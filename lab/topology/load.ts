/**
 * Reads a topology file: YAML with positions, then validate.ts. Every problem is reported as
 * `file:line:col: path: message` with a `fix:` line, pointing at the node of the YAML document
 * the problem is about.
 */
import { readFile } from 'node:fs/promises';
import { relative } from 'node:path';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node as YamlNode } from 'yaml';
import { LispwgError } from '../../src/util/errors.js';
import type { LabModel } from './model.js';
import { formatProblems, type Path, TopologyError, validateTopology } from './validate.js';

/** The YAML node at `path`, or the deepest existing ancestor (for a missing key). */
function nodeAt(doc: Document, path: Path): YamlNode | undefined {
  let cur: unknown = doc.contents;
  for (const key of path) {
    if (isMap(cur)) {
      const pair = cur.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(key));
      if (!pair) return cur;
      cur = pair.value ?? pair.key;
    } else if (isSeq(cur) && typeof key === 'number' && cur.items[key]) {
      cur = cur.items[key];
    } else return cur as YamlNode;
  }
  return cur as YamlNode;
}

/**
 * Where a problem is: the key of a map entry when the problem is the key (an unknown key) or the
 * entry is a map (a node), else the value.
 */
function positionOf(doc: Document, path: Path, lines: LineCounter, atKey: boolean): { line: number; col: number } {
  let offset = 0;
  const parent = path.length ? nodeAt(doc, path.slice(0, -1)) : undefined;
  const last = path[path.length - 1];
  if (parent && isMap(parent)) {
    const pair = parent.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(last));
    const valueIsLeaf = pair?.value && (isScalar(pair.value) || isSeq(pair.value));
    if (pair && isScalar(pair.key) && pair.key.range && (atKey || !valueIsLeaf)) offset = pair.key.range[0];
  }
  if (!offset) offset = nodeAt(doc, path)?.range?.[0] ?? 0;
  return lines.linePos(offset);
}

/** Parses and validates topology text; `file` names it in errors. */
export function parseTopology(text: string, file = '<topology>'): LabModel {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const shown = relative(process.cwd(), file).startsWith('..') ? file : relative(process.cwd(), file) || file;
  if (doc.errors.length) {
    const problems = doc.errors.map((e) => ({ path: [], message: `YAML: ${e.message.split('\n')[0]}`, hint: 'check indentation and quoting (quote values that contain ": " or start with [ { * &)', pos: e.linePos?.[0] }));
    throw new TopologyError(
      problems,
      problems.map((p) => `${shown}:${p.pos?.line ?? 1}:${p.pos?.col ?? 1}: ${p.message}\n    fix: ${p.hint}`).join('\n'),
    );
  }
  const { model, problems } = validateTopology(doc.toJS(), file);
  if (!model) {
    throw new TopologyError(problems, formatProblems(problems, (p) => {
      const pos = positionOf(doc, p.path, lines, p.atKey === true);
      return `${shown}:${pos.line}:${pos.col}: `;
    }));
  }
  return model;
}

/** Reads and validates a topology file. */
export async function loadTopology(file: string): Promise<LabModel> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new LispwgError('TOPOLOGY_FILE', `cannot read topology file ${file}: ${(e as Error).message}`);
  }
  return parseTopology(text, file);
}
