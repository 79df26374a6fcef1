// The HBONE header codec (reference: ambient-dataplane.md §2.2-§2.3): the CONNECT request a client sends and the
// server decodes, and the values it carries — `:authority` (ip:port / [v6]:port), `forwarded` (RFC 7239),
// `baggage` (W3C Baggage with Istio's workload keys), `traceparent` (W3C Trace Context) and `x-forwarded-network`.
//
// Pure: no I/O, no node: imports, no ambient randomness unless asked for. Exported as `@mesh/hbone/headers`.
import type { Rng } from '@mesh/core';
import { HboneError } from './errors.js';
import { canonicalIp, formatIpv6Groups, parseIpv4Octets, parseIpv6Groups } from './ip.js';

export { canonicalIp };

/** The well-known HBONE port. */
export const HBONE_PORT = 15008;

/** Header names HBONE uses (HTTP/2 header names are lower case). */
export const HBONE_HEADERS = Object.freeze({
  baggage: 'baggage',
  forwarded: 'forwarded',
  traceparent: 'traceparent',
  forwardedNetwork: 'x-forwarded-network',
});

function badAuthority(value: string, why: string): HboneError {
  return new HboneError('ERR_HBONE_BAD_AUTHORITY', `bad authority ${JSON.stringify(value)}: ${why}`, {
    details: { authority: value },
  });
}

function badHeader(name: string, value: string, why: string): HboneError {
  return new HboneError('ERR_HBONE_BAD_HEADER', `bad ${name} header ${JSON.stringify(value)}: ${why}`, {
    details: { header: name },
  });
}

// ---------------------------------------------------------------------------------------------------------------
// IP addresses and authorities

export type HostKind = 'ipv4' | 'ipv6' | 'hostname';

/** A parsed `:authority`: IPs in canonical form (IPv6 per RFC 5952, without brackets), hostnames lower-cased. */
export interface Authority {
  readonly host: string;
  readonly port: number;
  readonly kind: HostKind;
}

const HOSTNAME_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

function isHostname(host: string): boolean {
  if (host.length === 0 || host.length > 253) return false;
  const labels = (host.endsWith('.') ? host.slice(0, -1) : host).split('.');
  return labels.every((label) => HOSTNAME_LABEL.test(label)) && !/^[0-9.]+$/.test(host);
}

function parsePort(text: string, value: string): number {
  if (!/^[0-9]{1,5}$/.test(text)) throw badAuthority(value, 'the port is not a decimal number');
  const port = Number(text);
  if (port < 1 || port > 65_535) throw badAuthority(value, 'the port is not in 1-65535');
  return port;
}

export interface ParseAuthorityOptions {
  /**
   * Accept `hostname:port` (double HBONE and some waypoints send `<service hostname>:<port>`). Default false: only
   * `ip:port` and `[ipv6]:port`, which is what a ztunnel sends to a workload.
   */
  allowHostname?: boolean;
}

/** Parses an HBONE `:authority`; throws ERR_HBONE_BAD_AUTHORITY. */
export function parseAuthority(value: string, options: ParseAuthorityOptions = {}): Authority {
  if (typeof value !== 'string' || value.length === 0) throw badAuthority(String(value), 'it is empty');
  if (value.length > 300) throw badAuthority(value.slice(0, 64), 'it is too long');
  if (value.startsWith('[')) {
    const close = value.indexOf(']');
    if (close === -1 || value[close + 1] !== ':') throw badAuthority(value, 'expected [ipv6]:port');
    const inner = value.slice(1, close);
    if (inner.includes('%')) throw badAuthority(value, 'IPv6 zone identifiers are not allowed');
    const groups = parseIpv6Groups(inner);
    if (!groups) throw badAuthority(value, `${inner} is not an IPv6 address`);
    return { host: formatIpv6Groups(groups), port: parsePort(value.slice(close + 2), value), kind: 'ipv6' };
  }
  const colon = value.lastIndexOf(':');
  if (colon <= 0) throw badAuthority(value, 'expected host:port');
  const host = value.slice(0, colon);
  const port = parsePort(value.slice(colon + 1), value);
  if (host.includes(':')) throw badAuthority(value, 'an IPv6 address must be in brackets: [addr]:port');
  const v4 = parseIpv4Octets(host);
  if (v4) return { host: v4.join('.'), port, kind: 'ipv4' };
  if (/^[0-9.]+$/.test(host)) throw badAuthority(value, `${host} is not an IPv4 address`);
  if (!options.allowHostname) throw badAuthority(value, 'expected an IP address (ip:port or [ipv6]:port)');
  const lower = host.toLowerCase();
  if (!isHostname(lower)) throw badAuthority(value, `${host} is not a DNS hostname`);
  return { host: lower, port, kind: 'hostname' };
}

