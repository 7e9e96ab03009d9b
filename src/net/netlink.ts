/**
 * Netlink messages built and parsed in TypeScript, sent over the native addon's AF_NETLINK socket
 * without spawning anything. Shared by rtnetlink (routes, addresses, links) and by the kernel
 * WireGuard backend (generic netlink).
 *
 * Requests are synchronous: the kernel handles an rtnetlink or genetlink request inside the send
 * system call and queues its answer before returning, so a request costs two system calls and a
 * few microseconds. A socket waits at most 5 s for an answer (NETLINK_TIMEOUT).
 */
import { closeSync } from 'node:fs';
import { getSystemErrorName } from 'node:util';
import { callNative, native } from '../native/native.js';
import { LispwgError } from '../util/errors.js';

export const NETLINK_ROUTE = 0;
export const NETLINK_GENERIC = 16;

const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;
export const NLM_F_REQUEST = 0x1;
const NLM_F_ACK = 0x4;
export const NLM_F_DUMP = 0x300;
export const NLM_F_REPLACE = 0x100;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;
const NLM_F_CAPPED = 0x100; // in an ACK: only the request's header is echoed
const NLM_F_ACK_TLVS = 0x200; // in an ACK: extended-ack attributes follow
const NLMSGERR_ATTR_MSG = 1;
export const NLA_F_NESTED = 0x8000;
const NLA_TYPE_MASK = 0x3fff;
const NLMSG_HDRLEN = 16;

const align4 = (n: number) => (n + 3) & ~3;

/** Appends a netlink message: header, fixed family header, then (nested) attributes. */
export class NlWriter {
  private buf = Buffer.alloc(512);
  private len = 0;

  constructor(type: number, flags: number) {
    this.u32(0); // length, patched by finish()
    this.u16(type);
    this.u16(flags);
    this.u32(0); // seq, set by finish()
    this.u32(0); // port id: the kernel fills it in
  }

  private room(n: number): number {
    if (this.len + n > this.buf.length) {
      const bigger = Buffer.alloc(Math.max(this.buf.length * 2, this.len + n));
      this.buf.copy(bigger, 0, 0, this.len);
      this.buf = bigger;
    }
    const at = this.len;
    this.len += n;
    return at;
  }

  u8(v: number): this {
    const at = this.room(1); // before reading this.buf: room() may replace it
    this.buf.writeUInt8(v, at);
    return this;
  }
  u16(v: number): this {
    const at = this.room(2); // before reading this.buf: room() may replace it
    this.buf.writeUInt16LE(v, at);
    return this;
  }
  u32(v: number): this {
    const at = this.room(4); // before reading this.buf: room() may replace it
    this.buf.writeUInt32LE(v >>> 0, at);
    return this;
  }
  i32(v: number): this {
    const at = this.room(4); // before reading this.buf: room() may replace it
    this.buf.writeInt32LE(v, at);
    return this;
  }
  bytes(b: Uint8Array): this {
    const at = this.room(b.length);
    this.buf.set(b, at);
    return this;
  }
  private pad(): void {
    const n = align4(this.len) - this.len;
    if (n) {
      const at = this.room(n);
      this.buf.fill(0, at, this.len);
    }
  }

  attr(type: number, value: Uint8Array): this {
    this.u16(4 + value.length).u16(type).bytes(value);
    this.pad();
    return this;
  }
  attrU8(type: number, v: number): this {
    return this.attr(type, Buffer.of(v));
  }
  attrU16(type: number, v: number): this {
    const b = Buffer.alloc(2);
    b.writeUInt16LE(v);
    return this.attr(type, b);
  }
  attrU32(type: number, v: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v >>> 0);
    return this.attr(type, b);
  }
  /** A NUL-terminated string (NLA_NUL_STRING / NLA_STRING both accept it). */
  attrString(type: number, s: string): this {
    return this.attr(type, Buffer.from(s + '\0', 'utf8'));
  }
  /** A nested attribute (NLA_F_NESTED set, as strict kernel validation requires). */
  nest(type: number, body: (w: this) => void): this {
    const at = this.len;
    this.u16(0).u16(type | NLA_F_NESTED);
    body(this);
    this.buf.writeUInt16LE(this.len - at, at);
    return this;
  }

  finish(seq: number): Buffer {
    this.buf.writeUInt32LE(this.len, 0);
    this.buf.writeUInt32LE(seq, 8);
    return this.buf.subarray(0, this.len);
  }
}

export interface NlMessage {
  type: number;
  flags: number;
  seq: number;
  /** Everything after the 16-byte header (a copy: safe to keep). */
  payload: Buffer;
}

/** Splits a datagram into messages, refusing lengths that point outside it. */
export function parseMessages(data: Uint8Array): NlMessage[] {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const out: NlMessage[] = [];
  for (let off = 0; off + NLMSG_HDRLEN <= buf.length; ) {
    const len = buf.readUInt32LE(off);
    if (len < NLMSG_HDRLEN || off + len > buf.length) throw new LispwgError('NETLINK_MALFORMED', `netlink message length ${len} at offset ${off} overruns the ${buf.length}-byte datagram`);
    out.push({
      type: buf.readUInt16LE(off + 4),
      flags: buf.readUInt16LE(off + 6),
      seq: buf.readUInt32LE(off + 8),
      payload: Buffer.from(buf.subarray(off + NLMSG_HDRLEN, off + len)),
    });
    off += align4(len);
  }
  return out;
}

