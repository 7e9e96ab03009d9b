/**
 * Building a lab from code, as Mininet's Topo does, with the same model as a topology file:
 *
 *   const t = new Topology('x');
 *   t.addNode('ms', { kind: 'ms' });
 *   t.addNode('sw', { kind: 'switch' });
 *   t.addLink(['ms:eth0', 'sw:p1'], { addresses: { ms: '198.18.0.1/24' } });
 *   const model = t.build();          // validated exactly like a YAML file
 *   t.toYaml();                       // the equivalent file
 */
import { Document, isMap, isSeq } from 'yaml';
import type { LabModel } from './model.js';
import type { RawLink, RawNode, RawTopology } from './schema.js';
import { formatProblems, TopologyError, validateTopology } from './validate.js';

type NodeOptions = RawNode;
type LinkOptions = Omit<RawLink, 'endpoints'>;

export class Topology {
  private readonly raw: RawTopology;

  constructor(name: string, opts: { description?: string; defaults?: RawTopology['defaults'] } = {}) {
    this.raw = { name, ...opts, nodes: {}, links: [] };
  }

  addNode(name: string, node: NodeOptions): this {
    this.raw.nodes[name] = node;
    return this;
  }

  addLink(endpoints: [string, string], opts: LinkOptions = {}): this {
    this.raw.links!.push({ endpoints, ...opts });
    return this;
  }

  /** Validates and returns the model; throws TopologyError listing every problem. */
  build(): LabModel {
    const { model, problems } = validateTopology(structuredClone(this.raw));
    if (!model) throw new TopologyError(problems, formatProblems(problems, () => `topology '${this.raw.name}': `));
    return model;
  }

  /** The topology as a file lispwg lab up reads: one line per node, link fields in flow style. */
  toYaml(): string {
    const doc = new Document(this.raw);
    const nodes = doc.get('nodes');
    if (isMap(nodes)) for (const p of nodes.items) if (isMap(p.value)) p.value.flow = true;
    const links = doc.get('links');
    if (isSeq(links)) {
      for (const l of links.items) {
        if (!isMap(l)) continue;
        for (const p of l.items) if (isMap(p.value) || isSeq(p.value)) p.value.flow = true;
      }
    }
    const defaults = doc.get('defaults');
    if (isMap(defaults)) for (const p of defaults.items) if (isMap(p.value)) p.value.flow = true;
    return doc.toString({ lineWidth: 0 });
  }
}
