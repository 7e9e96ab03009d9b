#!/usr/bin/env node
/**
 * `lispwg`: the command-line entry. Each subcommand lives in its own module and is loaded only
 * when used, so `lispwg decode` does not pay for the lab or the daemons.
 *
 * This is the one place that joins the layers: control-plane commands come from src/, `lab`
 * from lab/ and `exp` from experiments/ (imports otherwise flow experiments -> lab -> src).
 */
import { LispwgError } from '../util/errors.js';

interface Subcommand {
  summary: string;
  load: () => Promise<{ main: (argv: string[]) => Promise<number | void> }>;
}

// Add a subcommand here: a name, a one-line summary, and the module that implements it.
const commands: Record<string, Subcommand> = {
  decode: { summary: 'print the LISP messages in a hex string, a file of bytes or a pcap', load: () => import('./decode.js') },
  genkey: { summary: 'print a new WireGuard private key (base64, like wg genkey)', load: () => import('./keys.js') },
  pubkey: { summary: 'read a private key on stdin, print its public key (like wg pubkey)', load: () => import('./keys.js') },
  ms: { summary: 'run the Map-Server / Map-Resolver; ms show, ms reload talk to a running one', load: () => import('./ms.js') },
  query: { summary: 'send a Map-Request to a Map-Server and print the reply and RTT (our lig); --rate/--count floods', load: () => import('./query.js') },
  xtr: { summary: 'run the tunnel router / mobile node agent (--dry-run prints what it would configure)', load: () => import('./xtr.js') },
  show: { summary: 'show running agents: map-cache, peers, endpoints, handshakes, traffic, buffered and dropped packets', load: () => import('./show.js') },
  'lisp-dp': { summary: 'run a plain LISP data plane (the OOR baseline) with a static map-cache', load: () => import('./lisp-dp.js') },
  exp: { summary: 'the experiments: run one (quick/full), figures, report, gates, paper', load: () => import('../../experiments/cli.js') },
  lab: { summary: 'the test-bed: bring topologies up/down, inspect, exec, check, graph', load: () => import('../../lab/cli.js') },
};


function usage(): string {
  const width = Math.max(...Object.keys(commands).map((n) => n.length));
  return [
    'usage: lispwg <command> [options]',
    '',
    ...Object.entries(commands).map(([n, c]) => `  ${n.padEnd(width)}  ${c.summary}`),
    '',
    "run 'lispwg <command> --help' for a command's options",
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '-h' || name === '--help' || name === 'help') {
    process.stdout.write(usage() + '\n');
    return name ? 0 : 1;
  }
  const cmd = commands[name];
  if (!cmd) {
    process.stderr.write(`lispwg: unknown command '${name}'\n\n${usage()}\n`);
    return 1;
  }
  const mod = await cmd.load();
  // keys.js serves both genkey and pubkey: it receives the command name first
  const code = await mod.main(name === 'genkey' || name === 'pubkey' ? [name, ...rest] : rest);
  return typeof code === 'number' ? code : 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const code = (err as { code?: unknown } | undefined)?.code;
    if (err instanceof LispwgError) process.stderr.write(`lispwg: ${err.message} [${err.code}]\n`);
    else if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_')) {
      // node:util parseArgs: a flag the command does not have, or one without its value
      const [name, verb] = process.argv.slice(2);
      const what = [name, verb && !verb.startsWith('-') ? verb : undefined].filter(Boolean).join(' ');
      process.stderr.write(`lispwg ${what}: ${(err as Error).message.split('. ')[0]} (see 'lispwg ${what} --help')\n`);
      process.exitCode = 2;
      return;
    } else process.stderr.write(`lispwg: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
