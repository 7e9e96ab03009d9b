/**
 * `ms`: a Map-Server, `lispwg ms`. Its config lists every site that registers with it (name,
 * shared key, EID prefixes, the xTR's control public key and control address); it listens on its
 * control WireGuard tunnel (port 51820) and is up when its admin socket exists, in service when
 * every one of its sites has registered (asked on that socket). With OOR sites (a `plain` kind)
 * it also listens on its underlay address, where they register, and lists them without `xtrs`.
 * In a lab with `etcd` nodes every Map-Server keeps its state in that cluster: Map-Servers that
 * sites list together (`ms: [ms1, ms2, ms3]`) are replicas of one mapping system.
 */
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { adminRequest } from '../../src/ms/admin.js';
import { LispwgError } from '../../src/util/errors.js';
import { wgInterface } from '../names.js';
import { CONTROL_PORT, METRICS_PORT, lispwgPlan, registersWith, rlocOf, saveKey } from '../roles.js';
import { cidrText, ipText } from '../topology/addr.js';
import type { NodeModel } from '../topology/model.js';
import type { Kind } from './kind.js';
import { etcdMembers } from './etcd.js';
import { lispwgNeeds } from './lispwg.js';

const SOCKET = 'ms.sock';

export const ms: Kind = {
  name: 'ms',
  title: 'Map-Server',
  forward: false,
  role: 'ms',
  shape: (n, esc) => `[["${esc(`${n.name}<br/>Map-Server`)}"]]`,
  daemon: {
    process: 'lispwg',
    label: 'lispwg ms',
    stage: 1,
    needs: lispwgNeeds,
    socket: SOCKET,
    async status(socket) {
      const snap = (await adminRequest(socket, { cmd: 'show' })) as { sites?: { registrations: number }[]; registrationCount?: number };
      const sites = snap.sites ?? [];
      return `${sites.filter((s) => s.registrations > 0).length}/${sites.length} sites registered, ${snap.registrationCount ?? 0} registrations`;
    },
    async plan(ctx) {
      const { lab, model, node: n, dir } = ctx;
      const controlKey = await saveKey(ctx, 'control');
      const controlIf = wgInterface(lab, n.name, 'c');
      const sites = model.nodes.filter((s) => registersWith(s, n.name));
      // plain sites (OOR) speak LISP on the underlay: no xTR in the tunnel, OOR's replay protection
      const plain = (s: NodeModel) => !!s.role?.plain;
      const underlay = rlocOf(model, n);
      if (sites.some(plain) && !underlay) throw new LispwgError('LAB_ROLE', `Map-Server ${n.name} has OOR sites but no underlay address to listen on: give its link an address`);
      // a lab with etcd members: every Map-Server keeps its state there, the replicas of one mapping system
      const members = etcdMembers(model, (name) => join(dir, '..', name));
      const config = {
        'admin-socket': join(dir, SOCKET),
        'metrics-listen': `${ipText(n.role!.control)}:${METRICS_PORT}`,
        ...(members.length ? { store: { kind: 'etcd', endpoints: members.map((m) => m.clientUrl), prefix: `/lispwg/${lab}/` } } : {}),
        ...(sites.some(plain) ? { listen: [underlay] } : {}),
        'control-tunnel': { interface: controlIf, 'private-key-file': controlKey, 'listen-port': CONTROL_PORT, address: cidrText(n.role!.control) },
        sites: sites.map((s) => ({
          name: s.name,
          key: ctx.keys.get(s.name)!.auth,
          'key-id': 1,
          prefixes: s.role!.eids.map(cidrText),
          ...(plain(s) ? { 'replay-protection': 'nonce-cache' } : { xtrs: [{ 'public-key': ctx.pub(s.name, 'control'), 'control-address': ipText(s.role!.control) }] }),
        })),
      };
      return lispwgPlan(ctx, { command: 'ms', config, interfaces: [controlIf], publicKeys: { control: ctx.pub(n.name, 'control') } });
    },
    async settle({ model, plan, plans, deadline, seconds, dir, say }) {
      if (!plan.ready) return;
      const sites = plans.filter((r) => registersWith(model.nodes.find((n) => n.name === r.node), plan.node)).map((r) => r.node);
      let missing = sites;
      while (missing.length) {
        const snap = (await adminRequest(plan.ready, { cmd: 'show' }).catch(() => undefined)) as { sites?: { name: string; registrations: number }[] } | undefined;
        missing = sites.filter((s) => !snap?.sites?.some((x) => x.name === s && x.registrations > 0));
        if (!missing.length) break;
        if (Date.now() > deadline) throw new LispwgError('LAB_DAEMON_TIMEOUT', `${missing.join(', ')} not registered with ${plan.node} after ${seconds} s: see the logs in ${dir}/nodes/<node>/lispwg.log`);
        await sleep(50);
      }
      say(`${sites.length} sites registered with ${plan.node}`);
    },
  },
};
