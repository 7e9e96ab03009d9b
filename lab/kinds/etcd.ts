/**
 * `etcd`: a member of the etcd cluster (Debian's etcd-server, Raft) that the lab's Map-Servers
 * share as their store (src/ms/etcd-store.ts). Every `etcd` node of a topology is one member of
 * one cluster; a Map-Server of a lab with etcd nodes keeps its registrations there (every
 * member's client URL as its endpoints, the lab's name in its key prefix). A member listens on its
 * node's first address (clients 2379, peers 2380), keeps its data in the node's directory, and is
 * up when it logs that it serves clients (it has joined the cluster: a quorum is there).
 */
import { join } from 'node:path';
import { LispwgError } from '../../src/util/errors.js';
import { rlocOf } from '../roles.js';
import type { LabModel } from '../topology/model.js';
import type { Daemon, Kind } from './kind.js';
import { tool } from './kind.js';
import { etcdCommand, type EtcdMember } from '../etcd.js';

export const ETCD_CLIENT_PORT = 2379;
export const ETCD_PEER_PORT = 2380;
/** What a member logs (zap, info) once it joined the cluster (a quorum agreed) and serves clients. */
const SERVING = 'published local member to cluster through raft';

/** The lab's etcd members, in topology order. */
export function etcdMembers(model: LabModel, dirOf: (node: string) => string): EtcdMember[] {
  return model.nodes
    .filter((n) => n.kind === 'etcd')
    .map((n) => {
      const address = rlocOf(model, n);
      if (!address) throw new LispwgError('LAB_ROLE', `etcd member ${n.name} has no address: give its link an address`);
      const host = address.includes(':') ? `[${address}]` : address;
      return { name: n.name, clientUrl: `http://${host}:${ETCD_CLIENT_PORT}`, peerUrl: `http://${host}:${ETCD_PEER_PORT}`, dataDir: join(dirOf(n.name), 'etcd.data') };
    });
}

const daemon: Daemon = {
  process: 'etcd',
  label: 'etcd',
  // before the Map-Servers, which load their state from it at start
  stage: 2,
  socket: 'etcd.log',
  needs: [tool('etcd', 'an etcd node runs an etcd member')],
  async plan({ lab, model, node, dir }) {
    const members = etcdMembers(model, (name) => join(dir, '..', name));
    const me = members.find((m) => m.name === node.name)!;
    return {
      node: node.name,
      configFile: '',
      cmd: etcdCommand(me, members, { token: `lispwg-${lab}`, logLevel: 'info' }),
      readyLog: { file: join(dir, 'etcd.log'), text: SERVING },
      publicKeys: { control: '' },
      interfaces: [],
      eventLog: join(dir, 'etcd.log'),
    };
  },
};

export const etcd: Kind = {
  name: 'etcd',
  title: 'etcd member',
  forward: false,
  shape: (n, esc) => `[("${esc(`${n.name}<br/>etcd`)}")]`,
  daemon,
};
