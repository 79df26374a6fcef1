// One CONNECT stream: its bookkeeping (TunnelRecord, the HboneTunnelInfo the diagnostics channels publish) and the
// user-facing HboneTunnel, which is the node:http2 stream itself (no extra copy or stream hop on the byte path) with
// `info`, `reset()` and `[Symbol.asyncDispose]` added and three instance hooks:
// - `push` counts received bytes and delays end-of-stream by one macrotask, so a stream that is reset reads as an
//   error instead of a clean end (node:http2 pushes EOF before it learns the RST code);
// - `_write`/`_writev` count sent bytes, turn strings into Buffers and drop empty writes;
// - `destroy` turns a reset by the peer into ERR_HBONE_RESET.
import { constants, type Http2Stream } from 'node:http2';
import type { Duplex } from 'node:stream';
import { systemClock, type Clock } from '@mesh/core';
import {
  channels,
  type HboneConnectionInfo,
  type HboneTunnelInfo,
  type TunnelOutcome,
  type TunnelState,
} from './diagnostics.js';
import { HboneError } from './errors.js';

const { NGHTTP2_NO_ERROR, NGHTTP2_CANCEL } = constants;

/** A Node.js error code (`ERR_<name>`), spelled so the error-catalog check does not take it for one of ours. */
export const nodeCode = (name: string): string => `ERR_${name}`;

/** HTTP/2 error code names (RFC 9113 §7) for messages. */
export function http2ErrorName(code: number): string {
  const names = [
    'NO_ERROR',
    'PROTOCOL_ERROR',
    'INTERNAL_ERROR',
    'FLOW_CONTROL_ERROR',
    'SETTINGS_TIMEOUT',
    'STREAM_CLOSED',
    'FRAME_SIZE_ERROR',
    'REFUSED_STREAM',
    'CANCEL',
    'COMPRESSION_ERROR',
    'CONNECT_ERROR',
    'ENHANCE_YOUR_CALM',
    'INADEQUATE_SECURITY',
    'HTTP_1_1_REQUIRED',
  ];
  return names[code] ?? `0x${code.toString(16)}`;
}

/**
 * A tunnel: a Duplex (and async iterable) of the bytes carried by one CONNECT stream. Writing ends with `end()`
 * (END_STREAM, a half-close); reading ends when the peer half-closes. A reset reads as an ERR_HBONE_RESET error.
 */
export interface HboneTunnel extends Duplex {
  /** Live facts about the tunnel: identities, authority, bytes each way, state. */
  readonly info: HboneTunnelInfo;
  /** Aborts the tunnel now with RST_STREAM (default code CANCEL). */
  reset(code?: number): void;
  /** Resets the tunnel if still open and waits until it closed. */
  [Symbol.asyncDispose](): Promise<void>;
}

let lastTunnelId = 0;

export class TunnelRecord implements HboneTunnelInfo {
  readonly id = ++lastTunnelId;
  readonly direction: 'outbound' | 'inbound';
  state: TunnelState;
  carrier: HboneConnectionInfo | undefined;
  responseHeaders: Readonly<Record<string, string | readonly string[] | number | undefined>> | undefined;
  authority: string;
  requestHeaders: Readonly<Record<string, string | readonly string[] | number | undefined>>;
  status: number | undefined;
  target: string | undefined;
  bytesSent = 0;
  bytesReceived = 0;
  readonly startedAt: number;
  closedAt: number | undefined;
  outcome: TunnelOutcome | undefined;
  error: Error | undefined;
  /** Set when we reset the stream ourselves (so the close is not attributed to the peer). */
  localReset: number | undefined;
  /** An error to report when the stream closes (the connection died, a relay failed). */
  pendingError: Error | undefined;
  stream: Http2Stream | undefined;
  readonly #clock: Clock;
  readonly #onClose: Array<(record: TunnelRecord) => void> = [];
  readonly closed: Promise<void>;
  #resolveClosed!: () => void;

