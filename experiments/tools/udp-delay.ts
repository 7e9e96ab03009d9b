/**
 * A UDP relay that holds every datagram for a fixed time before forwarding it: the "deliberately
 * slowed variant" of the gate tests (lib/slow.ts steers a node's traffic to it with nftables).
 * Datagrams to LISTEN go to TO after DELAY ms, each client through its own socket bound to a port
 * from FROM-PORT up (so the node's DNAT rule can leave the relay's own traffic alone); answers go
 * back to that client after the same delay.
 *
 *   node dist/experiments/tools/udp-delay.js --listen 127.0.0.1:4343 --to 100.100.0.1:4342 --delay 20 --from-port 40000
 */
import dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { LispwgError } from '../../src/util/errors.js';

/** Clients served at once (one source port each). */
export const RELAY_PORTS = 16;

function endpoint(text: string | undefined, what: string): { address: string; port: number } {
  const m = text ? /^\[?([^\]]+?)\]?:(\d+)$/.exec(text) : null;
  if (!m) throw new LispwgError('BAD_FLAG', `--${what} wants ADDR:PORT, not '${text ?? ''}'`);
  return { address: m[1]!, port: Number(m[2]) };
}

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { listen: { type: 'string' }, to: { type: 'string' }, delay: { type: 'string' }, 'from-port': { type: 'string', default: '40000' } } });
  const listen = endpoint(values.listen, 'listen');
  const to = endpoint(values.to, 'to');
  const delay = Number(values.delay);
  const fromPort = Number(values['from-port']);
  if (!(delay >= 0)) throw new LispwgError('BAD_FLAG', `--delay wants milliseconds >= 0, not '${values.delay}'`);
  const type = isIPv6(listen.address) ? 'udp6' : 'udp4';
  const front = dgram.createSocket(type);
  const backs = new Map<string, dgram.Socket>();
  const backFor = async (client: dgram.RemoteInfo): Promise<dgram.Socket> => {
    const k = `${client.address}:${client.port}`;
    let b = backs.get(k);
    if (b) return b;
    if (backs.size >= RELAY_PORTS) throw new LispwgError('RELAY_FULL', `more than ${RELAY_PORTS} clients`);
    b = dgram.createSocket(type);
    backs.set(k, b);
    const port = fromPort + backs.size - 1;
    await new Promise<void>((r) => b!.bind(port, () => r()));
    b.on('message', (buf) => setTimeout(() => front.send(buf, client.port, client.address), delay));
    return b;
  };
  front.on('message', (buf, from) => {
    void backFor(from).then(
      (b) => setTimeout(() => b.send(buf, to.port, to.address), delay),
      (e: unknown) => process.stderr.write(`udp-delay: ${e instanceof Error ? e.message : String(e)}\n`),
    );
  });
  await new Promise<void>((r) => front.bind(listen.port, listen.address, () => r()));
  process.stdout.write(`udp-delay: ${listen.address}:${listen.port} -> ${to.address}:${to.port}, ${delay} ms each way\n`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2)).catch((e: unknown) => {
    process.stderr.write(`udp-delay: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  });
}
