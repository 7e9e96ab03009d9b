/**
 * Control messages assembled byte by byte the way other LISP implementations build them, without
 * lispwg's encoder, for the interop tests (our decoder must accept them, tshark must agree).
 */
import { createHmac } from 'node:crypto';

/** The thesis' OOR configuration key (map-server { key-type = 1; key = contraseña }). */
export const OOR_SECRET = 'contraseña';

const u16 = (v: number) => [v >> 8, v & 0xff];
const u32 = (v: number) => [v >>> 24, (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff];

/**
 * A Map-Register as OOR (v1.2/1.3, oor/liblisp) sends it for the thesis' database-mapping
 * (eid-prefix /32, ttl = 10, one rloc-iface with priority 1 weight 100) to a map-server with
 * key-type = 1 and proxy-reply = on:
 * - header: map_register_hdr_init() sets map_notify = 1 (M), the P bit comes from proxy-reply
 *   (oor/liblisp/lisp_messages.c);
 * - auth: lisp_msg_put_empty_auth_record(): key ID 1 and auth_data_get_len_for_type() = 20 for
 *   HMAC_SHA_1_96 (LISP_SHA1_AUTH_DATA_LEN, oor/liblisp/lisp_message_fields.h), filled by
 *   complete_auth_fields() with mbedtls HMAC-SHA1 over the whole message with the field zeroed,
 *   keyed with strlen(key) bytes of the configured key (oor/lib/hmac.c);
 * - record: mapping_record_init_hdr() sets A = 1; TTL from the mapping (the thesis' ttl = 10,
 *   also OOR 1.2's DEFAULT_DATA_CACHE_TTL); a plain IPv4 EID for iid = 0;
 * - locator: lisp_msg_put_locator() copies priority/weight/M priority/M weight and sets
 *   L (local) and R (reachable: the interface is up).
 */
export function oorMapRegister(eid = [198, 18, 10, 2], rloc = [198, 18, 0, 1], nonce = [0x8c, 0x1f, 0x3e, 0x27, 0x00, 0x91, 0xa4, 0x5b]): Buffer {
  const bytes = Buffer.from([
    0x38, 0x00, 0x01, 0x01, // type 3, P; M; 1 record
    ...nonce,
    ...u16(1), ...u16(20), // key ID 1 (HMAC-SHA-1-96), 20 bytes of authentication data
    ...new Array<number>(20).fill(0),
    ...u32(10), // record TTL (minutes)
    0x01, 32, 0x10, 0x00, // 1 locator, /32, ACT 0 + A, reserved
    ...u16(0), // map-version 0
    ...u16(1), ...eid, // EID-prefix AFI 1
    1, 100, 255, 0, // priority 1, weight 100, multicast 255/0 (unused)
    0x00, 0x05, // L + R
    ...u16(1), ...rloc,
  ]);
  createHmac('sha1', OOR_SECRET).update(bytes).digest().copy(bytes, 16);
  return bytes;
}

/** lig's inner source port: random in [MIN_EPHEMERAL_PORT, MAX_EPHEMERAL_PORT) unless -p. */
export const LIG_INNER_SOURCE_PORT = 49731;

/**
 * An encapsulated Map-Request as lig sends it (LISPmob/lig-lispmob send_map_request.c, default
 * options, `-u` so the inner UDP checksum is 0):
 * - ECM header: lcp->type = 8, everything else zeroed by memset;
 * - inner IPv4: hl 5, tos 0, ip_len, ip_id = 54321, ip_off 0, ttl 255, UDP, ip_sum left 0
 *   ("compute checksum later", never done), src = this host, dst = the EID asked for;
 * - inner UDP: source port emr_inner_src_port, dest 4342 (lig-lispmob waits on its socket bound
 *   to 4342 since 2016, so a Map-Server that answers at this port reaches it only with `-p 4342`);
 * - Map-Request: all flags 0 (mrauth, probe, smr, smri), IRC 0, record count 1, nonce0/nonce1,
 *   source EID AFI 0 (addr_write(NULL): no --srceid), one ITR-RLOC (my_addr), one record with
 *   mask-len LISP_IP_MASK_LEN (32).
 */
export function ligEcmMapRequest(host = [198, 18, 10, 1], eid = [198, 18, 20, 1], itrRloc = [100, 100, 0, 1], nonce0 = 0x3a6b9d01, nonce1 = 0x00c0ffee): Buffer {
  const mapRequest = [
    0x10, 0x00, 0x00, 0x01,
    ...u32(nonce0), ...u32(nonce1),
    ...u16(0), // source EID AFI 0
    ...u16(1), ...itrRloc,
    0x00, 32, ...u16(1), ...eid,
  ];
  const udpLength = 8 + mapRequest.length;
  const ipLength = 20 + udpLength;
  return Buffer.from([
    0x80, 0x00, 0x00, 0x00,
    0x45, 0x00, ...u16(ipLength), ...u16(54321), 0x00, 0x00, 255, 17, 0x00, 0x00, ...host, ...eid,
    ...u16(LIG_INNER_SOURCE_PORT), ...u16(4342), ...u16(udpLength), 0x00, 0x00,
    ...mapRequest,
  ]);
}
