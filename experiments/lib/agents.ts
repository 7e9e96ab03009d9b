/**
 * Driving the lab's lispwg agents from an experiment: their admin sockets (show, flush), their
 * event logs (read from an offset, so each repetition sees only its own events) and their EIDs.
 */
import { copyFileSync, existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LispwgError } from '../../src/util/errors.js';
import { adminRequest } from '../../src/xtr/admin.js';
import type { AgentStatus, WireGuardAgentStatus } from '../../src/xtr/show.js';
import type { Lab } from '../../lab/lab.js';
import { nodeDir } from '../../lab/names.js';
import { cidrText } from '../../lab/topology/addr.js';
import type { ExperimentRun } from './run.js';

const agentSocket = (lab: Lab, node: string): string => join(nodeDir(lab.name, node), 'agent.sock');
const eventLogOf = (lab: Lab, node: string): string => join(nodeDir(lab.name, node), 'events.jsonl');

/** A node's first EID address (its EID prefix's address). */
export function eidOf(lab: Lab, node: string): string {
  const n = lab.model.nodes.find((x) => x.name === node);
  const e = n?.role?.eids[0];
  if (!e) throw new LispwgError('EXP_NO_EID', `${node} has no EID in lab ${lab.name}`);
  return cidrText(e).split('/')[0]!;
}

/** The nodes that run a lispwg agent (`lispwg xtr`: xtr and mn nodes): those with its admin socket. */
export const agentNodes = (lab: Lab): string[] => lab.model.nodes.map((n) => n.name).filter((n) => existsSync(agentSocket(lab, n)));

export async function status(lab: Lab, node: string): Promise<AgentStatus> {
  return (await adminRequest(agentSocket(lab, node), 'show')) as AgentStatus;
}

/** The status of an agent with the WireGuard data plane (throws for a plain LISP one). */
export async function wgStatus(lab: Lab, node: string): Promise<WireGuardAgentStatus> {
  const st = await status(lab, node);
  if (st.dataPlane !== 'wireguard') throw new LispwgError('EXP_NOT_WIREGUARD', `the agent on ${node} runs the ${st.dataPlane} data plane, not WireGuard`);
  return st;
}

/** Waits until the agents have registered with the Map-Server. */
async function waitRegistered(lab: Lab, nodes: readonly string[], timeoutMs = 15_000): Promise<void> {
  for (const n of nodes) {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const st = await status(lab, n).catch(() => undefined);
      if (st?.registration.state === 'registered') break;
      if (Date.now() > end) throw new LispwgError('EXP_NOT_REGISTERED', `the agent on ${n} did not register within ${timeoutMs / 1000} s (see ${nodeDir(lab.name, n)}/lispwg.log)`);
      await sleep(50);
    }
  }
}

/** Waits for the agents' registration, and records their WireGuard backend (per lab) in the run's metadata. */
export async function agentsReady(run: ExperimentRun, lab: Lab, nodes: readonly string[], timeoutMs = 15_000): Promise<void> {
  await waitRegistered(lab, nodes, timeoutMs);
  const st = await status(lab, nodes[0]!);
  run.annotate({ wireguardBackend: { ...((run.metadata.wireguardBackend as Record<string, string> | undefined) ?? {}), [lab.name]: st.dataPlane === 'wireguard' ? st.wireguardBackend : 'none (plain LISP data plane)' } });
}

/** Empties the agents' map-caches, peers and routes (a cold start without restarting them). */
export async function flush(lab: Lab, nodes: readonly string[]): Promise<void> {
  await Promise.all(nodes.map((n) => adminRequest(agentSocket(lab, n), 'flush')));
}

export interface AgentEventLine {
  t: number;
  event: string;
  [k: string]: unknown;
}

/** The event log's length now: read events from here after the next step. */
export const eventOffset = (lab: Lab, node: string): number => (existsSync(eventLogOf(lab, node)) ? statSync(eventLogOf(lab, node)).size : 0);

/** Events written since `offset`; waits (the log is written through a stream) until `until` is among them. */
export async function eventsSince(lab: Lab, node: string, offset: number, until?: (e: AgentEventLine) => boolean, timeoutMs = 2000): Promise<AgentEventLine[]> {
  const file = eventLogOf(lab, node);
  const end = Date.now() + timeoutMs;
  for (;;) {
    const text = existsSync(file) ? readFileSync(file).subarray(offset).toString('utf8') : '';
    const lines = text.split('\n');
    lines.pop(); // the last line may still be being written
    const events = lines.filter((l) => l.trim()).map((l) => JSON.parse(l) as AgentEventLine);
    if (!until || events.some(until) || Date.now() > end) return events;
    await sleep(10);
  }
}

/** Copies the agents' event logs into the run's directory (`<tag>.<node>.events.jsonl`): the evidence of a failed repetition. */
export function keepEventLogs(run: ExperimentRun, lab: Lab, nodes: readonly string[], tag: string): string[] {
  const kept: string[] = [];
  for (const n of nodes) {
    const from = eventLogOf(lab, n);
    if (!existsSync(from)) continue;
    const to = join(run.dir, `${tag}.${n}.events.jsonl`);
    copyFileSync(from, to);
    kept.push(to);
  }
  return kept;
}
