/**
 * A drawing of a topology in Mermaid (`lispwg lab graph FILE`): one shape per kind (the kind's
 * `shape`, lab/kinds/), links labelled with their interfaces, addresses and rate; Wi-Fi stations
 * dashed to their access point (labelled when not associated at start). Render it with any Mermaid viewer (GitHub shows it).
 */
import { kindOf } from '../kinds/index.js';
import { cidrText } from './addr.js';
import type { LabModel } from './model.js';
import { formatRate } from './units.js';

const esc = (s: string): string => s.replace(/"/g, '#quot;');
const id = (name: string): string => `n_${name.replace(/[^A-Za-z0-9_]/g, '_')}`;

export function mermaid(model: LabModel): string {
  const lines = ['flowchart LR', `  %% ${model.name}${model.description ? `: ${model.description}` : ''}`];
  for (const n of model.nodes) lines.push(`  ${id(n.name)}${kindOf(n.kind).shape(n, esc)}`);
  for (const l of model.links) {
    const end = (e: typeof l.a) => [e.iface, ...e.addresses.map(cidrText)].join(' ');
    const extra = [l.shaping.rateBps ? formatRate(l.shaping.rateBps) : '', l.shaping.delayMs !== undefined ? `${l.shaping.delayMs}ms` : '', l.shaping.lossPct !== undefined ? `${l.shaping.lossPct}% loss` : '']
      .filter(Boolean)
      .join(', ');
    lines.push(`  ${id(l.a.node)} ---|"${esc(`${end(l.a)} — ${end(l.b)}${extra ? `<br/>${extra}` : ''}`)}"| ${id(l.b.node)}`);
  }
  for (const n of model.nodes) {
    for (const s of n.wifi) {
      const label = esc(`${s.iface} ${cidrText(s.address)}${s.associated ? '' : ' (not associated)'}`);
      lines.push(`  ${id(n.name)} -.-|"${label}"| ${id(s.ap)}`);
    }
  }
  return lines.join('\n') + '\n';
}
