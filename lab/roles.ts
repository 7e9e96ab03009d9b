/**
 * The machinery the lispwg kinds (lab/kinds/ms.ts, xtr.ts, mn.ts) share. At `lab up` each node
 * with a lispwg role gets fresh WireGuard keys (a control key for the static tunnel to the
 * Map-Server and, for sites, a data key that its Map-Registers carry), unless the topology gives
 * them, and a Map-Register shared key; its kind then writes a YAML config in the daemon's own
 * format (src/ms/config.ts, src/xtr/config.ts). The keys exchanged out of band (paper, section
 * IV) are wired there: the Map-Server's config lists every site with its xTR's control public key
 * and control address; every site's config names the Map-Server's public key, control address and
 * underlay address. The daemon then runs as `lispwg ms|xtr --config FILE` (or the node's `cmd`),
 * its event log in the node directory.
 *
 * The node's `config` is merged over the generated file (maps key by key), in the daemon's
 * own (kebab-case) keys: `config: { push: { order: reply-then-push } }`.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { lispwgBin } from '../src/util/project.js';
import { generatePrivateKey, keyToBase64, parseKey, publicKey, savePrivateKey } from '../src/wg/keys.js';
import { cidrText, contains, ipText, networkOf } from './topology/addr.js';
import { interfacesOf, type LabModel, type NodeModel } from './topology/model.js';
import { nodeDir } from './names.js';

/** The Map-Server's control WireGuard port. */
export const CONTROL_PORT = 51820;
/** Where a lab's lispwg daemons serve Prometheus metrics, on their control address (lab/metrics.ts). */
export const METRICS_PORT = 9464;

export interface RolePlan {
  node: string;
  configFile: string;
  cmd: string[];
  /** Public keys (base64): control, and data for xTRs/MNs. */
  publicKeys: { control: string; data?: string };
  /** WireGuard and TUN interfaces its daemon creates (unique machine-wide). */
  interfaces: string[];
  eventLog: string;
  /** The daemon's admin socket: it exists once the daemon is up (undefined with a custom cmd). */
  ready?: string;
  /** Or: the daemon is up once its log `file` holds `text` (OOR has no admin socket). */
  readyLog?: { file: string; text: string };
}

export type Json = Record<string, unknown>;

function merge(base: Json, over: Json): Json {
  const out: Json = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = b && v && typeof b === 'object' && typeof v === 'object' && !Array.isArray(b) && !Array.isArray(v) ? merge(b as Json, v as Json) : v;
  }
  return out;
}

/** Whether `site` registers with the Map-Server `ms` (its first or one of its replicas). */
export const registersWith = (site: NodeModel | undefined, ms: string): boolean => !!site?.role && (site.role.ms === ms || !!site.role.msReplicas?.includes(ms));

/** The RLOC interfaces of a site: its `rloc`, else every underlay interface (Wi-Fi included). */
export function rlocInterfaces(model: LabModel, node: NodeModel): string[] {
  if (node.role?.rloc) return [node.role.rloc];
  const eids = node.role?.eids ?? [];
  return interfacesOf(model, node.name)
    .filter((i) => i.via === 'wifi' || (i.addresses.length && !i.addresses.some((a) => eids.some((e) => contains(e, a)))))
    .map((i) => i.name);
}

/**
 * The first IPv4 (else any) address of a node's first RLOC interface. A Map-Server has neither
 * `rloc` nor EIDs, so that is its first addressed interface.
 */
export function rlocOf(model: LabModel, node: NodeModel): string | undefined {
  const names = rlocInterfaces(model, node);
  for (const i of interfacesOf(model, node.name).filter((x) => names.includes(x.name))) {
    const a = i.addresses.find((c) => c.family === 'ipv4') ?? i.addresses[0];
    if (a) return ipText(a);
  }
  return undefined;
}

/** The smallest prefix holding every EID of the lab (per family): the overlay's EID space. */
export function eidSpace(model: LabModel): string[] {
  const out: string[] = [];
  for (const family of ['ipv4', 'ipv6'] as const) {
    const eids = model.nodes.flatMap((n) => n.role?.eids ?? []).filter((e) => e.family === family);
    if (!eids.length) continue;
    let len = Math.min(...eids.map((e) => e.prefix));
    const first = eids[0]!;
    while (len > 0 && !eids.every((e) => contains({ family, value: first.value, prefix: len }, e))) len--;
    out.push(cidrText(networkOf({ family, value: first.value, prefix: len })));
  }
  return out;
}

