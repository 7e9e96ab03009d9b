import { describe, expect, test } from 'vitest';
import { execFileSync } from 'node:child_process';
import { prerequisites } from '../testing/prerequisites.js';
import { generatePrivateKey, keyToBase64, parseKey, publicKey } from './keys.js';

const hasWg = (await prerequisites('wg pubkey cross-check', { tools: ['wg'] })) === undefined;

describe('WireGuard keys', () => {
  test('genkey clamps like wg genkey', () => {
    for (let i = 0; i < 50; i++) {
      const k = generatePrivateKey();
      expect(k[0]! & 7).toBe(0);
      expect(k[31]! & 0x80).toBe(0);
      expect(k[31]! & 0x40).toBe(0x40);
    }
  });

  test('RFC 7748 test vector (Alice)', () => {
    const priv = Buffer.from('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a', 'hex');
    expect(publicKey(priv).toString('hex')).toBe('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
  });

  test.skipIf(!hasWg)('pubkey matches wg pubkey for our keys and for wg genkey keys', () => {
    for (let i = 0; i < 5; i++) {
      const ours = keyToBase64(generatePrivateKey());
      const theirs = execFileSync('wg', ['genkey']).toString().trim();
      for (const priv of [ours, theirs]) {
        const expected = execFileSync('wg', ['pubkey'], { input: priv + '\n' }).toString().trim();
        expect(keyToBase64(publicKey(parseKey(priv)))).toBe(expected);
      }
    }
  });

  test('parseKey names the problem', () => {
    expect(() => parseKey('not a key')).toThrow(/not a WireGuard key/);
    expect(() => parseKey('A'.repeat(42) + 'B=')).toThrow(/not a WireGuard key/); // 'B' would set bits past 256
    expect(parseKey(keyToBase64(Buffer.alloc(32, 1))).length).toBe(32);
  });
});
