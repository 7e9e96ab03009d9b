/**
 * Test helper: a TCP transfer between two namespaces that proves the bytes arrive intact: a
 * Node server in one namespace hashes what it receives, a client in the other sends random bytes
 * and hashes what it sent. Used by the data-plane variants' integration tests.
 */
import { run, spawn } from '../../../util/exec.js';

export interface TransferResult {
  /** Bytes the server received. */
  received: number;
  /** The server's SHA-256 equals the client's. */
  intact: boolean;
  mbps: number;
}

export async function tcpTransfer(opts: { serverNs: string; clientNs: string; address: string; port?: number; bytes: number; timeoutMs?: number }): Promise<TransferResult> {
  const port = opts.port ?? 5001;
  const server = `const c=require('crypto'),h=c.createHash('sha256');let n=0;const s=require('net').createServer(k=>{k.on('data',d=>{n+=d.length;h.update(d)});k.on('end',()=>{console.log(JSON.stringify({n,sha:h.digest('hex')}));s.close()})});s.listen(${port},${JSON.stringify(opts.address)},()=>console.log('listening'))`;
  const client = `const c=require('crypto');const b=c.createHash('sha256');const k=require('net').connect(${port},${JSON.stringify(opts.address)},()=>{let left=${opts.bytes};const chunk=()=>{while(left>0){const d=c.randomBytes(Math.min(65536,left));left-=d.length;b.update(d);if(!k.write(d))return k.once('drain',chunk)}k.end(()=>console.log(JSON.stringify({sha:b.digest('hex')})))};chunk()})`;
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const srv = spawn(['ip', 'netns', 'exec', opts.serverNs, process.execPath, '-e', server], { stdout: 'pipe', timeoutMs });
  try {
    const lines: string[] = [];
    let wake: () => void = () => undefined;
    srv.stdout?.on('data', (d: Buffer) => {
      lines.push(...d.toString().split('\n').filter(Boolean));
      wake();
    });
    const next = async (re: RegExp) => {
      for (;;) {
        const hit = lines.find((l) => re.test(l));
        if (hit) return hit;
        if (srv.exitCode !== null && srv.exitCode !== undefined) throw new Error(`the transfer server exited: ${lines.join('\n')}`);
        await new Promise<void>((r) => ((wake = r), setTimeout(r, 200)));
      }
    };
    await next(/listening/);
    const t0 = performance.now();
    const sent = await run(['ip', 'netns', 'exec', opts.clientNs, process.execPath, '-e', client], { timeoutMs });
    const got = JSON.parse(await next(/"sha"/)) as { n: number; sha: string };
    const ms = performance.now() - t0;
    return { received: got.n, intact: got.sha === (JSON.parse(sent.stdout) as { sha: string }).sha, mbps: (got.n * 8) / (ms * 1000) };
  } finally {
    srv.kill('SIGTERM');
    await srv.catch(() => undefined);
  }
}
