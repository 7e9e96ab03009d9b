/**
 * A real etcd (Debian's etcd-server) for tests and benchmarks: one member or a 3-member cluster
 * on loopback, free ports, a temporary data directory, killed and removed by `stop()`. The
 * command line (`etcdCommand`) is the one the lab's etcd node kind runs in a namespace.
 *
 *   const etcd = await startEtcd({ members: 3 });
 *   ... store: { kind: etcd, endpoints: etcd.endpoints } ...
 *   await etcd.kill(0); await etcd.restart(0); await etcd.stop();
 *
 * Also what bench:ms starts (hence here, not in a testing/ folder, which the build leaves out).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, type Child } from '../src/util/exec.js';

export interface EtcdMember {
  name: string;
  /** http://ADDRESS:PORT the clients use. */
  clientUrl: string;
  /** http://ADDRESS:PORT the members speak Raft on. */
  peerUrl: string;
  dataDir: string;
}

/**
 * The argv that runs `member` of `cluster` (a new cluster: every member starts with the same
 * `--initial-cluster`; restarted on its data directory, a member ignores the initial flags).
 * `quotaBytes`: the backend's size limit (etcd's default is 2 GiB).
 */
export function etcdCommand(member: EtcdMember, cluster: readonly EtcdMember[], opts: { token?: string; quotaBytes?: number; logLevel?: 'info' | 'error' } = {}): string[] {
  return [
    'etcd',
    '--name', member.name,
    '--data-dir', member.dataDir,
    '--listen-client-urls', member.clientUrl,
    '--advertise-client-urls', member.clientUrl,
    '--listen-peer-urls', member.peerUrl,
    '--initial-advertise-peer-urls', member.peerUrl,
    '--initial-cluster', cluster.map((m) => `${m.name}=${m.peerUrl}`).join(','),
    '--initial-cluster-state', 'new',
    '--initial-cluster-token', opts.token ?? 'lispwg',
    // a Map-Server batches its writes; etcd's default of 128 operations per transaction is the bound
    '--max-txn-ops', '1024',
    '--quota-backend-bytes', String(opts.quotaBytes ?? 8 * 2 ** 30),
    '--logger', 'zap',
    '--log-level', opts.logLevel ?? 'error',
  ];
}

/** A port nothing listens on now (the kernel's pick). */
export async function freePort(address = '127.0.0.1'): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve, reject) => s.once('error', reject).listen(0, address, () => resolve()));
  const { port } = s.address() as net.AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** Whether the member at `clientUrl` answers its health check as healthy. */
export async function etcdHealthy(clientUrl: string): Promise<boolean> {
  try {
    const r = await fetch(`${clientUrl}/health`, { signal: AbortSignal.timeout(1000) });
    return r.ok && ((await r.json()) as { health?: string }).health === 'true';
  } catch {
    return false;
  }
}

export interface EtcdCluster {
  readonly members: readonly EtcdMember[];
  /** The members' client URLs (what `store.endpoints` takes). */
  readonly endpoints: string[];
  /** SIGKILLs member `i` (its data directory stays). */
  kill(i: number): Promise<void>;
  /** Starts member `i` again on its data directory (`wipe`: on an empty one, a single member's data lost); resolves when healthy. */
  restart(i: number, opts?: { wipe?: boolean }): Promise<void>;
  /** Kills every member and removes the data directories. */
  stop(): Promise<void>;
}

/** Starts `members` (1 or 3) etcd members on loopback; resolves once every one is healthy. */
export async function startEtcd(opts: { members?: number; quotaBytes?: number; timeoutMs?: number } = {}): Promise<EtcdCluster> {
  const n = opts.members ?? 1;
  const dir = mkdtempSync(join(tmpdir(), 'lispwg-etcd-'));
  const members: EtcdMember[] = [];
  for (let i = 0; i < n; i++) {
    members.push({ name: `m${i}`, clientUrl: `http://127.0.0.1:${await freePort()}`, peerUrl: `http://127.0.0.1:${await freePort()}`, dataDir: join(dir, `m${i}`) });
  }
  const procs: Array<Child | undefined> = [];
  const stderr: string[] = members.map(() => '');
  const token = `lispwg-${process.pid}-${Date.now()}`; // one per cluster: members of another never join it
  const launch = (i: number) => {
    const p = spawn(etcdCommand(members[i]!, members, { token, ...(opts.quotaBytes ? { quotaBytes: opts.quotaBytes } : {}) }));
    p.stderr?.on('data', (d: Buffer) => (stderr[i] = (stderr[i] + d.toString()).slice(-4000)));
    void p.catch(() => undefined);
    procs[i] = p;
  };
  const healthy = async (i: number) => {
    const end = Date.now() + (opts.timeoutMs ?? 20_000);
    while (Date.now() < end) {
      if (procs[i]?.exitCode !== null && procs[i]?.exitCode !== undefined) break;
      if (await etcdHealthy(members[i]!.clientUrl)) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`etcd member ${members[i]!.name} is not healthy at ${members[i]!.clientUrl}: ${stderr[i]!.trim().slice(-1000) || '(no output)'}`);
  };
  const kill = async (i: number) => {
    const p = procs[i];
    procs[i] = undefined;
    if (!p || p.exitCode !== null) return;
    p.kill('SIGKILL');
    await p.catch(() => undefined);
  };
  const stop = async () => {
    await Promise.all(members.map((_, i) => kill(i)));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    members.forEach((_, i) => launch(i));
    await Promise.all(members.map((_, i) => healthy(i)));
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    members,
    endpoints: members.map((m) => m.clientUrl),
    kill,
    restart: async (i, o = {}) => {
      await kill(i);
      if (o.wipe) rmSync(members[i]!.dataDir, { recursive: true, force: true });
      launch(i);
      await healthy(i);
    },
    stop,
  };
}
