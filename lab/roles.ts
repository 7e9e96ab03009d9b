/**
 * The lispwg daemons of a lab's ms, xtr and mn nodes. At `lab up` each gets fresh WireGuard keys
 * (a control key for the static tunnel to the Map-Server and, for xTRs and MNs, a data key that
 * its Map-Registers carry), unless the topology gives them, a Map-Register shared key, and a YAML
 * config in the daemons' own formats (src/ms/config.ts, src/xtr/config.ts). The keys exchanged
 * out of band (paper, section IV) are wired here: the Map-Server's config lists every site with its
 * xTR's control public key and control address; every site's config names the Map-Server's
 * public key, control address and underlay address. The daemon then runs as
 * `lispwg ms|xtr --config FILE` (or the node's `cmd`), its event log in the node directory.
 *
 * The node's `config` is merged over the generated file (maps key by key), in the daemon's
 * own (kebab-case) keys: `config: { push: { order: reply-then-push } }`.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { LispwgError } from '../src/util/errors.js';
import { lispwgBin } from '../src/util/project.js';
import { generatePrivateKey, keyToBase64, parseKey, publicKey, savePrivateKey } from '../src/wg/keys.js';
import { cidrText, contains, ipText, networkOf } from './topology/addr.js';
import { interfacesOf, type LabModel, type NodeModel } from './topology/model.js';
import { nodeDir, wgInterface } from './names.js';

/** The Map-Server's control WireGuard port. */
export const CONTROL_PORT = 51820;

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
}

type Json = Record<string, unknown>;

function merge(base: Json, over: Json): Json {
  const out: Json = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = b && v && typeof b === 'object' && typeof v === 'object' && !Array.isArray(b) && !Array.isArray(v) ? merge(b as Json, v as Json) : v;
  }
  return out;
}

/** The RLOC interfaces of a site: its `rloc`, else every underlay interface (Wi-Fi included). */
export function rlocInterfaces(model: LabModel, node: NodeModel): string[] {
  if (node.role?.rloc) return [node.role.rloc];
  const eids = node.role?.eids ?? [];
  return interfacesOf(model, node.name)
    .filter((i) => i.via === 'wifi' || (i.addresses.length && !i.addresses.some((a) => eids.some((e) => contains(e, a)))))
    .map((i) => i.name);
}

/** The first IPv4 (else any) address of a node's first RLOC interface. */
export function rlocOf(model: LabModel, node: NodeModel): string | undefined {
  const names = node.kind === 'ms' ? interfacesOf(model, node.name).map((i) => i.name) : rlocInterfaces(model, node);
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
const shortName = (node: string): string => (/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,10}$/.test(node) ? node : node.replace(/[^a-zA-Z0-9_.-]/g, '').slice(0, 11) || 'node');

/** Writes keys and configs of every ms/xtr/mn node; returns how to start each daemon. */
export async function writeRoleConfigs(lab: string, model: LabModel): Promise<RolePlan[]> {
  const nodes = model.nodes.filter((n) => n.role);
  const keys = new Map<string, { control: Buffer; data: Buffer; auth: string }>();
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
  for (const n of nodes) {
    const role = n.role!;
    const dir = nodeDir(lab, n.name);
    await mkdir(dir, { recursive: true });
    const controlKey = join(dir, 'control.key');
    await savePrivateKey(controlKey, keys.get(n.name)!.control);
    const eventLog = join(dir, 'events.jsonl');
    const controlIf = wgInterface(lab, n.name, 'c');
    let config: Json;
    const ifaces = [controlIf];
    if (n.kind === 'ms') {
      config = {
        'admin-socket': join(dir, 'ms.sock'),
        'control-tunnel': { interface: controlIf, 'private-key-file': controlKey, 'listen-port': CONTROL_PORT, address: cidrText(role.control) },
        sites: nodes
          .filter((s) => s.role!.ms === n.name)
          .map((s) => ({
            name: s.name,
            key: keys.get(s.name)!.auth,
            'key-id': 1,
            prefixes: s.role!.eids.map(cidrText),
            xtrs: [{ 'public-key': pub(s.name, 'control'), 'control-address': ipText(s.role!.control) }],
          })),
      };
    } else {
      const ms = model.nodes.find((m) => m.name === role.ms)!;
      const msRloc = rlocOf(model, ms);
      if (!msRloc) throw new LispwgError('LAB_ROLE', `Map-Server ${ms.name} has no address for ${n.name} to reach it: give its link an address`);
      const dataKey = join(dir, 'data.key');
      await savePrivateKey(dataKey, keys.get(n.name)!.data);
      const dataIf = wgInterface(lab, n.name, 'd');
      const tunIf = wgInterface(lab, n.name, 't');
      ifaces.push(dataIf, tunIf);
      config = {
        name: shortName(n.name),
        mode: n.kind,
        'eid-prefixes': role.eids.map((e) => ({ prefix: cidrText(e) })),
        'rloc-interfaces': rlocInterfaces(model, n).map((name) => ({ name })),
        'map-server': { address: msRloc, port: CONTROL_PORT, 'control-address': ipText(ms.role!.control), 'public-key': pub(ms.name, 'control'), 'shared-key': keys.get(n.name)!.auth, 'key-id': 1 },
        control: { interface: controlIf, address: cidrText(role.control), 'private-key-file': controlKey },
        data: { interface: dataIf, 'private-key-file': dataKey },
        tun: { interface: tunIf },
        'eid-space': space,
        'state-dir': dir,
        'admin-socket': join(dir, 'agent.sock'),
      };
    }
    const configFile = join(dir, 'lispwg.yaml');
    await writeFile(configFile, stringify(merge(config, role.config), { lineWidth: 0 }), { mode: 0o600 });
    const cmd = role.cmd ?? [process.execPath, lispwgBin(), n.kind === 'ms' ? 'ms' : 'xtr', '--config', configFile, ...(n.kind === 'ms' ? [] : ['--event-log', eventLog])];
    const merged = merge(config, role.config);
    const admin = typeof merged['admin-socket'] === 'string' ? merged['admin-socket'] : undefined;
    plans.push({
      node: n.name,
      configFile,
      cmd,
      ...(role.cmd || !admin ? {} : { ready: admin }),
      publicKeys: n.kind === 'ms' ? { control: pub(n.name, 'control') } : { control: pub(n.name, 'control'), data: pub(n.name, 'data') },
      interfaces: ifaces,
      eventLog,
    });
  }
  return plans;
}
