/**
 * Loads a Map-Server with registered entries for `ms-response`: Map-Registers (HMAC-signed, M bit
 * set) of up to 100 records each, sent from inside a lab node; each is confirmed by its Map-Notify
 * before the load counts it (a window of 16 in flight). Entries are IPv6 /64s in 2001:db8::/32
 * (the only documentation space large enough for 10^6 distinct prefixes): entry i is
 * 2001:db8:<i/65536>:<i%65536>::/64, with or without a WireGuard key.
 *
 *   node dist/experiments/tools/ms-load.js --ms 198.18.0.1 --key K --from 0 --to 100000 [--keys] [--rloc 198.18.0.2] [--records 100]
 *
 * Prints one JSON line: {"registered": n, "seconds": s}.
 */
import dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { decodeMessage, eidAddress, signMessage, wrapWireguardKey, type MappingRecord } from '../../src/lisp/index.js';
import { MonotonicNonces } from '../../src/lisp/nonce.js';
import { LispwgError } from '../../src/util/errors.js';

/** Records per Map-Register by default; OOR 1.3 fails to send the Map-Notify for 50 IPv6 records (measured: 30 pass). */
const RECORDS_PER_REGISTER = 100;
const WINDOW = 16;

/** Entry i's EID prefix, and an address inside it (what a query asks for). */
const entryPrefix = (i: number): string => `2001:db8:${(i >>> 16).toString(16)}:${(i & 0xffff).toString(16)}::`;
export const entryEid = (i: number): string => `${entryPrefix(i)}1`;

function record(i: number, withKey: boolean, rloc: string): MappingRecord {
  const eid = eidAddress(entryPrefix(i));
  const key = Buffer.alloc(32);
  for (let w = 0; w < 8; w++) key.writeUInt32BE(Math.imul(i + 1, 0x9e3779b1 + w) >>> 0, w * 4);
  return {
    ttl: 1440,
    maskLen: 64,
    action: 0,
    authoritative: true,
    mapVersion: 0,
    eid: withKey ? wrapWireguardKey(eid, key) : eid,
    locators: [{ priority: 1, weight: 100, mPriority: 255, mWeight: 0, local: true, probed: false, reachable: true, address: { afi: isIPv6(rloc) ? 'ipv6' : 'ipv4', address: rloc } }],
  };
}

export async function load(o: { ms: string; port: number; key: string; keyId: 1 | 2; from: number; to: number; keys: boolean; rloc: string; records?: number; timeoutMs?: number }): Promise<{ registered: number; seconds: number }> {
  const sock = dgram.createSocket(isIPv6(o.ms) ? 'udp6' : 'udp4');
  await new Promise<void>((r) => sock.bind(0, () => r()));
  const t0 = performance.now();
  const batches: Array<[number, number]> = [];
  const per = o.records ?? RECORDS_PER_REGISTER;
  for (let i = o.from; i < o.to; i += per) batches.push([i, Math.min(o.to, i + per)]);
  const pending = new Map<bigint, { batch: number; sentAt: number; tries: number }>();
  const nonces = new MonotonicNonces();
  let next = 0;
  let confirmed = 0;
  let registered = 0;
  const send = (b: number, tries: number): void => {
    const [lo, hi] = batches[b]!;
    const nonce = nonces.next(); // the Map-Server refuses a plain site's Map-Register whose nonce is not new
    const records: MappingRecord[] = [];
    for (let i = lo; i < hi; i++) records.push(record(i, o.keys, o.rloc));
    const bytes = signMessage({ type: 'map-register', proxyReply: true, security: false, rtr: false, wantMapNotify: true, nonce, keyId: o.keyId, authData: new Uint8Array(0), records }, o.keyId, o.key);
    pending.set(nonce, { batch: b, sentAt: performance.now(), tries });
    sock.send(bytes, o.port, o.ms);
  };
  let timer: NodeJS.Timeout | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      const fill = (): void => {
        while (pending.size < WINDOW && next < batches.length) send(next++, 1);
        if (confirmed === batches.length) resolve();
      };
      sock.on('message', (buf) => {
        let m;
        try {
          m = decodeMessage(buf);
        } catch {
          return;
        }
        const p = m.type === 'map-notify' ? pending.get(m.nonce) : undefined;
        if (!p || m.type !== 'map-notify') return;
        pending.delete(m.nonce);
        confirmed++;
        registered += batches[p.batch]![1] - batches[p.batch]![0];
        fill();
      });
      // a lost Map-Register (or Map-Notify) is sent again after 500 ms, five times at most
      timer = setInterval(() => {
        const now = performance.now();
        for (const [nonce, p] of pending) {
          if (now - p.sentAt < 500) continue;
          pending.delete(nonce);
          if (p.tries >= 5) {
            reject(new LispwgError('MS_LOAD', `Map-Register of entries ${batches[p.batch]![0]}..${batches[p.batch]![1]} got no Map-Notify after 5 tries: is the site key right, and the site's prefix 2001:db8::/32 with accept-more-specifics?`));
            return;
          }
          send(p.batch, p.tries + 1);
        }
        if (now - t0 > (o.timeoutMs ?? 600_000)) reject(new LispwgError('MS_LOAD', `loading timed out after ${registered} entries`));
      }, 100);
      fill();
    });
  } finally {
    clearInterval(timer);
    sock.close();
  }
  return { registered, seconds: Math.round(performance.now() - t0) / 1000 };
}

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { ms: { type: 'string' }, port: { type: 'string', default: '4342' }, key: { type: 'string' }, 'key-id': { type: 'string', default: '1' }, from: { type: 'string', default: '0' }, to: { type: 'string' }, keys: { type: 'boolean', default: false }, rloc: { type: 'string', default: '198.18.0.2' }, records: { type: 'string', default: String(RECORDS_PER_REGISTER) } },
  });
  if (!values.ms || !values.key || !values.to) throw new LispwgError('BAD_FLAG', 'usage: ms-load --ms ADDR --key K --to N [--from 0] [--keys] [--rloc ADDR] [--port 4342] [--key-id 1|2] [--records 100]');
  const records = Number(values.records);
  if (!Number.isInteger(records) || records < 1 || records > 255) throw new LispwgError('BAD_FLAG', `--records is 1..255 (a Map-Register's record count is 8 bits), not '${values.records}'`);
  const r = await load({ records, ms: values.ms, port: Number(values.port), key: values.key, keyId: values['key-id'] === '2' ? 2 : 1, from: Number(values.from), to: Number(values.to), keys: values.keys ?? false, rloc: values.rloc ?? '198.18.0.2' });
  process.stdout.write(JSON.stringify(r) + '\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2)).catch((e: unknown) => {
    process.stderr.write(`ms-load: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  });
}
