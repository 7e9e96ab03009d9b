/**
 * Reads a pcap file (tcpdump / tshark -F pcap) with pcap-parser and yields decoded, timestamped
 * events (decode.ts). Timestamps are microseconds since the epoch, the clock of Date.now(), so
 * they compare directly with the timestamps of a handover record.
 */
import pcap from 'pcap-parser';
import { LispwgError } from '../../src/util/errors.js';
import { decodeFrame, type PacketEvent } from './decode.js';

/** Every packet of a capture, in file order. */
export function readPcap(file: string): Promise<PacketEvent[]> {
  return new Promise((resolve, reject) => {
    const out: PacketEvent[] = [];
    let linkType = -1;
    const parser = pcap.parse(file);
    parser.on('globalHeader', (h) => (linkType = h.linkLayerType));
    parser.on('packet', (p) => {
      const t = p.header.timestampSeconds * 1e6 + p.header.timestampMicroseconds;
      out.push(decodeFrame(linkType, p.data, t, p.header.originalLength));
    });
    parser.on('error', (e) => reject(new LispwgError('PCAP_INVALID', `cannot read ${file} as pcap: ${e.message} (write captures with tcpdump -w or tshark -F pcap)`)));
    parser.on('end', () => resolve(out));
  });
}
