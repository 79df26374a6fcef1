// PROXY protocol v2 (haproxy proxy-protocol.txt §2.2), as ztunnel writes it in front of the bytes it hands to a
// workload with `application_tunnel.protocol = PROXY` (reference: ambient-dataplane.md §2.8): command PROXY over TCP,
// source = the original client, destination = the HBONE target, TLV 0xD0 = the client's SPIFFE identity and, when the
// target was a service hostname, TLV 0xD1 = that hostname. Pure: Uint8Array in and out.
import { HboneError } from './errors.js';
import { canonicalIp, ipBytes } from './ip.js';

const SIGNATURE = Uint8Array.of(0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a);

/** TLV type ztunnel uses for the client's SPIFFE identity. */
export const PROXY_TLV_PEER_IDENTITY = 0xd0;
/** TLV type for the service hostname the client asked for (documented by Istio; ztunnel writes it for hostname targets). */
export const PROXY_TLV_SERVICE_HOSTNAME = 0xd1;

export interface ProxyAddress {
  readonly address: string;
  readonly port: number;
}

export interface ProxyHeader {
  readonly source: ProxyAddress;
  readonly destination: ProxyAddress;
  /** The client's SPIFFE ID (TLV 0xD0). */
  readonly identity?: string;
  /** The service hostname (TLV 0xD1). */
  readonly serviceHostname?: string;
  /** Other TLVs, by type. */
  readonly tlvs?: ReadonlyArray<{ readonly type: number; readonly value: Uint8Array }>;
}

function addressBytes(address: string, asV6: boolean): Uint8Array {
  const bytes = ipBytes(address, asV6);
  if (!bytes) throw new HboneError('ERR_HBONE_BAD_OPTIONS', `${address} is not an IP address`);
  return bytes;
}

function checkPort(port: number): number {
  if (!Number.isInteger(port) || port < 0 || port > 65_535)
    throw new HboneError('ERR_HBONE_BAD_OPTIONS', `port ${port} is not in 0-65535`);
  return port;
}

/** Encodes a PROXY v2 header (command PROXY, TCP). Mixed IPv4/IPv6 addresses are sent as IPv6 (v4-mapped). */
export function encodeProxyV2(header: ProxyHeader): Uint8Array {
  const v6 =
    canonicalIp(header.source.address)?.kind === 'ipv6' || canonicalIp(header.destination.address)?.kind === 'ipv6';
  const src = addressBytes(header.source.address, v6);
  const dst = addressBytes(header.destination.address, v6);
  const tlvs: Array<{ type: number; value: Uint8Array }> = [];
  const utf8 = new TextEncoder();
  if (header.identity !== undefined) tlvs.push({ type: PROXY_TLV_PEER_IDENTITY, value: utf8.encode(header.identity) });
  if (header.serviceHostname !== undefined)
    tlvs.push({ type: PROXY_TLV_SERVICE_HOSTNAME, value: utf8.encode(header.serviceHostname) });
  for (const tlv of header.tlvs ?? []) tlvs.push({ type: tlv.type, value: tlv.value });
  const addrLength = v6 ? 36 : 12;
  const tlvLength = tlvs.reduce((n, t) => n + 3 + t.value.length, 0);
  const length = addrLength + tlvLength;
  if (length > 65_535) throw new HboneError('ERR_HBONE_BAD_OPTIONS', 'PROXY v2 header longer than 65535 bytes');
  const out = new Uint8Array(16 + length);
  out.set(SIGNATURE, 0);
  out[12] = 0x21; // version 2, command PROXY
  out[13] = v6 ? 0x21 : 0x11; // AF_INET6 / AF_INET, STREAM
  out[14] = length >> 8;
  out[15] = length & 255;
  let at = 16;
  out.set(src, at);
  at += src.length;
  out.set(dst, at);
  at += dst.length;
  const sp = checkPort(header.source.port);
  const dp = checkPort(header.destination.port);
  out[at++] = sp >> 8;
  out[at++] = sp & 255;
  out[at++] = dp >> 8;
  out[at++] = dp & 255;
  for (const tlv of tlvs) {
    if (!Number.isInteger(tlv.type) || tlv.type < 0 || tlv.type > 255)
      throw new HboneError('ERR_HBONE_BAD_OPTIONS', `TLV type ${tlv.type} is not a byte`);
    out[at++] = tlv.type;
    out[at++] = tlv.value.length >> 8;
    out[at++] = tlv.value.length & 255;
    out.set(tlv.value, at);
    at += tlv.value.length;
  }
  return out;
}

