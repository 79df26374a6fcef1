// Shared by the integration suites: bounded waits, stream collection, and a raw HTTP/2 client with our TLS material
// (to send what our own client never would: GET, bad authorities, foreign certificates).
import { connect as http2Connect, type ClientHttp2Session, type IncomingHttpHeaders } from 'node:http2';
import type { Readable } from 'node:stream';
import type { X509Svid } from '@mesh/spiffe';
import type { TestPki } from '../src/testing.js';

export function within<T>(promise: Promise<T>, ms = 5_000, what = 'operation'): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
    }),
  ]);
}

export function once<T = unknown>(emitter: NodeJS.EventEmitter, event: string, ms = 5_000): Promise<T> {
  return within(new Promise<T>((resolve) => emitter.once(event, (v: T) => resolve(v))), ms, `event ${event}`);
}

/** Reads a stream to its end. */
export function collect(stream: Readable, ms = 10_000): Promise<Buffer> {
  return within(
    new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.once('end', () => resolve(Buffer.concat(chunks)));
      stream.once('error', reject);
    }),
    ms,
    'collect',
  );
}

/** A raw node:http2 session to an HBONE server presenting `svid` (or no certificate). */
export async function rawSession(
  port: number,
  pki: TestPki,
  svid: X509Svid | undefined,
  options: { ca?: string } = {},
): Promise<ClientHttp2Session> {
  const session = http2Connect(`https://127.0.0.1:${port}`, {
    ...(svid ? { cert: svid.chainPem(), key: svid.keyPem() } : {}),
    ca: options.ca ?? pki.rootPem,
    checkServerIdentity: () => undefined,
    minVersion: 'TLSv1.3',
  });
  session.on('error', () => {});
  return session;
}

/** Sends a request on a raw session and returns the response status (or the stream error). */
export function rawRequest(session: ClientHttp2Session, headers: Record<string, string>): Promise<number | Error> {
  return within(
    new Promise<number | Error>((resolve) => {
      const stream = session.request(headers, { endStream: false });
      stream.once('response', (h: IncomingHttpHeaders) => resolve(Number(h[':status'])));
      stream.once('error', (e: Error) => resolve(e));
      stream.once('close', () => resolve(new Error(`closed with ${stream.rstCode}`)));
    }),
    5_000,
    'raw request',
  );
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
