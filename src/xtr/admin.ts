/**
 * The agent's admin socket: a unix stream socket (by default /run/lispwg/<name>.sock, reachable
 * from every network namespace since it lives in the file system). A client writes one JSON
 * request line, `{"cmd":"show"}`, and reads one JSON answer line; the server then closes.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { mkdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { LispwgError } from '../util/errors.js';
import { listenPrivately } from '../util/private-socket.js';

export type AdminHandler = (cmd: string, args: Record<string, unknown>) => unknown;

const MAX_REQUEST = 4096;

/** Listens on `path`, mode 0600 from its creation (removing a stale socket file first; refusing when an agent answers there). */
export async function serveAdmin(path: string, handler: AdminHandler): Promise<Server> {
  mkdirSync(dirname(path), { recursive: true });
  if (await answers(path)) throw new LispwgError('ADMIN_SOCKET_BUSY', `another agent already answers on ${path}: stop it first, or give this one another name`);
  rmSync(path, { force: true });
  const server = createServer((sock) => serveOne(sock, handler));
  await listenPrivately(server, path);
  return server;
}

function serveOne(sock: Socket, handler: AdminHandler): void {
  let buf = '';
  sock.setEncoding('utf8');
  sock.on('error', () => sock.destroy());
  sock.on('data', (chunk: string) => {
    buf += chunk;
    if (buf.length > MAX_REQUEST) {
      buf = '';
      sock.end(JSON.stringify({ ok: false, error: 'request too long' }) + '\n');
      return;
    }
    const nl = buf.indexOf('\n');
    if (nl < 0) return;
    const line = buf.slice(0, nl);
    buf = '';
    void (async () => {
      let reply: unknown;
      try {
        const req = JSON.parse(line) as { cmd?: unknown };
        if (typeof req.cmd !== 'string') throw new Error('a request is {"cmd": "..."}');
        reply = { ok: true, result: await handler(req.cmd, req as Record<string, unknown>) };
      } catch (e) {
        reply = { ok: false, error: (e as Error).message };
      }
      sock.end(JSON.stringify(reply) + '\n');
    })();
  });
}

/** Sends one request to the agent at `path` and returns its result. */
export function adminRequest(path: string, cmd: string, timeoutMs = 5000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const sock = connect(path);
    let buf = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new LispwgError('ADMIN_TIMEOUT', `the agent at ${path} did not answer within ${timeoutMs} ms`));
    }, timeoutMs);
    sock.setEncoding('utf8');
    sock.on('connect', () => sock.write(JSON.stringify({ cmd }) + '\n'));
    sock.on('data', (c: string) => (buf += c));
    sock.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(
        new LispwgError(
          'ADMIN_UNREACHABLE',
          e.code === 'ENOENT' || e.code === 'ECONNREFUSED' ? `no agent is running at ${path} (${e.code})` : `cannot reach the agent at ${path}: ${e.message}`,
        ),
      );
    });
    sock.on('end', () => {
      clearTimeout(timer);
      try {
        const r = JSON.parse(buf) as { ok: boolean; result?: unknown; error?: string };
        if (r.ok) resolve(r.result);
        else reject(new LispwgError('ADMIN_ERROR', `the agent refused '${cmd}': ${r.error}`));
      } catch {
        reject(new LispwgError('ADMIN_PROTOCOL', `the agent at ${path} sent an unreadable answer`));
      }
    });
  });
}

function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.on('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}
