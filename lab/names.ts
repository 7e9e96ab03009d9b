/**
 * Names of everything a lab creates, all derived from the lab's name so that two labs coexist and
 * `lab down` can find what a crashed run left behind:
 *
 * - network namespace and container of a node: `lw.<lab>.<node>` (lab and node names hold no dot,
 *   so the prefix `lw.<lab>.` belongs to exactly one lab);
 * - containers also carry the labels `lispwg.lab=<lab>` and `lispwg.node=<node>`;
 * - veths are created directly inside their namespaces (`ip link add ... netns A type veth peer
 *   ... netns B`), so their names only have to be unique per namespace and never exist in the
 *   root namespace: they are the names of the topology file (eth0, p1, wlan0);
 * - a station's port on an AP bridge: `s` + 10 hex of a hash of `node:iface` (unique on any AP it
 *   moves to);
 * - WireGuard and TUN interfaces of the daemons (wireguard-go's UAPI sockets in /var/run/wireguard are shared by all
 *   namespaces, so these must be unique machine-wide): `lw` + 5 hex of the lab + 5 hex of the node
 *   + a role letter (c control, d data, t miss TUN), 13 characters.
 *
 * The state and working files of a lab live in `<LISPWG_LAB_ROOT or /run/lispwg/labs>/<lab>/`:
 * /run is emptied at boot exactly when namespaces disappear, and every invocation finds it.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';

const hex = (s: string, n: number): string => createHash('sha256').update(s).digest('hex').slice(0, n);

export const netnsName = (lab: string, node: string): string => `lw.${lab}.${node}`;
export const containerName = netnsName;
/** Every namespace and container of the lab starts with this. */
export const labPrefix = (lab: string): string => `lw.${lab}.`;

export const LABEL_LAB = 'lispwg.lab';
export const LABEL_NODE = 'lispwg.node';

export const stationPort = (node: string, iface: string): string => `s${hex(`${node}:${iface}`, 10)}`;

/** `c` control tunnel, `d` data (overlay) interface. */
export const wgInterface = (lab: string, node: string, role: 'c' | 'd' | 't'): string => `${wgPrefix(lab)}${hex(node, 5)}${role}`;
export const wgPrefix = (lab: string): string => `lw${hex(lab, 5)}`;

export const labRoot = (): string => process.env.LISPWG_LAB_ROOT ?? '/run/lispwg/labs';
export const labDir = (lab: string): string => join(labRoot(), lab);
export const stateFile = (lab: string): string => join(labDir(lab), 'state.json');
export const nodeDir = (lab: string, node: string): string => join(labDir(lab), 'nodes', node);
