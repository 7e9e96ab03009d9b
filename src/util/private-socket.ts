/**
 * Unix sockets that are private from their first instant. bind(2) creates the socket file with
 * the process umask (0755 under the usual 022): a chmod after listen() leaves a window in which
 * any local user may connect. Listening with umask 0177 creates it 0600 at once; Node binds a
 * pipe synchronously inside listen(), so the umask is back before anything else runs.
 */
import type { Server } from 'node:net';

/** `server.listen(path)`, the socket file created with mode 0600; resolves once listening. */
export function listenPrivately(server: Server, path: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const umask = process.umask(0o177);
    try {
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    } finally {
      process.umask(umask);
    }
  });
}