/** Like parseAuthority, but returns undefined instead of throwing. */
export function tryParseAuthority(value: string, options: ParseAuthorityOptions = {}): Authority | undefined {
  try {
    return parseAuthority(value, options);
  } catch {
    return undefined;
  }
}

/** `ip:port`, `[ipv6]:port` or `host:port` in canonical form. Accepts an Authority or `{ host, port }`. */
export function formatAuthority(authority: { readonly host: string; readonly port: number }): string {
  const { host, port } = authority;
  if (!Number.isInteger(port) || port < 1 || port > 65_535)
    throw badAuthority(`${host}:${port}`, 'the port is not in 1-65535');
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  const ip = canonicalIp(bare);
  if (ip) return ip.kind === 'ipv6' ? `[${ip.address}]:${port}` : `${ip.address}:${port}`;
  const lower = bare.toLowerCase();
  if (!isHostname(lower)) throw badAuthority(`${host}:${port}`, `${host} is neither an IP address nor a hostname`);
  return `${lower}:${port}`;
}

/** Accepts `"ip:port"` or `{ host, port }` and returns the parsed authority. */
export function toAuthority(
  target: string | { readonly host: string; readonly port: number },
  options: ParseAuthorityOptions = {},
): Authority {
  return parseAuthority(typeof target === 'string' ? target : formatAuthority(target), options);
}

// ---------------------------------------------------------------------------------------------------------------
// Forwarded (RFC 7239)

/** One forwarded-element: `for`, `by`, `host`, `proto` and any extension parameter, names lower case. */
export interface ForwardedElement {
  readonly for?: string;
  readonly host?: string;
  readonly by?: string;
  readonly proto?: string;
  readonly [parameter: string]: string | undefined;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f) return false;
  return true;
}

/** Latin-1 without control characters (HTAB allowed when `tab`; other controls allowed when `controls`). */
function isVisibleLatin1(text: string, tab: boolean, controls = false): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 0xff) return false;
    if (!controls && (c < 0x20 || c === 0x7f) && !(tab && c === 0x09)) return false;
  }
  return true;
}
const KNOWN_FORWARDED = ['for', 'host', 'by', 'proto'];

const quote = (value: string) => `"${value.replace(/["\\]/g, (c) => `\\${c}`)}"`;
const quoteIfNeeded = (value: string) => (TOKEN.test(value) ? value : quote(value));

/**
 * Formats a `forwarded` header value. ztunnel sends `for="<client ip:port>"` plus `;host=<service FQDN>` when the
 * destination service is known; values that are not RFC 7230 tokens (anything with `:`, `[`, spaces…) are quoted.
 * Parameters are written in the order for, host, by, proto, then extensions as given.
 */
export function formatForwarded(elements: ForwardedElement | readonly ForwardedElement[]): string {
  const list: readonly ForwardedElement[] = Array.isArray(elements) ? elements : [elements as ForwardedElement];
  const out: string[] = [];
  for (const element of list) {
    const names = [
      ...KNOWN_FORWARDED.filter((n) => element[n] !== undefined),
      ...Object.keys(element).filter((n) => !KNOWN_FORWARDED.includes(n) && element[n] !== undefined),
    ];
    const pairs: string[] = [];
    for (const name of names) {
      const value = element[name]!;
      if (!TOKEN.test(name)) throw badHeader('forwarded', name, 'a parameter name must be a token');
      if (!isVisibleLatin1(value, true))
        throw badHeader('forwarded', value, 'values must be visible Latin-1 characters');
      // ztunnel always quotes `for` (it carries ip:port); other values only when they are not tokens.
      pairs.push(`${name.toLowerCase()}=${name.toLowerCase() === 'for' ? quote(value) : quoteIfNeeded(value)}`);
    }
    if (pairs.length === 0) throw badHeader('forwarded', '', 'an element needs at least one parameter');
    out.push(pairs.join(';'));
  }
  return out.join(', ');
}

