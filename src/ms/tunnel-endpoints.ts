/**
 * Where each xTR's end of the control tunnel was (its underlay address and port), kept in a small
 * file next to the store, so that a restarted Map-Server can reach the sites at once.
 *
 * Why: WireGuard learns a peer's endpoint from its packets only. A Map-Server that restarts (its
 * wireguard-go with it) knows none, so it cannot push a requester's key to a quiet destination, and
 * the xTRs keep sending under their old session, which the new one drops, until their own rekey
 * timer (10 + 5 s of one-way traffic) or their next Map-Register (60 s). With the endpoints put
 * back at start, and a keepalive to each for the first KEEPALIVE_S (one handshake each, started
 * by the Map-Server), every known site has a fresh session within a round trip of the restart.
 *
 * The file is JSON `{ "<public key>": "address:port" }`, mode 0600, written (temp file and rename)
 * when an endpoint changed, looked at every second (longer for a large tunnel: saveEveryMs). It holds no secret: a peer's endpoint is what any on-path
 * observer sees.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { keyToBase64, parseKey } from '../wg/keys.js';
import type { WgDevice, WgEndpoint } from '../wg/types.js';
import type { Logger } from '../util/log.js';

/**
 * How often the endpoints are read from the tunnel (one UAPI get, about 1 us per peer) and saved
 * if changed: every second for a small tunnel, 1 ms per peer for a large one (at most a minute),
 * so that reading them stays under a tenth of one core.
 */
const saveEveryMs = (peers: number): number => Math.min(60_000, Math.max(1000, peers));
/** Keepalives after a restart, for this long: each known site gets a handshake from us. */
const KEEPALIVE_S = 25;

const text = (e: WgEndpoint): string => (e.address.includes(':') ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`);

function parseEndpoint(s: string): WgEndpoint | undefined {
  const m = /^\[?([0-9a-fA-F:.]+)\]?:(\d{1,5})$/.exec(s);
  const port = Number(m?.[2]);
  return m && port > 0 && port < 65536 ? { address: m[1]!, port } : undefined;
}

export class TunnelEndpoints {
  private timer: NodeJS.Timeout | undefined;
  private saved = '';
  private keepaliveOff: NodeJS.Timeout | undefined;
  /** Endpoints put back at the last start. */
  restored = 0;
  private peers = 0;
  private closed = false;

  constructor(
    private readonly path: string,
    private readonly dev: WgDevice,
    private readonly log: Logger,
  ) {}

  /** Puts back the endpoints of the peers the tunnel has (others in the file are ignored), with a keepalive for the first KEEPALIVE_S. */
  async restore(): Promise<void> {
    let saved: Record<string, unknown>;
    try {
      saved = JSON.parse(readFileSync(this.path, 'utf8')) as Record<string, unknown>;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') this.log.warn('the control-tunnel endpoints file is unreadable: starting without it', { path: this.path, error: (e as Error).message });
      return;
    }
    const peers = new Set((await this.dev.peers()).map((p) => keyToBase64(p.publicKey)));
    const back: Uint8Array[] = [];
    for (const [key, value] of Object.entries(saved)) {
      const endpoint = typeof value === 'string' ? parseEndpoint(value) : undefined;
      if (!endpoint || !peers.has(key)) continue;
      const publicKey = parseKey(key);
      await this.dev.setPeer({ publicKey, endpoint, allowedIps: [], persistentKeepalive: KEEPALIVE_S });
      back.push(publicKey);
    }
    this.restored = back.length;
    if (!back.length) return;
    this.log.info('control-tunnel endpoints put back: a handshake to each', { peers: back.length, path: this.path });
    this.keepaliveOff = setTimeout(() => {
      void Promise.all(back.map((publicKey) => this.dev.setPeer({ publicKey, allowedIps: [], persistentKeepalive: 0 }))).catch((e: unknown) => this.log.warn('cannot turn the start-up keepalives off', { error: (e as Error).message }));
    }, KEEPALIVE_S * 1000);
    this.keepaliveOff.unref();
  }

  /** Saves the endpoints when they changed, looked at every saveEveryMs. */
  track(): void {
    if (this.closed) return;
    this.timer = setTimeout(() => void this.save().then(() => this.track()), saveEveryMs(this.peers));
    this.timer.unref();
  }

  async save(): Promise<void> {
    try {
      const out: Record<string, string> = {};
      const peers = await this.dev.peers();
      this.peers = peers.length;
      for (const p of peers) if (p.endpoint) out[keyToBase64(p.publicKey)] = text(p.endpoint);
      const json = JSON.stringify(out);
      if (json === this.saved) return;
      writeFileSync(`${this.path}.tmp`, json, { mode: 0o600 });
      renameSync(`${this.path}.tmp`, this.path);
      this.saved = json;
    } catch (e) {
      this.log.warn('cannot save the control-tunnel endpoints', { path: this.path, error: (e as Error).message });
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    clearTimeout(this.keepaliveOff);
    await this.save();
  }
}
