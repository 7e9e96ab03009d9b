/**
 * `oor`: a LISP site's xTR (or, `config: { mode: mn }`, a mobile node) run by the real Open Overlay Router (the researcher's own `oor`
 * binary: lispwg never ships OOR, its code, or a way to build it). lispwg writes OOR's
 * configuration from the topology: the site's shared key, EID prefixes and RLOC interfaces, the
 * lispwg Map-Server's underlay address as Map-Server and Map-Resolver (proxy-reply on), and the
 * RLOC-probing interval (`probe-interval`, seconds; OOR's default 30). The Map-Server lists the
 * site as a plain one (no control tunnel, no key: OOR 1.3 dies on the Security Key LCAF) and
 * listens on its underlay address. OOR is up when its log (`oor.log` in the node's directory)
 * says it started, in service when the Map-Server has its registration.
 *
 * The binary: `lispwg lab up --oor PATH`, else $LISPWG_OOR, else `oor` on PATH.
 */
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { readFile, writeFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { LispwgError } from '../../src/util/errors.js';
import { type DaemonContext, rlocInterfaces, rlocOf } from '../roles.js';
import { cidrText } from '../topology/addr.js';
import type { NodeModel } from '../topology/model.js';
import type { Daemon, Kind, Requirement } from './kind.js';
import { tool } from './kind.js';
import { eidLine } from './lispwg.js';

/** OOR's default RLOC-probing interval (s), which `probe-interval` overrides. */
export const OOR_PROBE_INTERVAL_S = 30;
/** The line OOR logs once its control and data planes are up (oor.c). */
export const OOR_STARTED = '): started...';
/** What an OOR xTR logs when its Map-Server acknowledged its Map-Register with a Map-Notify. */
export const OOR_REGISTERED = 'confirms correct registration';

/** The OOR binary: $LISPWG_OOR (what `--oor PATH` sets), else `oor` on PATH; undefined: none. */
export function oorBinary(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.LISPWG_OOR) return existsSync(env.LISPWG_OOR) ? env.LISPWG_OOR : undefined;
  for (const dir of [...(env.PATH ?? '').split(delimiter), '/usr/local/sbin', '/usr/sbin', '/sbin']) {
    if (dir && existsSync(join(dir, 'oor'))) return join(dir, 'oor');
  }
  return undefined;
}

export const oorNeed: Requirement = {
  what: 'the OOR binary (Open Overlay Router)',
  why: 'an oor node runs the real OOR as its xTR',
  fix: "build OOR from its public source (github.com/OpenOverlayRouter/oor; lispwg does not ship it) and pass 'lispwg lab up --oor PATH', set LISPWG_OOR, or put 'oor' on PATH",
  probe: async () => {
    if (oorBinary()) return undefined;
    return process.env.LISPWG_OOR ? `LISPWG_OOR=${process.env.LISPWG_OOR} does not exist` : 'no --oor PATH, no LISPWG_OOR, and no oor on PATH';
  },
};

/** OOR's configuration (libconfuse syntax) for an xTR of the site `n`. */
export function oorConfig(ctx: DaemonContext): string {
  const { model, node: n } = ctx;
  const role = n.role!;
  const ms = model.nodes.find((m) => m.name === role.ms)!;
  const msRloc = rlocOf(model, ms);
  if (!msRloc) throw new LispwgError('LAB_ROLE', `Map-Server ${ms.name} has no address for ${n.name} to reach it: give its link an address`);
  const probe = probeInterval(n);
  const mode = oorMode(n);
  const ifaces = rlocInterfaces(model, n);
  const families = (name: string) => {
    const i = model.links.flatMap((l) => [l.a, l.b]).find((e) => e.node === n.name && e.iface === name);
    const fams = new Set((i?.addresses ?? []).map((a) => (a.family === 'ipv6' ? 6 : 4)));
    return fams.size ? [...fams] : [4];
  };
  const q = (s: string) => JSON.stringify(s); // libconfuse takes C-style quoted strings
  const lines = [
    '# written by lispwg lab from the topology: OOR as an xTR of the lispwg Map-Server',
    'debug = 1',
    'map-request-retries = 2',
    `operating-mode = "${mode === 'mn' ? 'MN' : 'xTR'}"`,
    'encapsulation = "LISP"',
    'rloc-probing {',
    `    rloc-probe-interval = ${probe}`,
    '    rloc-probe-retries = 2',
    `    rloc-probe-retries-interval = ${Math.max(1, Math.min(5, probe))}`,
    '}',
    `map-resolver = { ${q(msRloc)} }`,
    'map-server {',
    `    address = ${q(msRloc)}`,
    '    key-type = 1',
    `    key = ${q(ctx.keys.get(n.name)!.auth)}`,
    '    proxy-reply = on',
    '}',
    ...role.eids.flatMap((e) => [
      'database-mapping {',
      `    eid-prefix = ${q(cidrText(e))}`,
      '    iid = 0',
      '    ttl = 10',
      ...ifaces.flatMap((i) => families(i).flatMap((v) => ['    rloc-iface {', `        interface = ${q(i)}`, `        ip_version = ${v}`, '        priority = 1', '        weight = 100', '    }'])),
      '}',
    ]),
  ];
  return lines.join('\n') + '\n';
}

