import { afterAll, describe, expect, test } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../util/exec.js';
import { decodeMessage, encodeMessage, LispAuthError, signMessage, verifyMessage, type MapRegister } from './index.js';
import { sampleMapNotify, sampleMapNotifyAck, sampleMapRegister, sampleMapRequest } from './samples.js';

const SECRET = 'contraseña'; // the thesis' Map-Server key (non-ASCII: used as UTF-8 bytes, as OOR does)
const dir = mkdtempSync(join(tmpdir(), 'lispwg-auth-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function authError(bytes: Uint8Array, secret: string | Uint8Array = SECRET): LispAuthError {
  try {
    verifyMessage(bytes, secret);
  } catch (e) {
    expect(e).toBeInstanceOf(LispAuthError);
    return e as LispAuthError;
  }
  throw new Error('verifyMessage accepted the bytes');
}

/** HMAC computed by openssl over the message with its auth field zeroed: an independent oracle. */
async function opensslHmac(bytes: Uint8Array, digest: 'sha1' | 'sha256', authLength: number): Promise<string> {
  const zeroed = Buffer.from(bytes);
  zeroed.fill(0, 16, 16 + authLength);
  const file = join(dir, `msg-${digest}.bin`);
  writeFileSync(file, zeroed);
  const { stdout } = await run(['openssl', 'dgst', `-${digest}`, '-hmac', SECRET, '-r', file]);
  return stdout.split(' ')[0]!;
}

describe('sign and verify', () => {
  for (const [keyId, length] of [
    [1, 20],
    [2, 32],
  ] as const) {
    for (const msg of [sampleMapRegister(), sampleMapNotify(), sampleMapNotifyAck()]) {
      test(`${msg.type}, key ID ${keyId}`, () => {
        const bytes = signMessage(msg, keyId, SECRET);
        const copy = Buffer.from(bytes);
        verifyMessage(bytes, SECRET);
        expect(Buffer.compare(bytes, copy)).toBe(0); // verifying leaves the bytes alone
        verifyMessage(bytes, Buffer.from(SECRET, 'utf8'));
        const decoded = decodeMessage(bytes) as MapRegister;
        expect(decoded.keyId).toBe(keyId);
        expect(decoded.authData.length).toBe(length);
        expect(bytes.readUInt16BE(14)).toBe(length);
        expect({ ...decoded, keyId: 0, authData: new Uint8Array(0) }).toEqual({ ...msg, keyId: 0, authData: new Uint8Array(0) });
      });
    }
  }

  test('known answer: the digest is openssl HMAC-SHA1 / HMAC-SHA256 of the zeroed message', async () => {
    const sha1 = signMessage(sampleMapRegister(), 1, SECRET);
    expect(sha1.subarray(16, 36).toString('hex')).toBe(await opensslHmac(sha1, 'sha1', 20));
    const sha256 = signMessage(sampleMapRegister(), 2, SECRET);
    expect(sha256.subarray(16, 48).toString('hex')).toBe(await opensslHmac(sha256, 'sha256', 32));
  });

  test('cannot sign with key ID 0 or 3', () => {
    expect(() => signMessage(sampleMapRegister(), 0, SECRET)).toThrow(/key ID 0/);
    expect(() => signMessage(sampleMapRegister(), 3, SECRET)).toThrow(/key ID 3/);
  });
});

describe('refusals', () => {
  test('wrong secret or altered bytes: AUTH_MISMATCH', () => {
    const bytes = signMessage(sampleMapRegister(), 1, SECRET);
    expect(authError(bytes, 'contrasena').code).toBe('AUTH_MISMATCH');
    for (const at of [0, 3, 8, 16, 35, 40, bytes.length - 1]) {
      const altered = Buffer.from(bytes);
      altered[at]! ^= 0x01;
      expect(authError(altered).code).toBe('AUTH_MISMATCH');
    }
    const sha256 = signMessage(sampleMapNotify(), 2, SECRET);
    sha256[sha256.length - 1]! ^= 0x80;
    expect(authError(sha256).code).toBe('AUTH_MISMATCH');
  });

  test('unknown key ID: AUTH_KEY_ID', () => {
    for (const keyId of [0, 3, 0xffff]) {
      const bytes = encodeMessage({ ...sampleMapRegister(), keyId, authData: new Uint8Array(20) });
      const err = authError(bytes);
      expect(err.code).toBe('AUTH_KEY_ID');
      expect(err.message).toContain(`key ID ${keyId}`);
    }
  });

  test('length wrong for the key ID: AUTH_LENGTH', () => {
    // HMAC-SHA-1-96 truncated to 12 bytes, as RFC 6833's name suggests, is not what peers send
    const truncated = encodeMessage({ ...sampleMapRegister(), keyId: 1, authData: new Uint8Array(12) });
    expect(authError(truncated).code).toBe('AUTH_LENGTH');
    const sha256With20 = encodeMessage({ ...sampleMapRegister(), keyId: 2, authData: new Uint8Array(20) });
    expect(authError(sha256With20).code).toBe('AUTH_LENGTH');
    const signed = signMessage(sampleMapRegister(), 1, SECRET);
    expect(authError(signed.subarray(0, 30)).code).toBe('AUTH_LENGTH');
    expect(authError(signed.subarray(0, 10)).code).toBe('AUTH_LENGTH');
  });

  test('a message type without authentication: AUTH_TYPE', () => {
    expect(authError(encodeMessage(sampleMapRequest())).code).toBe('AUTH_TYPE');
  });
});