/** Attributes in order (repeated types kept), type without the NESTED/byte-order flags. */
export function parseAttrList(buf: Buffer, offset = 0): { type: number; value: Buffer }[] {
  const out: { type: number; value: Buffer }[] = [];
  for (let off = offset; off + 4 <= buf.length; ) {
    const len = buf.readUInt16LE(off);
    if (len < 4 || off + len > buf.length) break; // a truncated tail is ignored, never read past
    out.push({ type: buf.readUInt16LE(off + 2) & NLA_TYPE_MASK, value: buf.subarray(off + 4, off + len) });
    off += align4(len);
  }
  return out;
}

/** Attributes by type (the last one wins if repeated). */
export function parseAttrs(buf: Buffer, offset = 0): Map<number, Buffer> {
  return new Map(parseAttrList(buf, offset).map((a) => [a.type, a.value]));
}

/** A netlink request the kernel refused: `errno` is its name (EEXIST...), code NETLINK_<errno>. */
export class NetlinkError extends LispwgError {
  constructor(
    readonly errno: string,
    message: string,
  ) {
    super(`NETLINK_${errno}`, message);
  }
}

function kernelError(what: string, negErrno: number, extack: string | undefined): NetlinkError {
  const name = getSystemErrorName(negErrno);
  const text = native().strerror(-negErrno);
  return new NetlinkError(name, `${what}: ${text} (${name})${extack ? `: ${extack}` : ''}`);
}

/** The extended-ack text the kernel attaches to an NLMSG_ERROR or NLMSG_DONE, if any. */
function extackMessage(m: NlMessage): string | undefined {
  if (!(m.flags & NLM_F_ACK_TLVS) || m.payload.length < 4) return undefined;
  // NLMSG_ERROR: errno, then the request's header (capped) or the whole request; DONE: errno only
  let at = 4;
  if (m.type === NLMSG_ERROR) at += m.flags & NLM_F_CAPPED ? NLMSG_HDRLEN : m.payload.length >= 8 ? m.payload.readUInt32LE(4) : 0;
  const msg = parseAttrs(m.payload, align4(at)).get(NLMSGERR_ATTR_MSG);
  return msg ? msg.toString('utf8').replace(/\0.*$/s, '') : undefined;
}

export interface NetlinkOpenOptions {
  /** Multicast groups to join (a monitor). */
  groups?: number;
  /** Open the socket inside this named network namespace (/var/run/netns/NAME). */
  netns?: string;
  /** Open it inside a new, empty namespace that lives as long as the socket. */
  freshNetns?: boolean;
  /** Non-blocking (monitors read it from the event loop); requests use blocking sockets. */
  nonBlocking?: boolean;
}

const RECV_BUFFER = 64 * 1024;

export class NetlinkSocket {
  private seq = Math.floor(Math.random() * 0x7fffffff);
  private readonly rx = Buffer.alloc(RECV_BUFFER);
  private closed = false;

  private constructor(
    readonly fd: number,
    readonly protocol: number,
  ) {}

  static open(protocol: number, opts: NetlinkOpenOptions = {}): NetlinkSocket {
    const where = opts.netns ? ` in namespace ${opts.netns}` : opts.freshNetns ? ' in a new namespace' : '';
    const fd = callNative(`opening a netlink socket${where}`, (a) =>
      a.netlinkOpen(protocol, opts.groups ?? 0, opts.netns ?? null, opts.freshNetns ?? false, opts.nonBlocking ?? false),
    );
    return new NetlinkSocket(fd, protocol);
  }

  /**
   * Sends one request and returns the kernel's answer messages. A dump (NLM_F_DUMP in flags) ends
   * at NLMSG_DONE; anything else is sent with NLM_F_ACK and ends at the ACK. A refusal throws a
   * NetlinkError whose message starts with `what` and carries the kernel's reason.
   */
  request(type: number, flags: number, body: (w: NlWriter) => void, what: string): NlMessage[] {
    if (this.closed) throw new LispwgError('NETLINK_CLOSED', `${what}: the netlink socket is closed`);
    const dump = (flags & NLM_F_DUMP) === NLM_F_DUMP;
    const w = new NlWriter(type, NLM_F_REQUEST | flags | (dump ? 0 : NLM_F_ACK));
    body(w);
    const seq = (this.seq = (this.seq + 1) >>> 0);
    const msg = w.finish(seq);
    callNative(what, (x) => x.writeFd(this.fd, msg));
    const replies: NlMessage[] = [];
    for (;;) {
      // -1: SO_RCVTIMEO (set by the addon) expired
      const n = callNative(what, (x) => x.readFd(this.fd, this.rx));
      if (n < 0) throw new LispwgError('NETLINK_TIMEOUT', `${what}: the kernel did not answer within 5 s`);
      for (const m of parseMessages(this.rx.subarray(0, n))) {
        if (m.seq !== seq) continue; // a late answer to an earlier, abandoned request
        if (m.type === NLMSG_ERROR) {
          const err = m.payload.length >= 4 ? m.payload.readInt32LE(0) : -71; // EPROTO
          if (err !== 0) throw kernelError(what, err, extackMessage(m));
          return replies;
        }
        if (m.type === NLMSG_DONE) {
          const err = m.payload.length >= 4 ? m.payload.readInt32LE(0) : 0;
          if (err < 0) throw kernelError(what, err, extackMessage(m));
          return replies;
        }
        replies.push(m);
      }
    }
  }

  /** Reads what is waiting on a non-blocking socket: messages, [] if nothing, or throws (ENOBUFS: overrun). */
  receive(): NlMessage[] {
    const n = callNative('reading a netlink socket', (a) => a.readFd(this.fd, this.rx));
    return n < 0 ? [] : parseMessages(this.rx.subarray(0, n));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
  }
}