/**
 * Parses a `forwarded` header value (one or several, as Node gives repeated headers) into its elements. Parameter
 * names are lower-cased, quoted values unescaped. Throws ERR_HBONE_BAD_HEADER on malformed input.
 */
export function parseForwarded(value: string | readonly string[]): ForwardedElement[] {
  const text = typeof value === 'string' ? value : value.join(', ');
  if (text.length > 8192) throw badHeader('forwarded', text.slice(0, 64), 'longer than 8192 characters');
  const elements: ForwardedElement[] = [];
  let element: Record<string, string> = {};
  let i = 0;
  const skipWs = () => {
    while (text[i] === ' ' || text[i] === '\t') i++;
  };
  const finishElement = () => {
    if (Object.keys(element).length > 0) elements.push(element);
    element = {};
  };
  for (;;) {
    skipWs();
    if (i >= text.length) break;
    if (text[i] === ',') {
      finishElement();
      i++;
      continue;
    }
    if (text[i] === ';') {
      i++;
      continue;
    }
    const nameStart = i;
    while (i < text.length && /[!#$%&'*+\-.^_`|~0-9A-Za-z]/.test(text[i]!)) i++;
    const name = text.slice(nameStart, i).toLowerCase();
    if (name === '' || text[i] !== '=')
      throw badHeader('forwarded', text, `expected name=value at offset ${nameStart}`);
    i++;
    let val: string;
    if (text[i] === '"') {
      i++;
      let buf = '';
      for (;;) {
        if (i >= text.length) throw badHeader('forwarded', text, 'unterminated quoted string');
        const c = text[i]!;
        if (c === '"') {
          i++;
          break;
        }
        if (c === '\\') {
          if (i + 1 >= text.length) throw badHeader('forwarded', text, 'unterminated escape');
          buf += text[i + 1];
          i += 2;
          continue;
        }
        buf += c;
        i++;
      }
      val = buf;
    } else {
      const start = i;
      while (i < text.length && /[!#$%&'*+\-.^_`|~0-9A-Za-z]/.test(text[i]!)) i++;
      val = text.slice(start, i);
      if (val === '') throw badHeader('forwarded', text, `empty value for ${name}`);
    }
    if (Object.hasOwn(element, name)) throw badHeader('forwarded', text, `parameter ${name} appears twice`);
    element[name] = val;
    skipWs();
    if (i < text.length && text[i] !== ';' && text[i] !== ',')
      throw badHeader('forwarded', text, `unexpected ${JSON.stringify(text[i])} at offset ${i}`);
  }
  finishElement();
  return elements;
}

/**
 * The `host=` of a forwarded header the way ztunnel reads it for `destination_service`: the first non-empty `host`
 * parameter, only if the header is ASCII; undefined otherwise (including when the header is malformed).
 */
export function forwardedHost(value: string | readonly string[] | undefined): string | undefined {
  if (value === undefined) return undefined;
  const text = typeof value === 'string' ? value : value.join(', ');
  if (!isAscii(text)) return undefined;
  try {
    for (const element of parseForwarded(text)) if (element.host) return element.host;
  } catch {
    return undefined;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// Baggage (W3C Baggage, with Istio's workload keys)

/** The workload types ztunnel names in `k8s.<type>.name`. */
export const BAGGAGE_WORKLOAD_TYPES = ['deployment', 'cronjob', 'pod', 'job'] as const;
export type BaggageWorkloadType = (typeof BAGGAGE_WORKLOAD_TYPES)[number];

/** The workload metadata ztunnel carries in `baggage` (source on the request, destination on the response). */
export interface WorkloadBaggage {
  /** `k8s.cluster.name` */
  readonly clusterName?: string;
  /** `k8s.namespace.name` */
  readonly namespace?: string;
  /** `k8s.<workloadType>.name` */
  readonly workloadName?: string;
  /** The `<type>` of `k8s.<type>.name`; when formatting, defaults to `deployment`. */
  readonly workloadType?: BaggageWorkloadType;
  /** `service.name` (the canonical service) */
  readonly serviceName?: string;
  /** `service.version` (the canonical revision) */
  readonly serviceVersion?: string;
  /** `cloud.region` */
  readonly region?: string;
  /** `cloud.availability_zone` */
  readonly zone?: string;
}

// baggage-octet = %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E (W3C Baggage §3.3.1.3); anything else is %-encoded.
function encodeBaggageValue(value: string): string {
  let out = '';
  for (const byte of new TextEncoder().encode(value)) {
    const ok =
      byte === 0x21 ||
      (byte >= 0x23 && byte <= 0x2b) ||
      (byte >= 0x2d && byte <= 0x3a) ||
      (byte >= 0x3c && byte <= 0x5b) ||
      (byte >= 0x5d && byte <= 0x7e);
    // `%` itself must be encoded so decoding is unambiguous.
    out += ok && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

function decodeBaggageValue(value: string): string {
  if (!value.includes('%')) return value;
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/**
 * Formats the `baggage` value ztunnel sends: only non-empty keys, in ztunnel's order, comma-joined without spaces.
 * Values are W3C-encoded (identical to ztunnel's unencoded form for every valid Kubernetes name).
 */
export function formatBaggage(baggage: WorkloadBaggage): string {
  const type = baggage.workloadType ?? 'deployment';
  if (!BAGGAGE_WORKLOAD_TYPES.includes(type))
    throw badHeader('baggage', type, `workloadType must be one of ${BAGGAGE_WORKLOAD_TYPES.join(', ')}`);
  const entries: Array<[string, string | undefined]> = [
    ['k8s.cluster.name', baggage.clusterName],
    ['k8s.namespace.name', baggage.namespace],
    [`k8s.${type}.name`, baggage.workloadName],
    ['service.name', baggage.serviceName],
    ['service.version', baggage.serviceVersion],
    ['cloud.region', baggage.region],
    ['cloud.availability_zone', baggage.zone],
  ];
  return entries
    .filter((e): e is [string, string] => typeof e[1] === 'string' && e[1] !== '')
    .map(([k, v]) => `${k}=${encodeBaggageValue(v)}`)
    .join(',');
}

/**
 * All list-members of one or more `baggage` values as [key, value] pairs (W3C Baggage): whitespace trimmed,
 * properties after `;` dropped, values %-decoded, malformed members skipped. At most 180 members are read.
 */
export function parseBaggageEntries(value: string | readonly string[]): Array<[string, string]> {
  const texts = typeof value === 'string' ? [value] : value;
  const out: Array<[string, string]> = [];
  for (const text of texts) {
    for (const member of text.split(',')) {
      if (out.length >= 180) return out;
      const kv = member.split(';', 1)[0]!;
      const eq = kv.indexOf('=');
      if (eq === -1) continue;
      const key = kv.slice(0, eq).trim();
      if (!TOKEN.test(key)) continue;
      out.push([key, decodeBaggageValue(kv.slice(eq + 1).trim())]);
    }
  }
  return out;
}

/**
 * Reads Istio's workload keys from `baggage` the way ztunnel does: later values win, empty values count as absent,
 * unknown keys are ignored. Never throws: a malformed header yields what could be read.
 */
export function parseBaggage(value: string | readonly string[] | undefined): WorkloadBaggage {
  if (value === undefined) return {};
  const out: { -readonly [K in keyof WorkloadBaggage]: WorkloadBaggage[K] } = {};
  for (const [key, raw] of parseBaggageEntries(value)) {
    const val = raw === '' ? undefined : raw;
    switch (key) {
      case 'k8s.cluster.name':
        out.clusterName = val;
        break;
      case 'k8s.namespace.name':
        out.namespace = val;
        break;
      case 'service.name':
        out.serviceName = val;
        break;
      case 'service.version':
        out.serviceVersion = val;
        break;
      case 'cloud.region':
        out.region = val;
        break;
      case 'cloud.availability_zone':
        out.zone = val;
        break;
      default: {
        const m = /^k8s\.([a-z]+)\.name$/.exec(key);
        if (m && (BAGGAGE_WORKLOAD_TYPES as readonly string[]).includes(m[1]!)) {
          out.workloadName = val;
          out.workloadType = val === undefined ? undefined : (m[1] as BaggageWorkloadType);
        }
      }
    }
  }
  for (const key of Object.keys(out) as Array<keyof WorkloadBaggage>) if (out[key] === undefined) delete out[key];
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// traceparent (W3C Trace Context, version 00)

export interface TraceParent {
  /** 0 for the current format. */
  readonly version: number;
  /** 32 lower-case hex digits, not all zero. */
  readonly traceId: string;
  /** 16 lower-case hex digits, not all zero. */
  readonly parentId: string;
  /** Trace flags; ztunnel sends 0. */
  readonly flags: number;
}

const hex2 = (n: number) => n.toString(16).padStart(2, '0');

/** `00-<trace id>-<parent id>-<flags>`. */
export function formatTraceparent(tp: TraceParent): string {
  if (!Number.isInteger(tp.version) || tp.version < 0 || tp.version > 254)
    throw badHeader('traceparent', String(tp.version), 'version must be 0-254');
  if (!/^[0-9a-f]{32}$/.test(tp.traceId) || /^0+$/.test(tp.traceId))
    throw badHeader('traceparent', tp.traceId, 'trace id must be 32 lower-case hex digits, not all zero');
  if (!/^[0-9a-f]{16}$/.test(tp.parentId) || /^0+$/.test(tp.parentId))
    throw badHeader('traceparent', tp.parentId, 'parent id must be 16 lower-case hex digits, not all zero');
  if (!Number.isInteger(tp.flags) || tp.flags < 0 || tp.flags > 255)
    throw badHeader('traceparent', String(tp.flags), 'flags must be 0-255');
  return `${hex2(tp.version)}-${tp.traceId}-${tp.parentId}-${hex2(tp.flags)}`;
}

/**
 * Parses a `traceparent` per W3C Trace Context: lower-case hex, version ≠ ff, ids not all zero, exactly 55 characters
 * for version 00 (later versions may append fields after a `-`). Undefined when invalid — ztunnel then starts a new
 * trace, and so should callers.
 */
export function parseTraceparent(value: string | readonly string[] | undefined): TraceParent | undefined {
  if (value === undefined) return undefined;
  const text = (typeof value === 'string' ? value : value.length === 1 ? value[0]! : '').trim();
  const m = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/.exec(text);
  if (!m) return undefined;
  const version = Number.parseInt(m[1]!, 16);
  if (version === 255) return undefined;
  if (version === 0 && m[5] !== undefined) return undefined;
  if (/^0+$/.test(m[2]!) || /^0+$/.test(m[3]!)) return undefined;
  return { version, traceId: m[2]!, parentId: m[3]!, flags: Number.parseInt(m[4]!, 16) };
}

function randomHex(bytes: number, rng: Rng | undefined): string {
  const buf = new Uint8Array(bytes);
  if (rng) {
    for (let i = 0; i < bytes; i++) buf[i] = Math.floor(rng.next() * 256) & 255;
  } else {
    globalThis.crypto.getRandomValues(buf);
  }
  let out = '';
  for (const b of buf) out += hex2(b);
  return out;
}

/**
 * A fresh traceparent, as ztunnel makes one per outbound connection (version 0, random ids, flags 0). Uses
 * `crypto.getRandomValues` unless an Rng is given (tests pass a seeded one).
 */
export function newTraceparent(rng?: Rng): TraceParent {
  for (;;) {
    const traceId = randomHex(16, rng);
    const parentId = randomHex(8, rng);
    if (!/^0+$/.test(traceId) && !/^0+$/.test(parentId)) return { version: 0, traceId, parentId, flags: 0 };
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The CONNECT request and response

/** Headers that HTTP/2 forbids (RFC 9113 §8.2.2) or that HBONE sets itself. */
const FORBIDDEN_EXTRA = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'te',
  'host',
  'content-length',
]);

/** What a client puts on the CONNECT request. Every field but `authority` is optional. */
export interface ConnectRequestSpec {
  /** The tunnel target: `ip:port`, `[ipv6]:port` or, for double HBONE, `<service hostname>:<port>`. */
  readonly authority: string | { readonly host: string; readonly port: number };
  /** `forwarded`: a ready value, or elements to format (ztunnel: `{ for: "<client ip:port>", host: "<svc fqdn>" }`). */
  readonly forwarded?: string | ForwardedElement | readonly ForwardedElement[];
  /** `baggage`: a ready value, or the source workload's metadata. */
  readonly baggage?: string | WorkloadBaggage;
  /** `traceparent`: a ready value or a parsed one. Omitted when undefined (the client layer adds a random one). */
  readonly traceparent?: string | TraceParent;
  /** `x-forwarded-network`: only on the inner CONNECT of double HBONE (the origin network). */
  readonly forwardedNetwork?: string;
  /** Further headers (lower-case names; no pseudo-headers, no connection-specific headers). */
  readonly extra?: Readonly<Record<string, string>>;
}

function checkHeaderValue(name: string, value: string): string {
  if (typeof value !== 'string') throw badHeader(name, String(value), 'the value must be a string');
  if (/[\r\n]/.test(value) || value.includes(String.fromCharCode(0)))
    throw badHeader(name, value, 'values must not contain CR, LF or NUL');
  if (!isVisibleLatin1(value, true, true)) throw badHeader(name, value, 'values must be Latin-1 (encode other text)');
  if (value !== value.trim()) throw badHeader(name, value, 'values must not start or end with whitespace');
  return value;
}

/** Validates an extra header name for a CONNECT request or response. */
export function checkHeaderName(name: string): string {
  if (!/^[!#$%&'*+\-.^_`|~0-9a-z]+$/.test(name))
    throw badHeader(name, '', 'header names must be lower-case tokens (and not pseudo-headers)');
  if (FORBIDDEN_EXTRA.has(name)) throw badHeader(name, '', 'connection-specific headers are not allowed in HTTP/2');
  return name;
}

/** The header list of an HBONE CONNECT request (`:method`, `:authority`, then the HBONE headers, then extras). */
export function buildConnectHeaders(spec: ConnectRequestSpec): Record<string, string> {
  const authority = formatAuthority(toAuthority(spec.authority, { allowHostname: true }));
  const headers: Record<string, string> = { ':method': 'CONNECT', ':authority': authority };
  const hboneNames = new Set<string>(Object.values(HBONE_HEADERS));
  if (spec.forwarded !== undefined) {
    headers.forwarded = checkHeaderValue(
      'forwarded',
      typeof spec.forwarded === 'string' ? spec.forwarded : formatForwarded(spec.forwarded),
    );
  }
  if (spec.baggage !== undefined) {
    const value = typeof spec.baggage === 'string' ? spec.baggage : formatBaggage(spec.baggage);
    if (value !== '') headers.baggage = checkHeaderValue('baggage', value);
  }
  if (spec.traceparent !== undefined) {
    const value = typeof spec.traceparent === 'string' ? spec.traceparent : formatTraceparent(spec.traceparent);
    if (!parseTraceparent(value)) throw badHeader('traceparent', value, 'not a valid W3C traceparent');
    headers.traceparent = value;
  }
  if (spec.forwardedNetwork !== undefined) {
    if (!/^[\u0021-\u007e]{1,253}$/.test(spec.forwardedNetwork))
      throw badHeader('x-forwarded-network', spec.forwardedNetwork, 'a network name is 1-253 visible ASCII characters');
    headers['x-forwarded-network'] = spec.forwardedNetwork;
  }
  for (const [name, value] of Object.entries(spec.extra ?? {})) {
    checkHeaderName(name);
    if (hboneNames.has(name)) throw badHeader(name, value, 'set HBONE headers through their own fields');
    headers[name] = checkHeaderValue(name, value);
  }
  return headers;
}

/** Incoming headers as Node's http2 gives them (repeated headers may arrive as arrays). */
export type IncomingHeaders = Readonly<Record<string, string | number | readonly string[] | undefined>>;

/** A decoded HBONE CONNECT request. */
export interface ConnectRequest {
  readonly authority: Authority;
  /** The parsed `forwarded` elements; empty when absent or malformed (ztunnel ignores a malformed header). */
  readonly forwarded: readonly ForwardedElement[];
  /** The `host=` of `forwarded` (ztunnel's destination_service hint). */
  readonly forwardedHost: string | undefined;
  /** Source workload metadata from `baggage` (empty when absent). */
  readonly baggage: WorkloadBaggage;
  /** The `traceparent`, when present and valid. */
  readonly traceparent: TraceParent | undefined;
  /** `x-forwarded-network`, when present. */
  readonly forwardedNetwork: string | undefined;
  /** Every header as received. */
  readonly headers: IncomingHeaders;
}

export type ConnectDecodeResult =
  | { readonly ok: true; readonly request: ConnectRequest }
  | { readonly ok: false; readonly status: 400; readonly reason: string };

function single(value: string | number | readonly string[] | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'number') return String(value);
  return typeof value === 'string' ? value : value[0];
}

function text(value: string | number | readonly string[] | undefined): string | readonly string[] | undefined {
  return typeof value === 'number' ? String(value) : value;
}

/**
 * Decodes a CONNECT request the way an HBONE server must: the method must be CONNECT without `:path`/`:scheme`/
 * `:protocol`, and `:authority` must parse (ip:port or [v6]:port; hostnames only when allowed); otherwise the answer
 * is 400. The other headers never cause a rejection: malformed ones decode as absent.
 */
export function decodeConnectRequest(
  headers: IncomingHeaders,
  options: ParseAuthorityOptions = {},
): ConnectDecodeResult {
  const method = single(headers[':method']);
  if (method !== 'CONNECT') return { ok: false, status: 400, reason: `method ${method ?? '(none)'} is not CONNECT` };
  for (const pseudo of [':path', ':scheme', ':protocol'])
    if (headers[pseudo] !== undefined)
      return { ok: false, status: 400, reason: `a plain CONNECT has no ${pseudo} (extended CONNECT is not HBONE)` };
  const rawAuthority = single(headers[':authority']);
  if (rawAuthority === undefined) return { ok: false, status: 400, reason: 'no :authority' };
  let authority: Authority;
  try {
    authority = parseAuthority(rawAuthority, options);
  } catch (error) {
    return { ok: false, status: 400, reason: error instanceof Error ? error.message : String(error) };
  }
  let forwarded: ForwardedElement[] = [];
  const rawForwarded = text(headers.forwarded);
  if (rawForwarded !== undefined) {
    try {
      forwarded = parseForwarded(rawForwarded);
    } catch {
      forwarded = [];
    }
  }
  const network = single(headers['x-forwarded-network'])?.trim();
  return {
    ok: true,
    request: {
      authority,
      forwarded,
      forwardedHost: forwardedHost(rawForwarded),
      baggage: parseBaggage(text(headers.baggage)),
      traceparent: parseTraceparent(text(headers.traceparent)),
      forwardedNetwork: network === undefined || network === '' ? undefined : network,
      headers,
    },
  };
}

/** What a server may add to its CONNECT answer. */
export interface ConnectResponseSpec {
  /** 200 opens the tunnel; anything else refuses it (ztunnel: 400, 401, 503). */
  readonly status: number;
  /** Destination workload metadata (ztunnel answers 200 with the destination's baggage). */
  readonly baggage?: string | WorkloadBaggage;
  /** Further headers (lower-case names). */
  readonly extra?: Readonly<Record<string, string>>;
}

/** The header list of an HBONE CONNECT response. */
export function buildConnectResponse(spec: ConnectResponseSpec): Record<string, string | number> {
  if (!Number.isInteger(spec.status) || spec.status < 200 || spec.status > 599)
    throw new HboneError('ERR_HBONE_BAD_OPTIONS', `status ${spec.status} is not a final HTTP status (200-599)`);
  const headers: Record<string, string | number> = { ':status': spec.status };
  if (spec.baggage !== undefined) {
    const value = typeof spec.baggage === 'string' ? spec.baggage : formatBaggage(spec.baggage);
    if (value !== '') headers.baggage = checkHeaderValue('baggage', value);
  }
  for (const [name, value] of Object.entries(spec.extra ?? {})) {
    checkHeaderName(name);
    headers[name] = checkHeaderValue(name, value);
  }
  return headers;
}

/** A decoded CONNECT response. */
export interface ConnectResponse {
  readonly status: number;
  /** Destination workload metadata from the response `baggage` (empty when absent). */
  readonly baggage: WorkloadBaggage;
  readonly headers: IncomingHeaders;
}

export function decodeConnectResponse(headers: IncomingHeaders): ConnectResponse {
  const raw = single(headers[':status']);
  const status = raw === undefined ? 0 : Number(raw);
  return { status: Number.isInteger(status) ? status : 0, baggage: parseBaggage(text(headers.baggage)), headers };
}
