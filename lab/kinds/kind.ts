/**
 * What a node kind is, as containerlab's `nodes/` package has one file per kind: the traits the
 * topology validation and the plumbing read, what the kind needs on this machine, the daemon it
 * runs (the config it writes, the process it starts, how it reports ready) and what inspect adds.
 * Every kind is one file beside this one, registered by one line in index.ts.
 *
 * Layering: a kind imports the model's types and addresses (lab/topology/model.ts, addr.ts) and
 * the daemon machinery (lab/roles.ts); topology/validate.ts, topology/graph.ts and lab.ts ask the
 * table. validate.ts resolves the traits the plumbing needs into the model (`forward`, `bridge`),
 * so model.ts, net/plumb.ts and reach.ts read those and import no kind.
 */
import { existsSync } from 'node:fs';
import { hasCommand } from '../../src/util/exec.js';
import type { DaemonContext, RolePlan } from '../roles.js';
import type { LabModel, NodeKind, NodeModel } from '../topology/model.js';

/** Something a kind needs on the machine, probed before `lab up` creates anything. */
export interface Requirement {
  /** What it is, as the error names it: `wireguard-go`, `the built lispwg CLI (dist/src/cli/main.js)`. */
  what: string;
  /** Why the kind needs it. */
  why: string;
  /** Undefined when present; otherwise what is missing, in a sentence. */
  probe(): Promise<string | undefined>;
  /** How to get it. */
  fix: string;
}

/** An executable on PATH (or in /usr/sbin, /sbin). */
export const tool = (name: string, why: string, fix = `run 'bash lab/setup.sh', which installs it`): Requirement => ({
  what: name,
  why,
  fix,
  probe: async () => ((await hasCommand(name)) ? undefined : `${name} is not on PATH`),
});

/** A file or device that must exist (`path` is read at probe time). */
export const file = (what: string, path: () => string, why: string, fix: string): Requirement => ({
  what,
  why,
  fix,
  probe: async () => (existsSync(path()) ? undefined : `${path()} does not exist`),
});

/** What a daemon's `ready` step may use: the lab, its plans, and the time left. */
export interface SettleContext {
  model: LabModel;
  dir: string;
  /** This node's plan. */
  plan: RolePlan;
  /** Every daemon's plan (a Map-Server waits for the sites that register with it). */
  plans: RolePlan[];
  deadline: number;
  /** How long, in seconds, the deadline allowed (for the error message). */
  seconds: number;
  say(message: string): void;
}

/** The long-running process a kind starts in its node at `lab up` (unless `--no-daemons`). */
export interface Daemon {
  /** The lab's name for the process (`lab.process(node, 'lispwg')`, its log `<name>.log`). */
  process: string;
  /**
   * Its start stage: daemons of a higher stage start, and are up, before those of a lower one
   * (etcd 2, then the Map-Servers 1, then the sites 0), so each finds what it needs listening.
   */
  stage?: number;
  /** What the daemon needs beyond the kind's own needs (skipped for a node whose `cmd` replaces it). */
  needs: Requirement[];
  /** Writes the node's keys and config into `ctx.dir`; returns how to start it and when it is up. */
  plan(ctx: DaemonContext): Promise<RolePlan>;
  /** In progress messages: `lispwg ms` (`started lispwg ms on ms1`). */
  label: string;
  /** Its admin socket's file name in the node's directory (the node's `config` may move it). */
  socket: string;
  /** One line on the running daemon for `lab inspect`, asked on its admin socket. */
  status?(socket: string): Promise<string>;
  /**
   * Called once every daemon's `plan.ready` file exists: resolves when this node is in service
   * (a Map-Server: every site registered with it), throws LAB_DAEMON_TIMEOUT past the deadline.
   */
  settle?(ctx: SettleContext): Promise<void>;
}

export interface Kind {
  readonly name: NodeKind;
  /** What it is, in the paper's words: `Map-Server`, `mobile node`, `access point`. */
  readonly title: string;
  /** IP forwarding on unless the node says `forward: false` (routers, xTRs, APs). */
  readonly forward: boolean;
  /**
   * The node holds a bridge (`br0`, a reserved interface name on it): its link ends are the
   * bridge's ports and carry no address (`ports`, a switch), or its stations' radios are and the
   * gateway of its subnet sits on the bridge (`stations`, an access point).
   */
  readonly bridge?: 'ports' | 'stations';
  /**
   * Its lispwg role: `ms` serves the sites of the mapping system (a control address, a control
   * key); `site` registers EIDs with a Map-Server (control and data keys, `eid`, `rloc`, `ms`).
   */
  readonly role?: 'ms' | 'site';
  /**
   * A site that speaks plain LISP on the underlay (OOR): no control tunnel, no WireGuard key. Its
   * Map-Server lists it without `xtrs` (replay-protection nonce-cache) and listens on its underlay.
   */
  readonly plain?: boolean;
  readonly daemon?: Daemon;
  /** Its shape in `lispwg lab graph` (Mermaid node text after the id). */
  shape(node: NodeModel, esc: (s: string) => string): string;
}
