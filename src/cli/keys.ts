/** `lispwg genkey` and `lispwg pubkey`: the same input and output as wg(8)'s. */
import { generatePrivateKey, keyToBase64, parseKey, publicKey } from '../wg/keys.js';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function main(argv: string[]): Promise<number> {
  const [name] = argv;
  if (name === 'genkey') {
    process.stdout.write(keyToBase64(generatePrivateKey()) + '\n');
    return 0;
  }
  const priv = parseKey(await readStdin(), 'the private key on stdin');
  process.stdout.write(keyToBase64(publicKey(priv)) + '\n');
  return 0;
}