export interface DecodedProxyHeader extends ProxyHeader {
  /** Bytes the header occupies at the start of the input. */
  readonly length: number;
  /** 'proxy' or 'local' (LOCAL carries no addresses; they read as 0.0.0.0:0). */
  readonly command: 'proxy' | 'local';
}

function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  return canonicalIp(groups.join(':'))!.address;
}

/**
 * Decodes a PROXY v2 header at the start of `data`. Returns undefined when more bytes are needed; throws
 * ERR_HBONE_BAD_OPTIONS when the bytes are not a PROXY v2 header.
 */
export function decodeProxyV2(data: Uint8Array): DecodedProxyHeader | undefined {
  const have = Math.min(data.length, SIGNATURE.length);
  for (let i = 0; i < have; i++)
    if (data[i] !== SIGNATURE[i]) throw new HboneError('ERR_HBONE_BAD_OPTIONS', 'not a PROXY v2 header');
  if (data.length < 16) return undefined;
  const verCmd = data[12]!;
  if (verCmd >> 4 !== 2) throw new HboneError('ERR_HBONE_BAD_OPTIONS', 'PROXY protocol version is not 2');
  const command = (verCmd & 15) === 1 ? 'proxy' : 'local';
  const family = data[13]!;
  const length = (data[14]! << 8) | data[15]!;
  if (data.length < 16 + length) return undefined;
  const body = data.subarray(16, 16 + length);
  const addrLength = family >> 4 === 1 ? 12 : family >> 4 === 2 ? 36 : 0;
  if (body.length < addrLength) throw new HboneError('ERR_HBONE_BAD_OPTIONS', 'PROXY v2 address block truncated');
  const ipLength = addrLength === 12 ? 4 : 16;
  const source: ProxyAddress = addrLength
    ? { address: formatIp(body.subarray(0, ipLength)), port: (body[ipLength * 2]! << 8) | body[ipLength * 2 + 1]! }
    : { address: '0.0.0.0', port: 0 };
  const destination: ProxyAddress = addrLength
    ? {
        address: formatIp(body.subarray(ipLength, ipLength * 2)),
        port: (body[ipLength * 2 + 2]! << 8) | body[ipLength * 2 + 3]!,
      }
    : { address: '0.0.0.0', port: 0 };
  const tlvs: Array<{ type: number; value: Uint8Array }> = [];
  let identity: string | undefined;
  let serviceHostname: string | undefined;
  const utf8 = new TextDecoder();
  for (let at = addrLength; at < body.length;) {
    if (at + 3 > body.length) throw new HboneError('ERR_HBONE_BAD_OPTIONS', 'PROXY v2 TLV truncated');
    const type = body[at]!;
    const len = (body[at + 1]! << 8) | body[at + 2]!;
    if (at + 3 + len > body.length) throw new HboneError('ERR_HBONE_BAD_OPTIONS', 'PROXY v2 TLV truncated');
    const value = Uint8Array.from(body.subarray(at + 3, at + 3 + len));
    if (type === PROXY_TLV_PEER_IDENTITY) identity = utf8.decode(value);
    else if (type === PROXY_TLV_SERVICE_HOSTNAME) serviceHostname = utf8.decode(value);
    else tlvs.push({ type, value });
    at += 3 + len;
  }
  return {
    length: 16 + length,
    command,
    source,
    destination,
    ...(identity !== undefined ? { identity } : {}),
    ...(serviceHostname !== undefined ? { serviceHostname } : {}),
    tlvs,
  };
}
