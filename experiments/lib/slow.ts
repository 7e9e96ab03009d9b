/**
 * Holding one kind of datagram a node sends for a fixed time, on the wire: every UDP datagram from
 * `node` to DADDR:DPORT goes through a relay in the node's namespace (tools/udp-delay.ts) that
 * forwards it DELAY ms later. An nftables DNAT rule in that namespace (never the root one) steers
 * the node's datagrams to the relay; the relay's own sockets (ports 40000-40015) are left alone.
 * The programs at both ends are untouched.
 *
 * Two uses: the deliberately slowed variant of the gate tests (`--inject-delay VARIANT:MS`: every
 * LISP control message to and from the Map-Server), and OOR's SMR hold-down in the handover
 * baseline.
 */
import { join } from 'node:path';
import type { Lab } from '../../lab/lab.js';
import { projectRoot } from '../../src/util/project.js';
import { RELAY_PORTS } from '../tools/udp-delay.js';
import { CONTROL_PORT, rlocOf } from '../../lab/roles.js';
import { LispwgError } from '../../src/util/errors.js';

const FROM_PORT = 40000;

async function holdDatagrams(lab: Lab, node: string, to: { address: string; port: number }, delayMs: number, relayPort = 4343): Promise<void> {
  const listen = `127.0.0.1:${relayPort}`;
  const relay = await lab.spawn(node, `udp-delay-${relayPort}`, ['node', join(projectRoot(), 'dist', 'experiments', 'tools', 'udp-delay.js'), '--listen', listen, '--to', `${to.address}:${to.port}`, '--delay', String(delayMs), '--from-port', String(FROM_PORT)]);
  await relay.waitForLog(/udp-delay:/, 10_000);
  const rules = [
    'table ip lispwg_hold {',
    '  chain out {',
    '    type nat hook output priority -100; policy accept;',
    `    ip daddr ${to.address} udp dport ${to.port} udp sport != ${FROM_PORT}-${FROM_PORT + RELAY_PORTS - 1} dnat to ${listen}`,
    '  }',
    '}',
  ].join('\n');
  await lab.exec(node, ['nft', '-f', '-'], { input: rules });
}

/**
 * The gate tests' slowed variant: `node`'s control tunnel to its Map-Server held `delayMs` each
 * way, so every LISP control message inside it is. The relay holds the tunnel's underlay
 * datagrams (WireGuard's: the agent and the Map-Server hear control only from their tunnel
 * interfaces, so a relay inside the tunnel could not answer for the Map-Server); WireGuard sees
 * the relay's port as the node's new endpoint and carries on.
 */
export function injectControlDelay(lab: Lab, node: string, delayMs: number): Promise<void> {
  const n = lab.model.nodes.find((x) => x.name === node);
  const ms = n?.role && lab.model.nodes.find((x) => x.name === n.role!.ms);
  const address = ms && rlocOf(lab.model, ms);
  if (!address) throw new LispwgError('EXP_NO_MS', `${node} in lab ${lab.name} has no Map-Server reachable on the underlay`);
  return holdDatagrams(lab, node, { address, port: CONTROL_PORT }, delayMs);
}