/** `mode` of the node's `config`: xtr (a site's router, default) or mn (OOR's mobile node: its EID on lispTun0). */
function oorMode(n: NodeModel): 'xtr' | 'mn' {
  const other = Object.keys(n.role!.config).filter((k) => k !== 'probe-interval' && k !== 'mode');
  if (other.length) throw new LispwgError('LAB_ROLE', `${n.name}: an oor node's config takes only mode and probe-interval, not ${other.join(', ')}`);
  const v = n.role!.config.mode ?? 'xtr';
  if (v !== 'xtr' && v !== 'mn') throw new LispwgError('LAB_ROLE', `${n.name}: config.mode is xtr or mn, not ${JSON.stringify(v)}`);
  return v;
}

/** `probe-interval` of the node's `config` (seconds, 0: no probing), else OOR's default. */
function probeInterval(n: NodeModel): number {
  const v = n.role!.config['probe-interval'];
  if (v === undefined) return OOR_PROBE_INTERVAL_S;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new LispwgError('LAB_ROLE', `${n.name}: config.probe-interval must be a whole number of seconds (0: no RLOC probing), not ${JSON.stringify(v)}`);
  return v;
}

const daemon: Daemon = {
  process: 'oor',
  label: 'OOR',
  // OOR has no admin socket: `lab inspect` reads its log
  socket: 'oor.log',
  async status(log) {
    const text = await readFile(log, 'utf8');
    const count = (s: string) => text.split(s).length - 1;
    return `${count('confirms correct registration') ? 'registered' : 'not registered'}, ${count('Added Map Cache entry')} map-cache entries added, ${count('Successfully probed RLOC')} RLOC probes answered, ${count('Locator state changes to DOWN')} locators down`;
  },
  needs: [oorNeed, tool('stdbuf', 'OOR runs line-buffered, so that its log shows when it is up', 'install coreutils')],
  async plan(ctx) {
    const configFile = join(ctx.dir, 'oor.conf');
    await writeFile(configFile, oorConfig(ctx), { mode: 0o600 });
    const bin = oorBinary() ?? 'oor';
    return {
      node: ctx.node.name,
      configFile,
      cmd: ctx.node.role!.cmd ?? oorCommand(bin, configFile),
      // the lab writes the process's output to <node dir>/oor.log
      ...(ctx.node.role!.cmd ? {} : { readyLog: { file: join(ctx.dir, 'oor.log'), text: OOR_STARTED } }),
      publicKeys: { control: ctx.pub(ctx.node.name, 'control') },
      interfaces: [],
      eventLog: join(ctx.dir, 'oor.log'),
    };
  },
};

/** A site an OOR Map-Server accepts: its prefix and key (HMAC-SHA-1-96, OOR's only one). */
export interface OorMsSite {
  prefix: string;
  key: string;
  /** Registrations of prefixes inside `prefix` are accepted too. */
  moreSpecifics?: boolean;
}

/**
 * OOR's configuration as a Map-Server and Map-Resolver on `iface`. The sites' prefixes are
 * proxy-replied (`proxy-reply = true`): the Map-Server answers Map-Requests for them itself, as
 * lispwg's Map-Server does, whatever the Map-Register's P bit.
 */
