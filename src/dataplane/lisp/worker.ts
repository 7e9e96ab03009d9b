/**
 * The packet loop of the plain LISP data plane, in a worker thread so that the agent's event
 * loop (control messages, timers) and the packets never wait for each other.
 *
 *   TUN -> lookup(destination) -> 8-byte LISP header -> UDP to RLOC:4341      (encapsulation)
 *   UDP :4341 -> check header -> strip it -> TUN                              (decapsulation)
 *
 * Both directions are drained on every wake-up of this thread's event loop (the TUN fd and the
 * UDP 4341 fd are polled there) with one synchronous system call per packet and no allocation:
 * a packet is read from the TUN 8 bytes into a buffer whose first 8 bytes already hold the
 * header (it never changes for a given data plane), and that buffer is written as it is to a UDP
 * socket connected to the RLOC; a datagram is read from UDP 4341 and written to the TUN from
 * byte 8. Measured against dgram's send() / 'message' on the same path, this is the difference
 * between some 150 and some 400+ Mb/s (experiments/bench/dataplane.ts prints both directions).
 * Reading and writing fds of sockets that dgram created: see udp-fd.ts.
 *
 * The main thread (LispDataPlane) mirrors the agent's map-cache here with 'map' / 'unmap'
 * messages; a miss is reported back ('miss', at most once per destination and retry interval,
 * which an 'unmap' restarts)
 * and, with the `buffer` policy, the packet waits in a bounded PacketBuffer until its mapping
 * arrives. Counters live in a SharedArrayBuffer the main thread reads at any time.
 */
import dgram from 'node:dgram';
import { parentPort, workerData } from 'node:worker_threads';
import { native, type PollHandle } from '../../native/native.js';
import { PacketBuffer } from '../packet-buffer.js';
import { formatEidPrefix, type EidPrefix } from '../../mapping/eid.js';
import { ForwardingTable, type Rloc } from './forwarding-table.js';
import { checkDecap, DATA_HEADER_LENGTH, headerTemplate } from './packet.js';
import { Counter, type FromWorker, type ToWorker, type WorkerInit } from './protocol.js';
import { HoldDown } from './hold-down.js';
import { takeUdpReader, udpFd } from './udp-fd.js';

/** Largest packet read from the TUN or the socket (an MTU is at most 65535). */
const MAX_PACKET = 65535;

/** A UDP socket connected to one RLOC; fd -1 while (re)connecting (packets to it are dropped). */
interface Tunnel {
  key: string;
  rloc: Rloc;
  socket: dgram.Socket | undefined;
  fd: number;
  /** Prefixes mapped to this RLOC (the socket closes with the last). */
  prefixes: Set<string>;
  /** A failed connect is tried again after this long (doubling, reset by a success). */
  retryMs: number;
  retry?: NodeJS.Timeout | undefined;
}

const CONNECT_RETRY_FIRST_MS = 20;
const CONNECT_RETRY_MAX_MS = 1000;

/** Multicast, broadcast and link-local destinations are never resolved (IPv6 MLD, RS...). */
function resolvable(dst: string, family: 4 | 6): boolean {
  if (family === 6) return !/^(ff|fe[89ab])/i.test(dst);
  const first = Number(dst.slice(0, dst.indexOf('.')));
  return first < 224 && !dst.startsWith('169.254.');
}

