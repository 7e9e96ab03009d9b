/**
 * The Map-Server's admin socket: a unix stream socket where `lispwg ms show` and
 * `lispwg ms reload` send one JSON line ({"cmd":"show","limit":N} or {"cmd":"reload"}) and read
 * one JSON line back ({"ok":true,"data":...} or {"ok":false,"code":...,"error":...}).
 */
import net from 'node:net';
import { mkdir, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { LispwgError } from '../util/errors.js';
import { listenPrivately } from '../util/private-socket.js';

export type AdminRequest = { cmd: 'show'; limit?: number } | { cmd: 'reload' };
export type AdminResponse = { ok: true; data: unknown } | { ok: false; code: string; error: string };

/** Requests larger than this are refused (the socket is root's, but stay bounded anyway). */
const MAX_REQUEST = 4096;

/** The default admin socket path for a Map-Server listening on `address`:`port`. */
export function defaultAdminSocket(address: string, port: number): string {
  return `/run/lispwg/ms-${address.replace(/[^0-9A-Za-z.]/g, '_')}-${port}.sock`;
}

export class AdminServer {
  private constructor(
    private readonly server: net.Server,
    readonly path: string,
  ) {}

  /** Listens on `path`, mode 0600 from its creation (refusing one that a live daemon answers on; removing a stale one). */
  static async listen(path: string, handle: (req: AdminRequest) => Promise<unknown>): Promise<AdminServer> {
    await mkdir(dirname(path), { recursive: true });
    if (await answers(path)) throw new LispwgError('ADMIN_SOCKET_BUSY', `another daemon answers on the admin socket ${path}: give this one --admin PATH`);
    await unlink(path).catch(() => undefined);
    const server = net.createServer((conn) => {
      let buf = '';
      conn.setEncoding('utf8');
      conn.on('error', () => undefined);
      conn.on('data', (chunk: string) => {
        buf += chunk;
        if (buf.length > MAX_REQUEST) {
          conn.end(JSON.stringify({ ok: false, code: 'ADMIN_REQUEST', error: 'request too long' }) + '\n');
          return;
        }
        const nl = buf.indexOf('\n');
        if (nl < 0) return;
        const line = buf.slice(0, nl);
        void (async () => {
          let res: AdminResponse;
          try {
            const req = parseRequest(line);
            res = { ok: true, data: await handle(req) };
          } catch (e) {
            res = { ok: false, code: e instanceof LispwgError ? e.code : 'ADMIN_ERROR', error: (e as Error).message };
          }
          conn.end(JSON.stringify(res) + '\n');
        })();
      });
    });
    await listenPrivately(server, path);
    return new AdminServer(server, path);
  }

  async close(): Promise<void> {
    await new Promise<void>((r) => this.server.close(() => r()));
    await unlink(this.path).catch(() => undefined);
  }
}

function parseRequest(line: string): AdminRequest {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    throw new LispwgError('ADMIN_REQUEST', 'the admin request is not JSON');
  }
  const o = v as { cmd?: unknown; limit?: unknown };
  if (o?.cmd === 'reload') return { cmd: 'reload' };
  if (o?.cmd === 'show') return { cmd: 'show', ...(typeof o.limit === 'number' ? { limit: o.limit } : {}) };
  throw new LispwgError('ADMIN_REQUEST', `unknown admin command ${JSON.stringify(o?.cmd)} (show, reload)`);
}

/** Whether a live daemon answers on the socket at `path`. */
export async function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(path);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

/** Sends one request to a daemon's admin socket and returns its data (throws its error). */
export async function adminRequest(path: string, req: AdminRequest, timeoutMs = 10_000): Promise<unknown> {
  const text = await new Promise<string>((resolve, reject) => {
    const c = net.connect(path);
    let buf = '';
    const timer = setTimeout(() => {
      c.destroy();
      reject(new LispwgError('ADMIN_TIMEOUT', `no answer on the admin socket ${path} within ${timeoutMs} ms`));
    }, timeoutMs);
    c.setEncoding('utf8');
    c.on('connect', () => c.write(JSON.stringify(req) + '\n'));
    c.on('data', (d: string) => (buf += d));
    c.on('end', () => {
      clearTimeout(timer);
      resolve(buf);
    });
    c.on('error', (e) => {
      clearTimeout(timer);
      reject(new LispwgError('ADMIN_UNREACHABLE', `cannot reach the Map-Server's admin socket ${path}: ${e.message} (is 'lispwg ms' running? give --admin PATH)`));
    });
  });
  let res: AdminResponse;
  try {
    res = JSON.parse(text) as AdminResponse;
  } catch {
    throw new LispwgError('ADMIN_RESPONSE', `the admin socket ${path} answered something that is not JSON`);
  }
  if (!res.ok) throw new LispwgError(res.code, res.error);
  return res.data;
}
