/** Test support: the mode a unix socket file had when listen() reported it listening (before its owner could chmod it). */
import { statSync } from 'node:fs';
import { Server } from 'node:net';
import { vi } from 'vitest';

/** Runs `listen` under the usual umask 022 and returns the socket file's mode seen by the first listen callback. */
export async function modeWhenListening(path: string, listen: () => Promise<unknown>): Promise<number | undefined> {
  let seen: number | undefined;
  const original = Server.prototype.listen;
  const spy = vi.spyOn(Server.prototype, 'listen').mockImplementation(function (this: Server, ...args: unknown[]) {
    const cb = args.at(-1);
    if (typeof cb === 'function') {
      args[args.length - 1] = (...a: unknown[]) => {
        seen ??= statSync(path).mode & 0o777;
        return (cb as (...x: unknown[]) => unknown)(...a);
      };
    }
    return (original as (...x: unknown[]) => Server).apply(this, args);
  });
  const umask = process.umask(0o022);
  try {
    await listen();
  } finally {
    process.umask(umask);
    spy.mockRestore();
  }
  return seen;
}
