/**
 * A drawing of a topology in Mermaid (`lispwg lab graph FILE`): one shape per kind, links labelled
 * with their interfaces, addresses and rate; Wi-Fi stations dashed to their access point
 * (labelled when not associated at start). Render it with any Mermaid viewer (GitHub shows it).
 */
import { cidrText } from './addr.js';
import type { LabModel, NodeModel } from './model.js';
import { formatRate } from './units.js';

const esc = (s: string): string => s.replace(/"/g, '#quot;');
const id = (name: string): string => `n_${name.replace(/[^A-Za-z0-9_]/g, '_')}`;

function shape(n: NodeModel): string {
  const eids = n.role?.eids.length ? `<br/>EID ${n.role.eids.map(cidrText).join(', ')}` : '';
  switch (n.kind) {
    case 'ms':
      return `[["${esc(`${n.name}<br/>Map-Server`)}"]]`;
    case 'xtr':
      return `[/"${esc(`${n.name}<br/>xTR${eids}`)}"\\]`;
    case 'mn':
      return `(["${esc(`${n.name}<br/>MN${eids}`)}"])`;
    case 'router':
      return `(("${esc(n.name)}"))`;
    case 'switch':
      return `{{"${esc(`${n.name}<br/>switch`)}"}}`;
    case 'ap':
      return `>"${esc(`${n.name}<br/>AP ${n.ap ? cidrText(n.ap.subnet) : ''}`)}"]`;
    default:
      return `["${esc(n.name)}"]`;
  }
}

export function mermaid(model: LabModel): string {
  const lines = ['flowchart LR', `  %% ${model.name}${model.description ? `: ${model.description}` : ''}`];
  for (const n of model.nodes) lines.push(`  ${id(n.name)}${shape(n)}`);
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
