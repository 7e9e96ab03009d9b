/**
 * `lispwg lisp-dp`: a plain LISP data plane with a static map-cache, no Map-Server: the OOR
 * data plane on its own, for throughput benchmarks and interoperability checks with other LISP
 * data planes (anything that speaks UDP 4341). The agent (`lispwg xtr` with `dataplane: lisp`)
 * runs the same data plane with mappings it resolves.
 */
import { parseArgs } from 'node:util';
import { isIP } from 'node:net';
import { LispwgError } from '../util/errors.js';
import { createLogger, type Level } from '../util/log.js';
import { parseEidPrefix } from '../mapping/eid.js';
import { Rtnetlink } from '../net/rtnetlink.js';
import { TunDevice } from '../dataplane/tun/tun.js';
import { LispDataPlane, type MissPolicy } from '../dataplane/lisp/dataplane.js';

const USAGE = `usage: lispwg lisp-dp --map PREFIX=RLOC... [--address CIDR]... [options]

Runs a plain LISP data plane (RFC 9300) in this network namespace: packets routed into its TUN
are encapsulated (8-byte LISP header, UDP 4341) to the RLOC of their destination's mapping, and
UDP 4341 packets are decapsulated into the TUN. Prints its counters as one JSON line on exit.

  --map PREFIX=RLOC      a static mapping (repeatable); a route to PREFIX goes into the TUN
  --address CIDR         an address for the TUN (repeatable), e.g. this site's EID
  --tun NAME             TUN interface name (default lisp0)
  --mtu N                TUN MTU (default 1464: 1500 minus outer IPv4, UDP and LISP headers)
  --instance-id N        instance ID carried in the header (default 0: none)
  --listen ADDR          local address to receive on (repeatable; default 0.0.0.0 and ::)
  --port N               data port (default 4341)
  --miss-policy P        drop (default, as OOR) | buffer
  --log-level L          debug | info | warn | error
  -h, --help             this text`;

export async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      map: { type: 'string', multiple: true },
      address: { type: 'string', multiple: true },
      tun: { type: 'string', default: 'lisp0' },
      mtu: { type: 'string', default: '1464' },
      'instance-id': { type: 'string', default: '0' },
      listen: { type: 'string', multiple: true },
      port: { type: 'string', default: '4341' },
      'miss-policy': { type: 'string', default: 'drop' },
      'log-level': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  if (positionals.length) throw new LispwgError('BAD_FLAG', `lisp-dp takes no arguments, got '${positionals.join(' ')}'\n\n${USAGE}`);
  const num = (name: string, v: string, min: number, max: number): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new LispwgError('BAD_FLAG', `--${name} must be an integer in ${min}..${max}, got '${v}'`);
    return n;
  };
  const policy = values['miss-policy'];
  if (policy !== 'drop' && policy !== 'buffer') throw new LispwgError('BAD_FLAG', `--miss-policy must be drop or buffer, got '${policy}'`);
  const maps = (values.map ?? []).map((spec) => {
    const [prefix, rloc, ...rest] = spec.split('=');
    if (!prefix || !rloc || rest.length || !isIP(rloc)) throw new LispwgError('BAD_FLAG', `--map '${spec}': expected PREFIX=RLOC, e.g. 198.19.2.0/24=198.18.0.2`);
    return { prefix: parseEidPrefix(prefix), rloc };
  });
  if (!maps.length) throw new LispwgError('BAD_FLAG', `at least one --map PREFIX=RLOC is needed\n\n${USAGE}`);
  const log = createLogger({ node: values.tun }, values['log-level'] ? { level: values['log-level'] as Level } : {});

  const tun = TunDevice.open(values.tun);
  const rt = Rtnetlink.open();
  let dp: LispDataPlane | undefined;
  try {
    rt.setMtu(tun.name, num('mtu', values.mtu, 1280, 65535));
    for (const a of values.address ?? []) rt.addAddress(tun.name, a, { noDad: true });
    rt.setLinkUp(tun.name);
    for (const m of maps) rt.replaceRoute({ dst: `${m.prefix.address}/${m.prefix.maskLen}`, dev: tun.name });
    dp = await LispDataPlane.start({
      tun,
      instanceId: num('instance-id', values['instance-id'], 0, 0xffffff),
      port: num('port', values.port, 1, 65535),
      missPolicy: policy as MissPolicy,
      ...(values.listen ? { listen: values.listen } : {}),
      log,
    });
    for (const m of maps) dp.setMapping(m.prefix, [{ address: m.rloc, priority: 1, weight: 100 }]);
    const running = dp;
    await new Promise<void>((resolve) => {
      for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => resolve());
      process.stdout.write(JSON.stringify({ ready: true, tun: tun.name }) + '\n');
    });
    process.stdout.write(JSON.stringify(running.counters()) + '\n');
    return 0;
  } finally {
    await dp?.close();
    rt.close();
    tun.close();
  }
}
