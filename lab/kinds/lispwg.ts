/**
 * What the three lispwg kinds share: the requirements of a lispwg daemon, and the site daemon
 * (`lispwg xtr`) that xtr and mn nodes run, in the mode of their kind.
 */
import { join } from 'node:path';
import { LispwgError } from '../../src/util/errors.js';
import { adminRequest } from '../../src/xtr/admin.js';
import { lispwgBin, nativeAddonPath } from '../../src/util/project.js';
import { wgInterface } from '../names.js';
import { CONTROL_PORT, METRICS_PORT, type DaemonContext, lispwgPlan, rlocInterfaces, rlocOf, saveKey, shortName } from '../roles.js';
import { cidrText, ipText } from '../topology/addr.js';
import type { NodeModel } from '../topology/model.js';
import type { Daemon, Requirement } from './kind.js';
import { file } from './kind.js';

/** Every lispwg daemon runs the built CLI and opens WireGuard devices. */
export const lispwgNeeds: Requirement[] = [
  file('the built lispwg CLI', lispwgBin, 'the daemon runs as `node dist/src/cli/main.js ms|xtr`', "run 'npm run build'"),
  file("lispwg's native addon (src/native: TUN, netlink)", nativeAddonPath, 'the daemon reaches the kernel (interfaces, routes, the TUN) through it', "run 'bash lab/setup.sh' (node-gyp builds it)"),
  {
    what: 'WireGuard (the kernel module, or wireguard-go)',
    why: 'the daemon opens its control tunnel (and a site its data interface) as WireGuard devices',
    fix: "run 'bash lab/setup.sh', which installs wireguard-go",
    // loaded here only: validating a topology needs none of the WireGuard code
    probe: () =>
      import('../../src/wg/wireguard.js')
        .then((wg) => wg.detectWireGuardBackend())
        .then(
          () => undefined,
          // without the addon nothing can be probed: its own requirement says so
          (e: Error & { code?: string }) => (e.code === 'ADDON_MISSING' ? undefined : e.message),
        ),
  },
];

const SITE_SOCKET = 'agent.sock';

/**
 * Node flags of a site's agent. Started with hundreds of others on two cores, an agent's young
 * generation grew to V8's 16 MB semi-spaces in the allocation burst of its start and stayed there
 * (35 MB anonymous memory per idle agent); capped at 1 MB it holds 22 MB with the same start-up
 * CPU (a scavenge of 1 MB takes well under a millisecond). One V8 worker thread instead of one per
 * core and a spare: 8 threads per agent instead of 11. Every site's agent gets them, so the two
 * data planes are compared under the same flags.
 */
const AGENT_NODE_FLAGS = ['--max-semi-space-size=1', '--v8-pool-size=1'];
const tunDevice = file('the TUN device', () => '/dev/net/tun', 'the agent catches packets to unresolved EIDs on a TUN interface', "load the tun module ('modprobe tun')");

/** A site's daemon: `lispwg xtr` in the mode of its kind (`xtr` or `mn`). */
export function siteDaemon(mode: 'xtr' | 'mn'): Daemon {
  return {
    process: 'lispwg',
    label: 'lispwg xtr',
    socket: SITE_SOCKET,
    async status(socket) {
      const s = (await adminRequest(socket, 'show')) as { registration?: { state?: string }; mapCache?: unknown[]; peers?: unknown[] };
      return `${s.registration?.state ?? 'no registration'}, ${s.mapCache?.length ?? 0} map-cache entries, ${s.peers?.length ?? 0} peers`;
    },
    needs: [...lispwgNeeds, tunDevice],
    plan: (ctx) => sitePlan(ctx, mode),
  };
}

async function sitePlan(ctx: DaemonContext, mode: 'xtr' | 'mn') {
  const { lab, model, node: n, dir } = ctx;
  const role = n.role!;
  // the Map-Server, then its replicas: each a peer of the control tunnel
  const servers = [role.ms!, ...(role.msReplicas ?? [])].map((name) => {
    const ms = model.nodes.find((m) => m.name === name)!;
    const rloc = rlocOf(model, ms);
    if (!rloc) throw new LispwgError('LAB_ROLE', `Map-Server ${ms.name} has no address for ${n.name} to reach it: give its link an address`);
    return { address: rloc, port: CONTROL_PORT, 'control-address': ipText(ms.role!.control), 'public-key': ctx.pub(ms.name, 'control') };
  });
  const controlKey = await saveKey(ctx, 'control');
  const dataKey = await saveKey(ctx, 'data');
  const controlIf = wgInterface(lab, n.name, 'c');
  const dataIf = wgInterface(lab, n.name, 'd');
  const tunIf = wgInterface(lab, n.name, 't');
  const auth = ctx.keys.get(n.name)!.auth;
  const config = {
    name: shortName(n.name),
    mode,
    'eid-prefixes': role.eids.map((e) => ({ prefix: cidrText(e) })),
    'rloc-interfaces': rlocInterfaces(model, n).map((name) => ({ name })),
    'map-server': { ...servers[0]!, 'shared-key': auth, 'key-id': 1, ...(servers.length > 1 ? { replicas: servers.slice(1) } : {}) },
    control: { interface: controlIf, address: cidrText(role.control), 'private-key-file': controlKey },
    data: { interface: dataIf, 'private-key-file': dataKey },
    tun: { interface: tunIf },
    'eid-space': ctx.space,
    'state-dir': dir,
    'admin-socket': join(dir, SITE_SOCKET),
    'metrics-listen': `${ipText(role.control)}:${METRICS_PORT}`,
  };
  return lispwgPlan(ctx, {
    command: 'xtr',
    config,
    args: ['--event-log', join(dir, 'events.jsonl')],
    interfaces: [controlIf, dataIf, tunIf],
    publicKeys: { control: ctx.pub(n.name, 'control'), data: ctx.pub(n.name, 'data') },
    nodeFlags: AGENT_NODE_FLAGS,
  });
}

/** `<br/>EID 198.19.1.1/32` under a site's name in the graph. */
export const eidLine = (n: NodeModel): string => (n.role?.eids.length ? `<br/>EID ${n.role.eids.map(cidrText).join(', ')}` : '');
