/**
 * The shape of a topology file, as a zod schema. Values are checked for form here (names, types,
 * unknown keys, the kind of every node); what needs the whole file (dangling endpoints, duplicate
 * addresses, CIDRs, ranges) is checked in validate.ts, which also builds the model.
 *
 * A file reads like containerlab's:
 *
 *   name: paper-lan
 *   nodes:
 *     ms:  { kind: ms }
 *     mn1: { kind: mn, eid: 198.19.1.1/32 }
 *     sw:  { kind: switch }
 *   links:
 *     - endpoints: ["ms:eth0", "sw:p1"]
 *       addresses: { ms: 198.18.0.1/24 }
 *
 * Keys are kebab-case (`association-delay`, `auth-key`); durations carry their unit (`50ms`).
 * The camelCase `associationDelay` and `authKey` of before are accepted, with a warning, for one
 * release (load.ts).
 */
import * as z from 'zod';

export const NODE_KINDS = ['ms', 'xtr', 'mn', 'oor', 'oor-ms', 'etcd', 'host', 'router', 'switch', 'ap'] as const;
export type NodeKind = (typeof NODE_KINDS)[number];
export const BACKENDS = ['netns', 'docker'] as const;
export type BackendKind = (typeof BACKENDS)[number];

/** Lab names become part of namespace and container names: short, no dots. */
export const LAB_NAME = /^[a-z0-9][a-z0-9-]{0,23}$/;
const NODE_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,23}$/;
/** Linux interface names: at most 15 characters, none of '/', ':', whitespace. */
export const IFACE_NAME = /^[A-Za-z][A-Za-z0-9_.-]{0,14}$/;

const str = z.string();
const addressList = z.union([str, z.array(str).min(1)]);
const duration = z.union([str, z.number()]);

/** Link parameters a link, or `defaults.link`, may set. */
const linkParams = {
  mtu: z.number().int().min(576).max(65535).optional(),
  rate: z.union([str, z.number()]).optional(),
  delay: duration.optional(),
  loss: z.union([str, z.number()]).optional(),
};

/** Commands a node runs: `exec` once after the network is up, `run` as long-running processes. */
const processes = {
  exec: z.array(str).optional(),
  run: z.record(z.string().regex(/^[A-Za-z0-9_-]+$/, 'process names use letters, digits, - and _'), str).optional(),
  routes: z.array(str).optional(),
  forward: z.boolean().optional(),
};

const station = z
  .object({
    ap: str,
    address: str.optional(),
    associated: z.boolean().optional(),
  })
  .strict();
const wifi = { wifi: z.record(z.string(), station).optional() };

/** What every lispwg role (ms, xtr, mn) may set; keys and addresses are generated when absent. */
const role = {
  control: str.optional(),
  /** WireGuard private keys (base64): `control` for the tunnel to the Map-Server, `data` for the overlay. */
  keys: z.object({ control: str.optional(), data: str.optional() }).strict().optional(),
  config: z.record(z.string(), z.unknown()).optional(),
  cmd: z.array(str).min(1).optional(),
};
const site = {
  eid: addressList,
  rloc: str.optional(),
  /** Its Map-Server, or the replicas of one mapping system (etcd), the first asked first. */
  ms: z.union([str, z.array(str).min(1)]).optional(),
  'auth-key': str.optional(),
};

const node = <K extends NodeKind, S extends z.ZodRawShape>(kind: K, shape: S) =>
  z.object({ kind: z.literal(kind), ...processes, ...shape }).strict();

export const NodeSchema = z.discriminatedUnion('kind', [
  node('ms', { ...role }),
  node('xtr', { ...role, ...site, ...wifi }),
  node('mn', { ...role, ...site, ...wifi }),
  // the real OOR as an xTR: no WireGuard keys; `config: { probe-interval: 5 }` (s)
  node('oor', { control: role.control, config: role.config, cmd: role.cmd, ...site, ...wifi }),
  // the real OOR as Map-Server and Map-Resolver of OOR sites: no control tunnel
  node('oor-ms', { control: role.control, config: role.config, cmd: role.cmd }),
  // a member of the lab's etcd cluster, the Map-Servers' shared store
  node('etcd', {}),
  node('host', { ...wifi }),
  node('router', { ...wifi }),
  node('switch', {}),
  node('ap', {
    subnet: str,
    gateway: str.optional(),
    'association-delay': duration.optional(),
    rate: z.union([str, z.number()]).optional(),
  }),
]);
export type RawNode = z.infer<typeof NodeSchema>;

const LinkSchema = z
  .object({
    endpoints: z.tuple([str, str]),
    addresses: z.record(z.string(), addressList).optional(),
    ...linkParams,
  })
  .strict();
export type RawLink = z.infer<typeof LinkSchema>;

export const TopologySchema = z
  .object({
    name: z.string().regex(LAB_NAME, 'a lab name is 1-24 lowercase letters, digits or -, starting with a letter or digit'),
    description: str.optional(),
    defaults: z
      .object({
        backend: z.enum(BACKENDS).optional(),
        link: z.object(linkParams).strict().optional(),
      })
      .strict()
      .optional(),
    nodes: z.record(z.string().regex(NODE_NAME, 'a node name is a letter then up to 23 letters, digits, - or _'), NodeSchema),
    links: z.array(LinkSchema).optional(),
  })
  .strict();
export type RawTopology = z.infer<typeof TopologySchema>;

/** Keys each kind accepts, for hints on unknown keys. */
export const kindKeys = (kind: NodeKind): string[] => {
  const opt = NodeSchema.options.find((o) => o.shape.kind.value === kind);
  return opt ? Object.keys(opt.shape) : [];
};