/** A daemon name of at most 11 characters (it prefixes the agent's files). */
export const shortName = (node: string): string => (/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,10}$/.test(node) ? node : node.replace(/[^a-zA-Z0-9_.-]/g, '').slice(0, 11) || 'node');

/** The keys of one lispwg node: WireGuard control and data keys, and its Map-Register shared key. */
export interface RoleKeys {
  control: Buffer;
  data: Buffer;
  auth: string;
}

/** What a kind's daemon plan gets: its node, the lab, every lispwg node's keys, its files. */
export interface DaemonContext {
  lab: string;
  model: LabModel;
  node: NodeModel;
  /** The node's directory (keys, config, logs). */
  dir: string;
  keys: Map<string, RoleKeys>;
  /** A node's public key (base64). */
  pub(node: string, which: 'control' | 'data'): string;
  /** The overlay's EID space (eidSpace). */
  space: string[];
}

/** A kind's daemon, as writeRoleConfigs asks it; undefined for kinds that run none. */
export type DaemonOf = (node: NodeModel) => { plan(ctx: DaemonContext): Promise<RolePlan> } | undefined;

/** Writes keys of every node with a lispwg role and the config of every daemon (etcd's too); returns how to start each. */
export async function writeRoleConfigs(lab: string, model: LabModel, daemonOf: DaemonOf): Promise<RolePlan[]> {
  const nodes = model.nodes.filter((n) => n.role);
  const keys = new Map<string, RoleKeys>();
  for (const n of nodes) {
    const k = n.role!.keys;
    keys.set(n.name, {
      control: k.control ? parseKey(k.control) : generatePrivateKey(),
      data: k.data ? parseKey(k.data) : generatePrivateKey(),
      auth: n.role!.authKey ?? randomBytes(16).toString('hex'),
    });
  }
  const pub = (node: string, which: 'control' | 'data') => keyToBase64(publicKey(keys.get(node)![which]));
  const space = eidSpace(model);
  const plans: RolePlan[] = [];
  for (const n of model.nodes) {
    const daemon = daemonOf(n);
    if (!daemon) continue;
    const dir = nodeDir(lab, n.name);
    await mkdir(dir, { recursive: true });
    plans.push(await daemon.plan({ lab, model, node: n, dir, keys, pub, space }));
  }
  return plans;
}

/** A lispwg daemon's admin socket: `<dir>/<name>`, or where the node's `config` puts it. */
export function adminSocket(node: NodeModel, dir: string, name: string): string {
  const given = node.role?.config['admin-socket'];
  return typeof given === 'string' ? given : join(dir, name);
}

/** Saves one of the node's private keys as `<which>.key` in its directory; returns the path. */
export async function saveKey(ctx: DaemonContext, which: 'control' | 'data'): Promise<string> {
  const path = join(ctx.dir, `${which}.key`);
  await savePrivateKey(path, ctx.keys.get(ctx.node.name)![which]);
  return path;
}

/**
 * Writes a lispwg daemon's config (the node's `config` merged over `config`) and returns the plan
 * that runs `node <nodeFlags> lispwg <command> --config FILE <args>`, or the node's `cmd`. Its `ready` is the admin
 * socket the config names.
 */
export async function lispwgPlan(
  ctx: DaemonContext,
  d: { command: string; config: Json; args?: string[]; interfaces: string[]; publicKeys: RolePlan['publicKeys']; nodeFlags?: string[] },
): Promise<RolePlan> {
  const role = ctx.node.role!;
  const configFile = join(ctx.dir, 'lispwg.yaml');
  const merged = merge(d.config, role.config);
  await writeFile(configFile, stringify(merged, { lineWidth: 0 }), { mode: 0o600 });
  const cmd = role.cmd ?? [process.execPath, ...(d.nodeFlags ?? []), lispwgBin(), d.command, '--config', configFile, ...(d.args ?? [])];
  const admin = typeof merged['admin-socket'] === 'string' ? merged['admin-socket'] : undefined;
  return {
    node: ctx.node.name,
    configFile,
    cmd,
    ...(role.cmd || !admin ? {} : { ready: admin }),
    publicKeys: d.publicKeys,
    interfaces: d.interfaces,
    eventLog: join(ctx.dir, 'events.jsonl'),
  };
}