export function oorMsConfig(iface: string, sites: readonly OorMsSite[]): string {
  const q = (s: string) => JSON.stringify(s);
  return [
    '# written by lispwg: OOR as a Map-Server and Map-Resolver',
    'debug = 1',
    'operating-mode = "MS"',
    `control-iface = ${q(iface)}`,
    ...sites.flatMap((site) => [
      'lisp-site {',
      `    eid-prefix = ${q(site.prefix)}`,
      '    key-type = 1',
      `    key = ${q(site.key)}`,
      '    iid = 0',
      `    accept-more-specifics = ${site.moreSpecifics ? 'true' : 'false'}`,
      '    proxy-reply = true',
      '}',
    ]),
  ].join('\n') + '\n';
}

/** The command that runs OOR with `configFile`, line-buffered (it logs to stdout, which a pipe would hold back, its start line with it). */
export const oorCommand = (bin: string, configFile: string): string[] => ['stdbuf', '-oL', bin, '-f', configFile];

const msDaemon: Daemon = {
  process: 'oor',
  label: 'OOR Map-Server',
  stage: 1,
  socket: 'oor.log',
  async status(log) {
    const text = await readFile(log, 'utf8');
    return `${text.split('Map-Register').length - 1} Map-Register lines, ${text.split('Map-Request').length - 1} Map-Request lines in its log`;
  },
  needs: daemon.needs,
  async plan(ctx) {
    const { model, node: n } = ctx;
    const other = Object.keys(n.role!.config);
    if (other.length) throw new LispwgError('LAB_ROLE', `${n.name}: an oor-ms node takes no config (${other.join(', ')})`);
    const iface = rlocInterfaces(model, n)[0];
    if (!iface) throw new LispwgError('LAB_ROLE', `OOR Map-Server ${n.name} has no addressed interface to listen on: give its link an address`);
    const sites = model.nodes.filter((s) => s.role?.ms === n.name);
    const configFile = join(ctx.dir, 'oor.conf');
    await writeFile(configFile, oorMsConfig(iface, sites.flatMap((s) => s.role!.eids.map((e) => ({ prefix: cidrText(e), key: ctx.keys.get(s.name)!.auth })))), { mode: 0o600 });
    return {
      node: n.name,
      configFile,
      cmd: n.role!.cmd ?? oorCommand(oorBinary() ?? 'oor', configFile),
      ...(n.role!.cmd ? {} : { readyLog: { file: join(ctx.dir, 'oor.log'), text: OOR_STARTED } }),
      publicKeys: { control: ctx.pub(n.name, 'control') },
      interfaces: [],
      eventLog: join(ctx.dir, 'oor.log'),
    };
  },
  // in service when every site's OOR logged the Map-Notify that acknowledged its registration
  async settle({ model, plan, plans, deadline, seconds, say }) {
    const sites = plans.filter((r) => model.nodes.find((n) => n.name === r.node)?.role?.ms === plan.node);
    let missing = sites;
    while (missing.length) {
      const left: typeof sites = [];
      for (const r of missing) if (!(r.eventLog && existsSync(r.eventLog) && (await readFile(r.eventLog, 'utf8')).includes(OOR_REGISTERED))) left.push(r);
      missing = left;
      if (!missing.length) break;
      if (Date.now() > deadline) throw new LispwgError('LAB_DAEMON_TIMEOUT', `${missing.map((r) => r.node).join(', ')} not registered with the OOR Map-Server ${plan.node} after ${seconds} s: see ${plan.eventLog} and the sites' oor.log`);
      await sleep(50);
    }
    say(`${sites.length} sites registered with ${plan.node}`);
  },
};

/** `oor-ms`: the real OOR as the Map-Server and Map-Resolver of OOR sites (kind oor); lispwg sites need a lispwg Map-Server (their control tunnel). */
export const oorMs: Kind = {
  name: 'oor-ms',
  title: 'OOR Map-Server',
  forward: false,
  role: 'ms',
  plain: true,
  shape: (n, esc) => `[["${esc(`${n.name}<br/>OOR Map-Server`)}"]]`,
  daemon: msDaemon,
};

export const oor: Kind = {
  name: 'oor',
  title: 'OOR xTR',
  forward: true,
  role: 'site',
  plain: true,
  shape: (n, esc) => `[/"${esc(`${n.name}<br/>OOR xTR${eidLine(n)}`)}"\\]`,
  daemon,
};
