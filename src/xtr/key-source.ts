/**
 * The agent's private keys (control and data): inline in the config, or in a file that is
 * generated (mode 0600) the first time the agent starts. Keys are never logged; only public
 * keys leave this module in text.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { generatePrivateKey, loadPrivateKey, parseKey, publicKey, savePrivateKey } from '../wg/keys.js';
import type { KeySource } from './config.js';

export interface AgentKey {
  privateKey: Buffer;
  publicKey: Buffer;
  /** True when this call created the key file. */
  generated: boolean;
}

/** Loads the key, generating its file (0600) when it does not exist; refuses a file its group or others may read or write. */
export async function loadOrCreateKey(src: KeySource, what: string): Promise<AgentKey> {
  if ('inline' in src) {
    const privateKey = parseKey(src.inline, `the ${what} private key`);
    return { privateKey, publicKey: publicKey(privateKey), generated: false };
  }
  if (!existsSync(src.file)) {
    const privateKey = generatePrivateKey();
    mkdirSync(dirname(src.file), { recursive: true, mode: 0o700 });
    await savePrivateKey(src.file, privateKey);
    return { privateKey, publicKey: publicKey(privateKey), generated: true };
  }
  const privateKey = await loadPrivateKey(src.file);
  return { privateKey, publicKey: publicKey(privateKey), generated: false };
}

/** The public key if the key exists now, without creating anything (for --dry-run). */
export async function peekPublicKey(src: KeySource, what: string): Promise<string | undefined> {
  if ('file' in src && !existsSync(src.file)) return undefined;
  return (await loadOrCreateKey(src, what)).publicKey.toString('base64');
}
