/** `lispwg show`: the state of running agents (like `wg show`), read from their admin sockets. */
import { parseArgs } from 'node:util';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { adminRequest } from '../xtr/admin.js';
import { renderStatus, type AgentStatus } from '../xtr/show.js';
import { LispwgError } from '../util/errors.js';

const HELP = `usage: lispwg show [NAME...] [--socket PATH] [--dir DIR] [--json]

Prints what running agents ('lispwg xtr') hold: map-cache entries, WireGuard peers with their
endpoints, latest handshakes and traffic, buffered and dropped packets, resolution latencies.
Without NAME or --socket: every agent whose admin socket is in DIR.

options:
      --socket PATH   the admin socket of one agent
      --dir DIR       where agents put their sockets (default $LISPWG_RUN_DIR, else /run/lispwg;
                      'lispwg lab exec' sets it to the node's directory)
      --json          print the status as JSON (one object per agent, in an array)
  -h, --help          this text`;

export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        socket: { type: 'string' },
        dir: { type: 'string', default: process.env.LISPWG_RUN_DIR || '/run/lispwg' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    });
  } catch (e) {
    throw new LispwgError('USAGE', `${(e as Error).message}\n\n${HELP}`);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(HELP + '\n');
    return 0;
  }
  const dir = values.dir!;
  let sockets: string[];
  const discovered = !values.socket && positionals.length === 0;
  if (values.socket) sockets = [values.socket];
  else if (positionals.length) sockets = positionals.map((n) => join(dir, `${n}.sock`));
  else {
    let names: string[] = [];
    try {
      names = readdirSync(dir).filter((f) => f.endsWith('.sock')).sort();
    } catch {
      // no directory: no agent has ever run here
    }
    sockets = names.map((f) => join(dir, f));
  }
  const answers = await Promise.allSettled(sockets.map((s) => adminRequest(s, 'show')));
  const statuses: AgentStatus[] = [];
  for (const [i, a] of answers.entries()) {
    if (a.status === 'rejected') {
      // a stale socket among those found: say so and go on; one asked for by name: fail
      if (!discovered) throw a.reason;
      process.stderr.write(`lispwg show: skipping ${sockets[i]}: ${(a.reason as Error).message}\n`);
    } else if (isAgentStatus(a.value)) statuses.push(a.value);
    else if (!discovered) throw new LispwgError('NOT_AN_AGENT', `${sockets[i]} is not an agent's admin socket (a Map-Server's? try 'lispwg ms show')`);
  }
  if (statuses.length === 0) throw new LispwgError('NO_AGENT', `no agent is running (no agent admin socket in ${dir}); start one with 'lispwg xtr --config FILE'`);
  if (values.json) process.stdout.write(JSON.stringify(statuses, null, 2) + '\n');
  else process.stdout.write(statuses.map(renderStatus).join('\n\n') + '\n');
  return 0;
}

function isAgentStatus(v: unknown): v is AgentStatus {
  return typeof v === 'object' && v !== null && 'dataPlane' in v && 'registration' in v && 'mapCache' in v;
}