function main(init: WorkerInit): void {
  const port = parentPort!;
  const addon = native();
  const c = new Float64Array(init.counters);
  const post = (m: FromWorker) => port.postMessage(m);
  const table = new ForwardingTable<Tunnel>();
  const tunnels = new Map<string, Tunnel>();
  /** prefix text -> the tunnel it maps to (absent: negative or unmapped). */
  const routeOf = new Map<string, Tunnel>();
  /** prefix text -> the prefix (to install it once its tunnel is connected). */
  const routePrefix = new Map<string, EidPrefix>();
  const buffer = new PacketBuffer(init.buffer);
  /** Destinations with packets in the buffer (text -> family), checked when a mapping arrives. */
  const pending = new Map<string, 'ipv4' | 'ipv6'>();
  /** Missing destinations reported within the retry interval (bounded: a new one beyond is not reported). */
  const reported = new HoldDown(init.missRetryMs, init.missReportTable);
  let stopping = false;

  // --- encapsulation ---------------------------------------------------------------------------
  const out = Buffer.allocUnsafeSlow(DATA_HEADER_LENGTH + MAX_PACKET);
  headerTemplate(init.instanceId).copy(out, 0);
  const outBody = out.subarray(DATA_HEADER_LENGTH);

  function send(t: Tunnel, packet: Buffer): void {
    if (t.fd < 0) {
      c[Counter.sendErrors]!++;
      return;
    }
    try {
      addon.writeFd(t.fd, packet);
      c[Counter.txPackets]!++;
      c[Counter.txBytes]! += packet.length - DATA_HEADER_LENGTH;
    } catch {
      // socket buffer full (EAGAIN), ICMP unreachable reported (ECONNREFUSED), no route...: lost
      c[Counter.sendErrors]!++;
    }
  }

  function miss(n: number, family: 4 | 6): void {
    const dst = table.lastDestination();
    if (!resolvable(dst, family)) {
      c[Counter.notIp]!++;
      return;
    }
    if (init.missPolicy === 'buffer') {
      if (buffer.push(dst, Buffer.from(out.subarray(0, DATA_HEADER_LENGTH + n)))) {
        c[Counter.missBuffered]!++;
        pending.set(dst, family === 4 ? 'ipv4' : 'ipv6');
      } else c[Counter.bufferDropped]!++;
    } else c[Counter.missDropped]!++;
    const verdict = reported.take(dst, performance.now());
    if (verdict === 'full') c[Counter.missUnreported]!++;
    if (verdict !== 'pass') return;
    post({ type: 'miss', destination: dst, family });
  }

  function drainTun(): void {
    for (;;) {
      let n: number;
      try {
        n = addon.readFd(init.tunFd, outBody);
      } catch (e) {
        // the TUN is gone (deleted under us): stop reading it, say so, keep decapsulating
        if (tunPoll) addon.pollStop(tunPoll);
        tunPoll = undefined;
        post({ type: 'error', code: 'TUN_READ', message: `reading the TUN failed, encapsulation stopped: ${(e as Error).message}` });
        return;
      }
      if (n < 0) return;
      const t = table.lookupPacket(out, DATA_HEADER_LENGTH, n);
      if (t) send(t, out.subarray(0, DATA_HEADER_LENGTH + n));
      else if (t === null) c[Counter.negativeDropped]!++;
      else if (table.lastFamily === 0) c[Counter.notIp]!++;
      else miss(n, table.lastFamily);
    }
  }

  /** Sends the buffered packets whose destination the table now covers. */
  function release(): void {
    for (const [dst, afi] of pending) {
      const t = table.lookupAddress(afi, dst);
      if (t === undefined || (t && t.fd < 0)) continue;
      pending.delete(dst);
      reported.release(dst);
      if (t === null) {
        c[Counter.bufferDropped]! += buffer.discard(dst, 'unresolved');
        continue;
      }
      for (const p of buffer.take(dst)) {
        c[Counter.bufferReleased]!++;
        send(t, p as Buffer);
      }
    }
  }

  // --- decapsulation ---------------------------------------------------------------------------
  const inBuf = Buffer.allocUnsafeSlow(DATA_HEADER_LENGTH + MAX_PACKET);
  function drainUdp(fd: number): void {
    for (;;) {
      let n: number;
      try {
        n = addon.readFd(fd, inBuf);
      } catch {
        c[Counter.decapDropped]!++; // a pending socket error (ICMP) is reported once by read(): go on
        continue;
      }
      if (n < 0) return;
      if (checkDecap(inBuf, n, init.instanceId) !== 'ok') {
        c[Counter.decapDropped]!++;
        continue;
      }
      try {
        addon.writeFd(init.tunFd, inBuf.subarray(DATA_HEADER_LENGTH, n));
        c[Counter.rxPackets]!++;
        c[Counter.rxBytes]! += n - DATA_HEADER_LENGTH;
      } catch {
        c[Counter.tunWriteErrors]!++; // e.g. the TUN is down: the packet is lost, the loop goes on
      }
    }
  }

  // --- tunnels: one connected socket per RLOC ----------------------------------------------------
  /**
   * A connected UDP socket to the tunnel's RLOC (its source is chosen now). Right after our own
   * RLOC changed the route may not be there yet (ENETUNREACH): then it is tried again shortly,
   * or the tunnel would stay dead while everything else had recovered.
   */
  function connect(t: Tunnel): void {
    clearTimeout(t.retry);
    const s = dgram.createSocket(t.rloc.family === 4 ? 'udp4' : 'udp6');
    t.socket = s;
    t.fd = -1;
    s.on('error', () => {
      if (t.socket === s) c[Counter.sendErrors]!++;
    });
    // a failed connect comes to this callback (with the error), not to 'error'
    s.connect(t.rloc.port, t.rloc.address, (err?: Error) => {
      if (t.socket !== s || stopping) return;
      if (err) {
        c[Counter.sendErrors]!++;
        s.close();
        t.socket = undefined;
        t.retry = setTimeout(() => tunnels.get(t.key) === t && !stopping && connect(t), t.retryMs);
        t.retryMs = Math.min(t.retryMs * 2, CONNECT_RETRY_MAX_MS);
        return;
      }
      t.retryMs = CONNECT_RETRY_FIRST_MS;
      t.fd = udpFd(s);
      for (const p of t.prefixes) {
        table.set(routePrefix.get(p)!, t);
        mapped(routePrefix.get(p)!, t);
      }
      if (pending.size) release();
    });
  }

  /** Tells the agent when a mapping became usable (its cache-add ends here, not when it was sent). */
  function mapped(prefix: EidPrefix, t: Tunnel): void {
    post({ type: 'mapped', prefix, rloc: t.rloc.address, at: performance.timeOrigin + performance.now() });
  }

  function closeTunnel(t: Tunnel): void {
    clearTimeout(t.retry);
    t.socket?.close();
    t.socket = undefined;
    t.fd = -1;
    tunnels.delete(t.key);
  }

  function unroute(key: string): void {
    const old = routeOf.get(key);
    if (!old) return;
    routeOf.delete(key);
    old.prefixes.delete(key);
    if (old.prefixes.size === 0) closeTunnel(old);
  }

  port.on('message', (m: ToWorker) => {
    if (m.type === 'map') {
      const key = formatEidPrefix(m.prefix);
      unroute(key);
      routePrefix.set(key, m.prefix);
      if (!m.entry) {
        table.set(m.prefix, null);
        if (pending.size) release();
        return;
      }
      const tkey = `${m.entry.address}|${m.entry.port}`;
      let t = tunnels.get(tkey);
      if (!t) {
        t = { key: tkey, rloc: m.entry, socket: undefined, fd: -1, prefixes: new Set(), retryMs: CONNECT_RETRY_FIRST_MS };
        tunnels.set(tkey, t);
        connect(t);
      }
      t.prefixes.add(key);
      routeOf.set(key, t);
      if (t.fd >= 0) {
        table.set(m.prefix, t);
        mapped(m.prefix, t);
        if (pending.size) release();
      } else table.delete(m.prefix); // installed when its socket is connected
    } else if (m.type === 'unmap') {
      const key = formatEidPrefix(m.prefix);
      unroute(key);
      routePrefix.delete(key);
      table.delete(m.prefix);
      // a mapping is gone (flushed, expired): its destinations must be able to miss again at once
      reported.clear();
    } else if (m.type === 'refresh') {
      // our own address changed: connected sockets keep the old source address, so reconnect
      for (const t of tunnels.values()) {
        t.socket?.close();
        connect(t);
      }
    } else if (m.type === 'stop') stop();
  });

  // --- start and stop --------------------------------------------------------------------------
  const polls: PollHandle[] = [];
  let tunPoll: PollHandle | undefined;
  const listeners: dgram.Socket[] = [];
  let expiry: NodeJS.Timeout | undefined;
  function stop(): void {
    stopping = true;
    for (const p of polls) addon.pollStop(p);
    polls.length = 0;
    if (tunPoll) addon.pollStop(tunPoll);
    tunPoll = undefined;
    if (expiry) clearInterval(expiry);
    for (const s of listeners) s.close();
    for (const t of [...tunnels.values()]) closeTunnel(t);
    post({ type: 'stopped' });
    port.close();
  }

  let binding = init.listen.length;
  for (const l of init.listen) {
    const s = dgram.createSocket({ type: l.family === 4 ? 'udp4' : 'udp6', ipv6Only: l.family === 6 });
    listeners.push(s);
    s.once('error', (e: NodeJS.ErrnoException) => {
      post({ type: 'error', code: e.code === 'EADDRINUSE' ? 'DATA_PORT_IN_USE' : 'DATA_SOCKET', message: `cannot listen on ${l.address} port ${init.port}: ${e.message}` });
      stop();
    });
    s.bind(init.port, l.address, () => {
      if (stopping) return;
      const fd = takeUdpReader(s);
      polls.push(addon.pollStart(fd, () => drainUdp(fd)));
      if (--binding > 0) return;
      tunPoll = addon.pollStart(init.tunFd, drainTun);
      if (init.missPolicy === 'buffer') {
        expiry = setInterval(() => {
          c[Counter.bufferDropped]! += buffer.expire();
          for (const dst of pending.keys()) if (!buffer.has(dst)) pending.delete(dst);
        }, Math.max(50, init.buffer.maxAgeMs / 2));
      }
      post({ type: 'ready' });
    });
  }
}

main(workerData as WorkerInit);
