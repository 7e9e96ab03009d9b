import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { modeWhenListening } from '../testing/socket-mode.js';
import { AdminServer, adminRequest } from './admin.js';

describe('Map-Server admin socket', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lispwg-ms-admin-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is private from the first moment it listens (mode 0600, no chmod window), and answers', async () => {
    const path = join(dir, 'ms.sock');
    let server: AdminServer | undefined;
    const mode = await modeWhenListening(path, async () => (server = await AdminServer.listen(path, async () => ({ up: true }))));
    try {
      expect(mode?.toString(8)).toBe('600');
      expect(statSync(path).mode & 0o777).toBe(0o600);
      expect(await adminRequest(path, { cmd: 'show' })).toEqual({ up: true });
    } finally {
      await server?.close();
    }
  });
});
