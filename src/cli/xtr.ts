/** `lispwg xtr`: runs the tunnel router / mobile node agent (or prints its plan with --dry-run). */
import { parseArgs } from 'node:util';
import { networkInterfaces } from 'node:os';
import { loadConfig } from '../xtr/config.js';
import { makePlan, renderPlan } from '../xtr/plan.js';
import { peekPublicKey } from '../xtr/key-source.js';
import { LispwgError } from '../util/errors.js';
import { parseListenAddress } from '../metrics/http.js';

const HELP = `usage: lispwg xtr --config FILE [--dry-run] [--event-log FILE] [--metrics-listen ADDR:PORT]

Runs the LISP+WireGuard agent of a tunnel router (mode xtr: EID hosts behind it) or a mobile
node (mode mn: the EID is on this node): a control WireGuard tunnel to the Map-Server, EID
registration, miss capture on a TUN, and on-demand WireGuard peers for the destinations it
resolves. Stop it with SIGINT or SIGTERM: it removes every interface, route and peer it made.

options:
  -c, --config FILE     the agent's YAML config
      --dry-run         print what it would configure, change nothing
      --event-log FILE  append the event log (JSON lines) to FILE (overrides event-log:)
      --metrics-listen ADDR:PORT
                        serve Prometheus metrics at http://ADDR:PORT/metrics (IPv6: [ADDR]:PORT;
                        overrides metrics-listen:)
  -h, --help            this text

Watch a running agent with 'lispwg show'.`;

export async function main(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        config: { type: 'string', short: 'c' },
        'dry-run': { type: 'boolean' },
        'event-log': { type: 'string' },
        'metrics-listen': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (e) {
    throw new LispwgError('USAGE', `${(e as Error).message}\n\n${HELP}`);
  }
  if (values.help) {
    process.stdout.write(HELP + '\n');
    return 0;
  }
  if (!values.config) throw new LispwgError('USAGE', `lispwg xtr needs --config FILE\n\n${HELP}`);
  const config = loadConfig(values.config);
  if (values['event-log']) config.eventLog = values['event-log'];
  if (values['metrics-listen'] !== undefined) config.metricsListen = parseListenAddress(values['metrics-listen'], '--metrics-listen');

  if (values['dry-run']) {
    const keys = {
      control: (await peekPublicKey(config.control.privateKey, 'control')) ?? '(generated at start)',
      data: (await peekPublicKey(config.data.privateKey, 'data')) ?? '(generated at start)',
    };
    const nics = networkInterfaces();
    const rlocs: Record<string, string[]> = {};
    for (const r of config.rlocInterfaces) {
      const a = nics[r.name];
      if (a) rlocs[r.name] = a.filter((x) => !x.internal && !(x.family === 'IPv6' && x.address.startsWith('fe80:'))).map((x) => x.address);
    }
    process.stdout.write(renderPlan(makePlan(config), keys, rlocs) + '\n');
    return 0;
  }

  const { runAgent } = await import('../xtr/agent.js');
  return runAgent(config);
}
