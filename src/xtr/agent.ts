/**
 * The tunnel router / mobile node agent (`lispwg xtr`): the paper's endpoint (Fig. 4), with the
 * WireGuard data plane (wg-dataplane.ts) or, with `data-plane: lisp`, the plain LISP one
 * (lisp-dataplane.ts, the OOR baseline).
 *
 * This file is the agent's shell around its core (core.ts): it cleans what a crashed predecessor
 * left, brings up the control WireGuard tunnel to the Map-Server (LISP control messages only
 * travel inside it), opens the data plane and the mapping source, watches the RLOC interfaces'
 * addresses, serves the admin socket (and the metrics, with `metrics-listen`), and undoes all of it on stop (state file, sysctls).
 */
import { writeFileSync, rmSync } from 'node:fs';
import type { Server } from 'node:net';
import { Rtnetlink, monitorAddresses, type AddressMonitor } from '../net/rtnetlink.js';
import { LispwgError } from '../util/errors.js';
import { createLogger, type Logger } from '../util/log.js';
import { Shutdown } from '../util/shutdown.js';
import type { WgDevice } from '../wg/wireguard.js';
import { keyToBase64 } from '../wg/keys.js';
import { serveAdmin } from './admin.js';
import type { AgentConfig } from './config.js';
import { AgentCore } from './core.js';
import type { DataPlane } from './dataplane.js';
import { EventLog } from './events.js';
import { loadOrCreateKey } from './key-source.js';
import { openMappingSource } from './mapping-source.js';
import { makePlan } from './plan.js';
import type { AgentStatus } from './show.js';
import { openControlTunnel, readRlocs, repointMapServer } from './site.js';
import { StateFile, currentNetns, processMatches } from './state.js';
import { MetricsListener } from '../metrics/http.js';
import { writeAgentMetrics } from './metrics.js';

class Agent {
  private core: AgentCore | undefined;
  private control: WgDevice | undefined;
  private monitor: AddressMonitor | undefined;
  private admin: Server | undefined;
  private metrics: MetricsListener | undefined;
  private stopping: Promise<void> | undefined;

  private constructor(
    readonly config: AgentConfig,
    private readonly log: Logger,
    readonly events: EventLog,
    private readonly state: StateFile,
    private readonly rt: Rtnetlink,
  ) {}

  /** Brings the agent up (cleaning what a crashed predecessor left first); throws what failed, after undoing what was done. */
  static async start(config: AgentConfig, log: Logger = createLogger({ component: 'xtr', agent: config.name, ...(config.dataPlane === 'lisp' ? { dataPlane: 'lisp' } : {}) })): Promise<Agent> {
    const rt = Rtnetlink.open();
    try {
      cleanupLeftovers(config.stateFile, rt, log);
    } catch (e) {
      rt.close();
      throw e;
    }
    const state = new StateFile(config.stateFile);
    state.save();
    const agent = new Agent(config, log, new EventLog(config.eventLog, { agent: config.name }), state, rt);
    try {
      await agent.bringUp();
      return agent;
    } catch (e) {
      await agent.stop();
      throw e;
    }
  }

  private async bringUp(): Promise<void> {
    const c = this.config;
    const plan = makePlan(c);
    const key = await loadOrCreateKey(c.control.privateKey, 'control');
    if (key.generated) this.log.info('generated the control key', { file: 'file' in c.control.privateKey ? (c.control.privateKey as { file: string }).file : undefined });

    // control tunnel to the Map-Server
    this.control = await openControlTunnel(c, plan, key.privateKey, this.state, this.rt, this.log);
    const control = this.control;

    const env = { config: c, plan, state: this.state, rt: this.rt, log: this.log };
    // only the data plane in use is loaded (the gRPC client likewise, in mapping-source.ts)
    const dataPlane: DataPlane = c.dataPlane === 'lisp' ? new (await import('./lisp-dataplane.js')).PlainLispDataPlane(env) : new (await import('./wg-dataplane.js')).WireGuardDataPlane(env);
    const core = new AgentCore({
      config: c,
      log: this.log,
      events: this.events,
      dataPlane,
      control: { control: c.control.interface, controlPublicKey: keyToBase64(key.publicKey), controlBackend: control.backend },
      // wireguard-go pins the source address it last sent from and keeps it after that address is gone
      moved: () => repointMapServer(control, c),
    });
    this.core = core;
    await dataPlane.open(core.host);
    // the Map-Server replies to a requester after our Map-Notify-Ack (push-then-reply)
    core.start(await openMappingSource(c, this.log, this.events, core.sourceHooks, control));

    this.monitor = monitorAddresses(
      (e) => {
        if (e.type === 'route') core.hurryRegistration();
        else this.refreshRlocs('address change');
      },
      { routes: true },
    );
    this.refreshRlocs('start');

    this.admin = await serveAdmin(c.adminSocket, (cmd) => core.onAdmin(cmd));
    this.state.addFile(c.adminSocket);
    if (c.metricsListen) {
      this.metrics = await MetricsListener.listen(c.metricsListen, (w) => writeAgentMetrics(w, core), { prefix: 'lispwg_xtr', log: this.log });
      this.log.info('metrics listening', { url: this.metrics.url });
    }
    this.events.emit('agent-started', { mode: c.mode, instanceId: c.instanceId, dataPlane: dataPlane.kind, controlChannel: c.controlChannel.protocol, pid: process.pid });
    this.log.info(dataPlane.kind === 'lisp' ? 'plain LISP agent up' : 'agent up', { mode: c.mode, dataPlane: dataPlane.kind, control: c.control.interface, tun: c.tun.interface, controlChannel: c.controlChannel.protocol, ...(dataPlane.registrationKey ? { publicKey: keyToBase64(dataPlane.registrationKey) } : {}) });
  }

