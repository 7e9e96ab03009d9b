/**
 * Files holding secrets (a site's shared key, a WireGuard private key): read only when no one
 * but their owner may read or write them. A key file others can read is a key others have; one
 * they can write is a key they choose. Refused with the fix in the message, not warned about.
 */
import { readFileSync, statSync } from 'node:fs';
import { LispwgError } from './errors.js';

/** Throws KEY_FILE_MODE when `path` is readable or writable by its group or others (mode & 0o077). */
export function checkSecretFileMode(path: string, what: string): void {
  let mode: number;
  try {
    mode = statSync(path).mode & 0o777;
  } catch (e) {
    throw new LispwgError('KEY_FILE', `cannot read ${what} ${path}: ${(e as Error).message}`);
  }
  if (mode & 0o077) {
    throw new LispwgError('KEY_FILE_MODE', `${what} ${path} has mode ${mode.toString(8).padStart(4, '0')}: its group or others may read or change it; run 'chmod 600 ${path}'`);
  }
}

/** The trimmed text of a secret file, after checkSecretFileMode; throws KEY_FILE_EMPTY for an empty one. */
export function readSecretFile(path: string, what: string): string {
  checkSecretFileMode(path, what);
  let text: string;
  try {
    text = readFileSync(path, 'utf8').trim();
  } catch (e) {
    throw new LispwgError('KEY_FILE', `cannot read ${what} ${path}: ${(e as Error).message}`);
  }
  if (!text) throw new LispwgError('KEY_FILE_EMPTY', `${what} ${path} is empty`);
  return text;
}