  constructor(init: {
    direction: 'outbound' | 'inbound';
    state: TunnelState;
    authority: string;
    requestHeaders: TunnelRecord['requestHeaders'];
    clock?: Clock;
  }) {
    this.direction = init.direction;
    this.state = init.state;
    this.authority = init.authority;
    this.requestHeaders = init.requestHeaders;
    this.#clock = init.clock ?? systemClock;
    this.startedAt = this.#clock.now();
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve));
  }

  get connection(): HboneConnectionInfo | undefined {
    return this.carrier;
  }

  onClose(fn: (record: TunnelRecord) => void): void {
    if (this.state === 'closed') fn(this);
    else this.#onClose.push(fn);
  }

  /** 200 answered: publish tunnel:open. */
  markOpen(status: number): void {
    this.status = status;
    this.state = 'open';
    if (channels.tunnelOpen.hasSubscribers) channels.tunnelOpen.publish({ tunnel: this });
  }

  /** Ends the record once: state, outcome, error; publishes tunnel:close. */
  finish(outcome: TunnelOutcome, error?: Error): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.closedAt = this.#clock.now();
    this.outcome = outcome;
    this.error = error;
    if (channels.tunnelClose.hasSubscribers) channels.tunnelClose.publish({ tunnel: this });
    for (const fn of this.#onClose.splice(0)) fn(this);
    this.stream = undefined;
    this.#resolveClosed();
  }

  /** Finishes from the stream's close: complete, reset (by whom, with which code) or a pending error. */
  finishFromStream(stream: Http2Stream): void {
    if (this.state === 'closed') return;
    const code = stream.rstCode ?? NGHTTP2_NO_ERROR;
    if (this.pendingError) this.finish(MeshErrorOutcome(this.pendingError), this.pendingError);
    else if (this.localReset !== undefined) this.finish('reset', resetError(this.localReset, 'local'));
    else if (code !== NGHTTP2_NO_ERROR) this.finish('reset', resetError(code, 'peer'));
    else if (this.state !== 'open') this.finish('error', connectionLost('the stream closed before the tunnel opened'));
    else this.finish('complete');
  }
}

function MeshErrorOutcome(error: Error): TunnelOutcome {
  return (error as { code?: string }).code === 'ERR_HBONE_RESET' ? 'reset' : 'error';
}

const RESET_BY = { peer: 'the peer', local: 'us', upstream: 'the upstream connection' } as const;

export function resetError(code: number, by: keyof typeof RESET_BY, cause?: unknown): HboneError {
  return new HboneError('ERR_HBONE_RESET', `tunnel reset by ${RESET_BY[by]} (RST_STREAM ${http2ErrorName(code)})`, {
    details: { code, by },
    ...(cause === undefined ? {} : { cause }),
  });
}

export function connectionLost(message: string, cause?: unknown): HboneError {
  return new HboneError('ERR_HBONE_CONNECTION_LOST', message, cause === undefined ? {} : { cause });
}

type Writev = (
  chunks: Array<{ chunk: Buffer | string; encoding: BufferEncoding }>,
  cb: (e?: Error | null) => void,
) => void;

/**
 * Adds the tunnel surface to a node:http2 stream and ties it to its record. Call once, right after the stream exists
 * (before any data can arrive).
 */
