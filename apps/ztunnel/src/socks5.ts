// SOCKS5 (RFC 1928) as ztunnel's port 15080 speaks it: no authentication, CONNECT only, IPv4/IPv6/domain targets.
// The parser is pure over the bytes received so far; the handshake bounds what it reads (the protocol caps a request
// at 262 bytes) and how long it waits, so a slow or garbage client costs one socket and a timer, never memory.
import type { Socket } from 'node:net';
import { isIPv4, isIPv6 } from 'node:net';
import { ZtunnelError } from './errors.js';

export const SOCKS_VERSION = 5;
/** Reply codes (RFC 1928 §6). */
export const REPLY = {
  succeeded: 0x00,
  generalFailure: 0x01,
  notAllowed: 0x02,
  networkUnreachable: 0x03,
  hostUnreachable: 0x04,
  connectionRefused: 0x05,
  commandNotSupported: 0x07,
  addressTypeNotSupported: 0x08,
} as const;

export type SocksTarget = { kind: 'ip'; host: string; port: number } | { kind: 'domain'; host: string; port: number };

export type ParseResult<T> =
  { state: 'more' } | { state: 'done'; value: T; used: number } | { state: 'error'; reason: string; reply?: number };

/** The client greeting: version, then the offered methods. */
export function parseGreeting(buf: Uint8Array): ParseResult<{ methods: number[] }> {
  if (buf.length < 1) return { state: 'more' };
  if (buf[0] !== SOCKS_VERSION) return { state: 'error', reason: `version ${buf[0]} is not SOCKS5` };
  if (buf.length < 2) return { state: 'more' };
  const n = buf[1]!;
  if (n === 0) return { state: 'error', reason: 'no authentication methods offered' };
  if (buf.length < 2 + n) return { state: 'more' };
  return { state: 'done', value: { methods: [...buf.subarray(2, 2 + n)] }, used: 2 + n };
}

function formatIpv6(b: Uint8Array): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i]! << 8) | b[i + 1]!).toString(16));
  // Canonical compression of the longest zero run (RFC 5952), so the text matches state lookups.
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen && j - i > 1) [best, bestLen] = [i, j - i];
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

/** The CONNECT request. */
export function parseRequest(buf: Uint8Array): ParseResult<SocksTarget> {
  if (buf.length < 4) return { state: 'more' };
  if (buf[0] !== SOCKS_VERSION) return { state: 'error', reason: `version ${buf[0]} is not SOCKS5` };
  if (buf[1] !== 1)
    return { state: 'error', reason: `command ${buf[1]} is not CONNECT`, reply: REPLY.commandNotSupported };
  const atyp = buf[3];
  let offset = 4;
  let host: string;
  let kind: 'ip' | 'domain' = 'ip';
  if (atyp === 1) {
    if (buf.length < offset + 4 + 2) return { state: 'more' };
    host = [...buf.subarray(offset, offset + 4)].join('.');
    offset += 4;
  } else if (atyp === 4) {
    if (buf.length < offset + 16 + 2) return { state: 'more' };
    host = formatIpv6(buf.subarray(offset, offset + 16));
    offset += 16;
  } else if (atyp === 3) {
    if (buf.length < offset + 1) return { state: 'more' };
    const len = buf[offset]!;
    if (len === 0) return { state: 'error', reason: 'empty domain name', reply: REPLY.hostUnreachable };
    if (buf.length < offset + 1 + len + 2) return { state: 'more' };
    host = Buffer.from(buf.subarray(offset + 1, offset + 1 + len)).toString('latin1');
    offset += 1 + len;
    if (!/^[a-zA-Z0-9.-]+$/.test(host) && !isIPv4(host) && !isIPv6(host))
      return { state: 'error', reason: 'invalid domain name', reply: REPLY.hostUnreachable };
    if (isIPv4(host) || isIPv6(host)) kind = 'ip';
    else kind = 'domain';
  } else {
    return { state: 'error', reason: `address type ${atyp} is not supported`, reply: REPLY.addressTypeNotSupported };
  }
  const port = (buf[offset]! << 8) | buf[offset + 1]!;
  if (port === 0) return { state: 'error', reason: 'port 0', reply: REPLY.hostUnreachable };
  return { state: 'done', value: { kind, host, port }, used: offset + 2 };
}

/** A reply with a zero bound address (clients do not use it for CONNECT). */
export const reply = (code: number) => Buffer.from([SOCKS_VERSION, code, 0, 1, 0, 0, 0, 0, 0, 0]);

/** The largest greeting + request the protocol allows (2 + 255 methods, 4 + 1 + 255 + 2). */
const MAX_HANDSHAKE_BYTES = 257 + 262;

/**
 * Runs the server side of the handshake up to (not including) the reply to the CONNECT. Resolves with the target and
 * any bytes the client sent after its request (early data); rejects with ERR_ZTUNNEL_SOCKS5 after answering what the
 * protocol allows. The socket is paused on return.
 */
export function socksHandshake(
  socket: Socket,
  options: { timeoutMs: number },
): Promise<{ target: SocksTarget; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    let buf: Buffer = Buffer.alloc(0);
    let phase: 'greeting' | 'request' = 'greeting';
    const fail = (reason: string, replyCode?: number) => {
      cleanup();
      if (replyCode !== undefined && !socket.destroyed) socket.end(reply(replyCode));
      else socket.destroy();
      reject(new ZtunnelError('ERR_ZTUNNEL_SOCKS5', reason));
    };
    const timer = setTimeout(
      () => fail(`no complete SOCKS5 request within ${options.timeoutMs} ms`),
      options.timeoutMs,
    );
    const onData = (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      if (buf.length > MAX_HANDSHAKE_BYTES) return fail('SOCKS5 handshake too large');
      for (;;) {
        if (phase === 'greeting') {
          const g = parseGreeting(buf);
          if (g.state === 'more') return;
          if (g.state === 'error') return fail(g.reason);
          if (!g.value.methods.includes(0)) {
            cleanup();
            socket.end(Buffer.from([SOCKS_VERSION, 0xff]));
            return reject(new ZtunnelError('ERR_ZTUNNEL_SOCKS5', 'the client offers no "no authentication" method'));
          }
          socket.write(Buffer.from([SOCKS_VERSION, 0]));
          buf = buf.subarray(g.used);
          phase = 'request';
        }
        const r = parseRequest(buf);
        if (r.state === 'more') return;
        if (r.state === 'error') return fail(r.reason, r.reply ?? REPLY.generalFailure);
        cleanup();
        socket.pause();
        return resolve({ target: r.value, rest: Buffer.from(buf.subarray(r.used)) });
      }
    };
    const onEnd = () => fail('the client closed during the SOCKS5 handshake');
    const onError = (error: Error) => fail(`socket error during the SOCKS5 handshake: ${error.message}`);
    const cleanup = () => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('error', onError);
    };
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('error', onError);
  });
}
