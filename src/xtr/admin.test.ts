import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Server } from 'node:net';
import { adminRequest, serveAdmin } from './admin.js';
import { modeWhenListening } from '../testing/socket-mode.js';

describe('admin socket', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lispwg-admin-'));
  const servers: Server[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
  });

  it('answers a request with the handler result, errors as refusals', async () => {
    const path = join(dir, 'a.sock');
    servers.push(
      await serveAdmin(path, async (cmd) => {
        if (cmd === 'show') return { peers: 2 };
        throw new Error(`unknown command '${cmd}'`);
      }),
    );
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(await adminRequest(path, 'show')).toEqual({ peers: 2 });
    await expect(adminRequest(path, 'nope')).rejects.toThrow(/refused 'nope': unknown command 'nope'/);
  });

  it('creates the socket private: mode 0600 from the first moment it listens, not chmod-ed afterwards', async () => {
    const path = join(dir, 'p.sock');
    const mode = await modeWhenListening(path, async () => servers.push(await serveAdmin(path, () => 1)));
    expect(mode?.toString(8)).toBe('600');
    expect(process.umask().toString(8)).toBe('22'); // the process umask is back
  });

  it('replaces a stale socket file, refuses to start next to a live agent', async () => {
    const path = join(dir, 'b.sock');
    writeFileSync(path, 'stale');
    servers.push(await serveAdmin(path, () => 1));
    expect(await adminRequest(path, 'x')).toBe(1);
    await expect(serveAdmin(path, () => 2)).rejects.toThrow(/another agent already answers/);
  });

  it('says when no agent runs there', async () => {
    await expect(adminRequest(join(dir, 'none.sock'), 'show')).rejects.toThrow(/no agent is running at .*none\.sock/);
  });

  it('cleans up', () => {
    rmSync(dir, { recursive: true, force: true });
  });
});
