/**
 * A TUN interface (IFF_TUN | IFF_NO_PI): whole IP packets in and out, no packet-info header.
 *
 * Reading: the fd is non-blocking and watched by libuv on the event loop (uv_poll in the addon);
 * when it is readable the device reads every waiting packet and hands each to the handler. This
 * costs no thread: fs.read on the libuv pool would pin a pool thread per device in a blocking
 * read(), and Node's net.Socket refuses a character device.
 * Writing: one write() per packet, synchronous (a TUN write never blocks: it enters the stack).
 */
import { closeSync } from 'node:fs';
import { LispwgError } from '../../util/errors.js';
import { callNative, native, type PollHandle } from '../../native/native.js';
import { checkIfName } from '../../net/rtnetlink.js';

export interface TunOpenOptions {
  /** Create the interface inside this named network namespace (/var/run/netns/NAME). */
  netns?: string;
}

/** Largest packet a TUN hands out: its MTU is at most 65535. */
const MAX_PACKET = 65535;

export class TunDevice {
  private poll: PollHandle | undefined;
  private closed = false;
  private readonly rx = Buffer.allocUnsafe(MAX_PACKET);

  private constructor(
    /** The interface name (the kernel's choice when a pattern like 'tun%d' was given). */
    readonly name: string,
    readonly fd: number,
  ) {}

  /** Creates (or attaches to) the TUN interface `name`; it lives until close(). */
  static open(name: string, opts: TunOpenOptions = {}): TunDevice {
    if (!name.includes('%')) checkIfName(name, 'TUN interface name');
    const where = opts.netns ? ` in namespace ${opts.netns}` : '';
    const r = callNative(`opening TUN interface ${name}${where}`, (a) => a.tunOpen(name, opts.netns ?? null));
    return new TunDevice(r.name, r.fd);
  }

  /**
   * Starts delivering packets: `handler` gets each IP packet (a copy it may keep) as soon as the
   * kernel queues it. One handler per device; call again to replace it. If reading fails (the
   * interface was deleted under us...) delivery stops and `onError` gets the error (without
   * onError it is thrown as an uncaught exception).
   */
  onPacket(handler: (packet: Buffer) => void, onError?: (err: Error) => void): void {
    this.ensureOpen();
    this.pause();
    const poll: PollHandle = callNative(`watching TUN ${this.name}`, (a) =>
      a.pollStart(this.fd, () => {
        // read everything queued, until paused or closed (possibly by the handler itself)
        while (this.poll === poll) {
          let n: number;
          try {
            n = callNative(`reading TUN ${this.name}`, (x) => x.readFd(this.fd, this.rx));
          } catch (e) {
            this.pause();
            if (!onError) throw e;
            onError(e as Error);
            return;
          }
          if (n < 0) return;
          handler(Buffer.from(this.rx.subarray(0, n)));
        }
      }),
    );
    this.poll = poll;
  }

  /** Stops delivering packets (they queue in the kernel, up to the interface's txqueuelen). */
  pause(): void {
    if (this.poll) native().pollStop(this.poll);
    this.poll = undefined;
  }

  /** Injects one IP packet into the kernel, as if it had arrived on this interface. */
  write(packet: Uint8Array): void {
    this.ensureOpen();
    callNative(`writing a ${packet.length}-byte packet to TUN ${this.name}`, (a) => a.writeFd(this.fd, packet));
  }

  /** Closes the fd; the interface disappears with its last queue. */
  close(): void {
    if (this.closed) return;
    this.pause();
    this.closed = true;
    closeSync(this.fd);
  }

  private ensureOpen(): void {
    if (this.closed) throw new LispwgError('TUN_CLOSED', `TUN ${this.name} is closed`);
  }
}
