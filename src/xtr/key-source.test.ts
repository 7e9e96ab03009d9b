import { describe, expect, it } from 'vitest';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadOrCreateKey, peekPublicKey } from './key-source.js';
import { generatePrivateKey, keyToBase64, publicKey } from '../wg/keys.js';

describe('agent keys', () => {
  it('generates a missing key file with mode 0600, then loads the same key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lispwg-keys-'));
    try {
      const file = join(dir, 'sub', 'data.key');
      expect(await peekPublicKey({ file }, 'data')).toBeUndefined();
      const k1 = await loadOrCreateKey({ file }, 'data');
      expect(k1.generated).toBe(true);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(readFileSync(file, 'utf8').trim()).toBe(keyToBase64(k1.privateKey));
      const k2 = await loadOrCreateKey({ file }, 'data');
      expect(k2.generated).toBe(false);
      expect(k2.publicKey.equals(k1.publicKey)).toBe(true);
      expect(await peekPublicKey({ file }, 'data')).toBe(keyToBase64(k1.publicKey));
      // a key file its group or others may read (or write) is refused, with the fix
      for (const mode of [0o644, 0o640, 0o602]) {
        chmodSync(file, mode);
        await expect(loadOrCreateKey({ file }, 'data')).rejects.toThrow(new RegExp(`${file}.* has mode 0${mode.toString(8)}.*chmod 600 ${file}`));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('takes an inline key and refuses a bad one', async () => {
    const priv = generatePrivateKey();
    const k = await loadOrCreateKey({ inline: keyToBase64(priv) }, 'control');
    expect(k.publicKey.equals(publicKey(priv))).toBe(true);
    await expect(loadOrCreateKey({ inline: 'short' }, 'control')).rejects.toThrow(/the control private key is not a WireGuard key/);
  });
});