  /** Reads the RLOC interfaces' addresses for the core. */
  private refreshRlocs(why: string): void {
    if (this.stopping || !this.core) return;
    try {
      this.core.setRlocs(readRlocs(this.config, this.rt), why);
    } catch (e) {
      this.core.fault('reading the RLOC addresses', e);
    }
  }

  status(): Promise<AgentStatus> {
    return this.core!.status();
  }

  /** Forgets every mapping (a cold start, for experiments). */
  flush(): Promise<{ removed: number }> {
    return this.core!.flush();
  }

  // --- shutdown ---------------------------------------------------------------------------------

  /** Removes every peer, route, interface and file the agent made; idempotent. */
  stop(): Promise<void> {
    this.stopping ??= this.teardown();
    return this.stopping;
  }

  private async teardown(): Promise<void> {
    const shutdown = new Shutdown(this.log);
    const { errors } = shutdown;
    this.monitor?.close();
    if (this.metrics) await shutdown.attempt('closing the metrics listener', () => this.metrics!.close());
    if (this.admin) await shutdown.attempt('closing the admin socket', () => new Promise<void>((r) => this.admin!.close(() => r())));
    rmSync(this.config.adminSocket, { force: true });
    if (this.core) errors.push(...(await this.core.stop()));
    if (this.control) await shutdown.attempt('removing the control interface', () => this.control!.close());
    for (const s of this.state.state.sysctls) await shutdown.attempt(`restoring ${s.path}`, () => restoreSysctl(s.path, s.previous));
    this.rt.close();
    this.events.emit('agent-stopped', { errors: errors.length });
    await this.events.close();
    if (errors.length === 0) this.state.remove();
    this.log.info('agent stopped', { errors: errors.length });
  }
}

function restoreSysctl(path: string, value: string): void {
  try {
    writeFileSync(path, value);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}

/**
 * Undoes what a previous run that did not stop cleanly left behind (interfaces, processes,
 * sysctls, socket files), as its state file lists. Refuses to start next to a live agent.
 */
function cleanupLeftovers(stateFile: string, rt: Rtnetlink, log: Logger): void {
  const old = StateFile.read(stateFile);
  if (!old) return;
  if (old.pid !== process.pid && processMatches(old.pid, 'xtr')) {
    throw new LispwgError('AGENT_RUNNING', `an agent with this name already runs (pid ${old.pid}, state ${stateFile}): stop it first`);
  }
  log.warn('cleaning what a previous run left behind', { pid: old.pid, interfaces: old.interfaces });
  if (old.netns === currentNetns()) {
    for (const name of old.interfaces) {
      try {
        if (rt.link(name)) rt.deleteLink(name);
      } catch (e) {
        log.warn('cannot remove a leftover interface', { name, error: (e as Error).message });
      }
    }
    for (const s of old.sysctls) restoreSysctl(s.path, s.previous);
  } else if (old.interfaces.length) {
    log.warn('the previous run lived in another network namespace: its interfaces are not reachable from here', { interfaces: old.interfaces });
  }
  for (const f of old.files) rmSync(f, { force: true });
  for (const name of old.interfaces) rmSync(`/var/run/wireguard/${name}.sock`, { force: true });
  rmSync(stateFile, { force: true });
}

/** `lispwg xtr` (either data plane): runs until SIGINT/SIGTERM, then removes everything it made. */
export async function runAgent(config: AgentConfig): Promise<number> {
  const log = createLogger({ component: 'xtr', agent: config.name, ...(config.dataPlane === 'lisp' ? { dataPlane: 'lisp' } : {}) });
  const agent = await Agent.start(config, log);
  await new Promise<void>((resolve) => {
    const stop = (sig: string) => {
      log.info('stopping', { signal: sig });
      resolve();
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  await agent.stop();
  return 0;
}
