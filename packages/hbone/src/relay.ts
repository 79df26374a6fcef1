// Bidirectional byte relay between two duplexes (a tunnel and a TCP socket, usually) with the semantics a proxy needs:
// - each direction ends on its own (half-close: END_STREAM ⇄ FIN);
// - backpressure: a side that cannot take more pauses the other;
// - an abort on one side aborts the other the way RFC 9113 §8.5 asks for CONNECT: a TCP reset or error becomes
//   RST_STREAM(CONNECT_ERROR), a reset stream becomes a TCP RST.
import { constants, type Http2Stream } from 'node:http2';
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { abortError } from '@mesh/core';

const { NGHTTP2_CONNECT_ERROR, NGHTTP2_NO_ERROR } = constants;

export interface RelayOptions {
  /** Aborting resets both sides. */
  signal?: AbortSignal;
}

export interface RelayResult {
  /** Bytes read from `a` and written to `b`. */
  readonly aToB: number;
  /** Bytes read from `b` and written to `a`. */
  readonly bToA: number;
  /** The first error either side reported (undefined when both directions ended cleanly). */
  readonly error: Error | undefined;
}

function isHttp2Stream(d: Duplex): d is Duplex & Http2Stream {
  return 'rstCode' in d && 'session' in d;
}

/** Aborts a duplex as the peer of a failed side: a socket gets a TCP RST, a stream RST_STREAM(CONNECT_ERROR). */
export function abortDuplex(d: Duplex, error?: Error): void {
  if (d.destroyed) return;
  if (d instanceof Socket) {
    try {
      if (!d.connecting) d.resetAndDestroy();
    } catch {
      // Not a TCP handle (a pipe): a plain destroy below.
    }
    if (!d.destroyed) d.destroy();
    return;
  }
  const reset = (d as Partial<{ reset(code?: number): void }>).reset;
  if (typeof reset === 'function') reset.call(d, NGHTTP2_CONNECT_ERROR);
  else if (isHttp2Stream(d)) d.close(NGHTTP2_CONNECT_ERROR);
  else d.destroy(error);
}

/** True when a stream's read side ended because it was reset, not by a clean end of stream. */
function endedByReset(d: Duplex): boolean {
  if (!isHttp2Stream(d)) return false;
  const code = d.rstCode;
  return code !== undefined && code !== NGHTTP2_NO_ERROR;
}

/**
 * Copies bytes both ways between `a` and `b` until both directions ended and both sides closed. Never rejects: the
 * result carries the first error. Both sides are closed (or reset) when it resolves.
 */
export function relay(a: Duplex, b: Duplex, options: RelayOptions = {}): Promise<RelayResult> {
  return new Promise((resolve) => {
    let aToB = 0;
    let bToA = 0;
    let error: Error | undefined;
    let pending = 2;
    let aborted = false;

    const abortBoth = (cause?: Error) => {
      if (cause && !error) error = cause;
      if (aborted) return;
      aborted = true;
      abortDuplex(a, cause);
      abortDuplex(b, cause);
    };

    const pipe = (from: Duplex, to: Duplex, count: (n: number) => void) => {
      const onData = (chunk: Buffer) => {
        count(chunk.length);
        if (!to.write(chunk)) from.pause();
      };
      const onDrain = () => from.resume();
      from.on('data', onData);
      to.on('drain', onDrain);
      from.once('end', () => {
        if (endedByReset(from)) abortBoth();
        else if (!to.destroyed && !to.writableEnded) to.end();
      });
    };

    pipe(a, b, (n) => (aToB += n));
    pipe(b, a, (n) => (bToA += n));

    const onSignal = () => abortBoth(options.signal ? abortError(options.signal) : undefined);
    if (options.signal?.aborted) onSignal();
    else options.signal?.addEventListener('abort', onSignal, { once: true });

    const onClosed = (side: Duplex) => {
      // A side that closes without having ended its read side (a reset, a destroy) aborts the other one.
      if (!side.readableEnded || endedByReset(side)) abortBoth();
      if (--pending === 0) {
        options.signal?.removeEventListener('abort', onSignal);
        resolve({ aToB, bToA, error });
      }
    };
    for (const side of [a, b]) {
      side.on('error', (e: Error) => abortBoth(e));
      if (side.closed) queueMicrotask(() => onClosed(side));
      else side.once('close', () => onClosed(side));
    }
  });
}
