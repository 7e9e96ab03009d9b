/**
 * A packet capture running in a node: tcpdump (default) or dumpcap (tshark's engine) writing pcap
 * on one interface.
 * It is started and waited for until it listens, and stopped with SIGINT so the file is complete.
 */
import { copyFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LabProcess } from '../process.js';
import type { PacketEvent } from './decode.js';
import { readPcap } from './pcap.js';

export interface CaptureOptions {
  /** A pcap filter expression (`icmp`, `udp port 4342`). */
  filter?: string;
  /** tcpdump (default), or Wireshark's capture engine dumpcap (what tshark runs). */
  tool?: 'tcpdump' | 'dumpcap';
  /** Bytes kept per packet (default: all). */
  snaplen?: number;
}

/** The capture command for `iface`, writing `file`. */
export function captureCommand(iface: string, file: string, opts: CaptureOptions): string[] {
  if (opts.tool === 'dumpcap') {
    // dumpcap itself rather than tshark: tshark, reading dumpcap's pipe, loses the last packets
    // when stopped; -P writes pcap (not pcapng), which the reader understands
    return ['dumpcap', '-q', '-P', '-i', iface, '-w', file, ...(opts.snaplen ? ['-s', String(opts.snaplen)] : []), ...(opts.filter ? ['-f', opts.filter] : [])];
  }
  // --immediate-mode: each packet is read at once (else SIGINT drops the packets still in the
  // kernel's ring buffer); -U: written at once; -Z root: no tcpdump user exists in containers
  return ['tcpdump', '-n', '--immediate-mode', '-U', '-Z', 'root', '-i', iface, '-s', String(opts.snaplen ?? 0), '-w', file, ...(opts.filter ? [opts.filter] : [])];
}

/** What the tool prints once it captures. */
export const listening = (opts: CaptureOptions): RegExp => (opts.tool === 'dumpcap' ? /Capturing on/ : /listening on/);

/**
 * dumpcap prints "Capturing on" a moment before its socket receives packets, and has no immediate
 * mode: packets wait in the kernel's ring buffer until a block times out, and a SIGINT drops them
 * (measured here: the first and the last ping of a capture were lost). So a dumpcap capture waits
 * this long after the message, and this long again before it is stopped. tcpdump runs with
 * --immediate-mode and needs neither.
 */
export const settleMs = (opts: CaptureOptions): number => (opts.tool === 'dumpcap' ? 1000 : 0);

export class Capture {
  constructor(
    readonly node: string,
    readonly iface: string,
    /** The pcap file being written (inside the lab directory). */
    readonly file: string,
    /** The capture tool's process. */
    readonly proc: LabProcess,
    private readonly opts: CaptureOptions = {},
  ) {}

  /** Stops the capture (SIGINT, so the tool flushes) and returns the pcap's path (copied to `to`). */
  async stop(to?: string): Promise<string> {
    if (await this.proc.running()) await sleep(settleMs(this.opts));
    await this.proc.stop('SIGINT', 5000);
    if (!to) return this.file;
    await copyFile(this.file, to);
    return to;
  }

  /** Stops the capture and decodes it. */
  async events(): Promise<PacketEvent[]> {
    return readPcap(await this.stop());
  }
}
