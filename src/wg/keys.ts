/**
 * WireGuard keys (Curve25519) with node:crypto, byte-compatible with wg(8):
 * `genkey` is 32 random bytes clamped as wg does, `publicKey` is X25519(priv, 9).
 * Keys travel as base64 (wg's text form) and as hex on wireguard-go's UAPI.
 */
import { createPrivateKey, createPublicKey, randomBytes } from 'node:crypto';
import { readFile, writeFile, chmod } from 'node:fs/promises';
import { LispwgError } from '../util/errors.js';
import { checkSecretFileMode } from '../util/secret-file.js';

export const KEY_LEN = 32;
const PKCS8_X25519_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

export function generatePrivateKey(): Buffer {
  const k = randomBytes(KEY_LEN);
  k[0]! &= 248;
  k[31]! = (k[31]! & 127) | 64;
  return k;
}

export function publicKey(privateKey: Uint8Array): Buffer {
  if (privateKey.length !== KEY_LEN) throw new LispwgError('KEY_LENGTH', `a WireGuard private key is ${KEY_LEN} bytes, got ${privateKey.length}`);
  const der = Buffer.concat([PKCS8_X25519_PREFIX, privateKey]);
  const pub = createPublicKey(createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }));
  const jwk = pub.export({ format: 'jwk' });
  return Buffer.from(jwk.x as string, 'base64url');
}

/** Parses wg's base64 text form (44 characters, 32 bytes); throws KEY_INVALID naming the problem. */
export function parseKey(text: string, what = 'key'): Buffer {
  const t = text.trim();
  if (!/^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/.test(t)) {
    throw new LispwgError('KEY_INVALID', `${what} is not a WireGuard key (expected 44 base64 characters ending in '=', as printed by wg genkey / wg pubkey)`);
  }
  return Buffer.from(t, 'base64');
}

export const keyToBase64 = (k: Uint8Array): string => Buffer.from(k).toString('base64');
export const keyToHex = (k: Uint8Array): string => Buffer.from(k).toString('hex');

/** Reads a private key file (base64); refuses one its group or others may read or write (KEY_FILE_MODE). */
export async function loadPrivateKey(path: string): Promise<Buffer> {
  checkSecretFileMode(path, 'the private key file');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new LispwgError('KEY_FILE', `cannot read private key file ${path}: ${(e as Error).message}`);
  }
  return parseKey(text, `private key in ${path}`);
}

/** Writes a private key file readable by its owner only (0600). */
export async function savePrivateKey(path: string, key: Uint8Array): Promise<void> {
  await writeFile(path, keyToBase64(key) + '\n', { mode: 0o600 });
  await chmod(path, 0o600);
}