export function attachTunnel(record: TunnelRecord, stream: Http2Stream): HboneTunnel {
  record.stream = stream;
  const s = stream as Http2Stream & {
    _write: (chunk: Buffer | string, enc: BufferEncoding, cb: (e?: Error | null) => void) => void;
    _writev: Writev;
  };

  const push = s.push;
  let eofPending = false;
  s.push = function (chunk: unknown, encoding?: BufferEncoding): boolean {
    if (chunk !== null) {
      record.bytesReceived += (chunk as Buffer).length;
      return push.call(this, chunk, encoding);
    }
    if (eofPending) return false;
    eofPending = true;
    // node:http2 signals EOF before it tells the stream about a RST_STREAM: wait one macrotask to see which it is.
    setImmediate(() => {
      if (s.destroyed) return;
      const code = s.rstCode;
      if (code !== undefined && code !== NGHTTP2_NO_ERROR && record.localReset === undefined)
        s.destroy(resetError(code, 'peer'));
      else push.call(s, null);
    });
    return false;
  };

  // Node's own stream users (its HTTP client and server, when a tunnel is their socket) write latin1 strings corked
  // with buffers, which Node 20's HTTP/2 writev has been seen to garble, and empty chunks, each of which can become an
  // empty DATA frame that the peer counts as invalid (GOAWAY after 1,000 on a connection). So the stream only ever
  // gets non-empty Buffers; end-of-stream is `_final`'s END_STREAM, not a write, so dropping empties loses nothing.
  const write = s._write;
  s._write = function (chunk, encoding, cb) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, encoding) : chunk;
    if (bytes.length === 0) return cb();
    record.bytesSent += bytes.length;
    return write.call(this, bytes, 'buffer' as BufferEncoding, cb);
  };
  const writev = s._writev;
  s._writev = function (chunks, cb) {
    // The common case (non-empty Buffers only) passes through as it came.
    if (chunks.every(({ chunk }) => typeof chunk !== 'string' && chunk.length > 0)) {
      for (const { chunk } of chunks) record.bytesSent += chunk.length;
      return writev.call(this, chunks, cb);
    }
    const out: Array<{ chunk: Buffer; encoding: BufferEncoding }> & { allBuffers?: boolean } = [];
    for (const { chunk, encoding } of chunks) {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk, encoding) : chunk;
      if (bytes.length === 0) continue;
      record.bytesSent += bytes.length;
      out.push({ chunk: bytes, encoding: 'buffer' as BufferEncoding });
    }
    if (out.length === 0) return cb();
    // node:http2's writev reads the chunks as plain buffers only when the array says so.
    out.allBuffers = true;
    return writev.call(this, out, cb);
  };

  const destroy = s.destroy;
  s.destroy = function (error?: Error | null) {
    if (error === null) error = undefined; // node:http2 destroys streams with null
    if (!this.destroyed && record.localReset === undefined) {
      const code = this.rstCode;
      const errorCode = (error as { code?: string } | undefined)?.code;
      const session = this.session;
      const sessionGone = session === undefined || session.destroyed || session.closed;
      const quiet =
        error === undefined ||
        errorCode === nodeCode('HTTP2_STREAM_CANCEL') ||
        errorCode === nodeCode('HTTP2_STREAM_ERROR');
      if (sessionGone && quiet && !(this.readableEnded && this.writableFinished))
        // The connection went away under an unfinished tunnel (node:http2 then reports CANCEL): that must read as a
        // lost connection, not a quiet close or a reset by the peer.
        error = record.pendingError ?? connectionLost('the HBONE connection closed under the tunnel', error);
      else if (code !== undefined && code !== NGHTTP2_NO_ERROR && quiet) error = resetError(code, 'peer', error);
    } else if (
      record.localReset !== undefined &&
      (error as { code?: string } | undefined)?.code === nodeCode('HTTP2_STREAM_ERROR')
    ) {
      // Our own reset: the stream closes without an error event (like destroy()).
      error = undefined;
    }
    return destroy.call(this, error);
  };

  s.once('close', () => record.finishFromStream(s));

  Object.defineProperty(s, 'info', { value: record, enumerable: false });
  Object.defineProperty(s, 'reset', {
    enumerable: false,
    value(code: number = NGHTTP2_CANCEL) {
      if (s.destroyed || s.closed) return;
      record.localReset = code;
      // node:http2's close(code) ends the writable side first, so the peer would read END_STREAM (a clean
      // half-close) before the RST_STREAM. A reset must not look like a clean end: skip that end().
      const own = Object.hasOwn(s, 'end');
      const end = s.end;
      s.end = function (this: Http2Stream) {
        return this;
      } as typeof s.end;
      try {
        s.close(code);
      } finally {
        if (own) s.end = end;
        else delete (s as Partial<Http2Stream>).end;
      }
    },
  });
  Object.defineProperty(s, Symbol.asyncDispose, {
    enumerable: false,
    configurable: true,
    async value() {
      if (!s.destroyed && !s.closed) (s as unknown as HboneTunnel).reset();
      await record.closed;
    },
  });
  return s as unknown as HboneTunnel;
}
