// A request body on its way upstream: streamed as it arrives, with a bounded replay buffer so that a retry can send
// it again and a mirror can send a copy (Envoy's retry/shadow buffer, per_request_buffer_limit_bytes, default 1 MiB).
// Past the limit the buffer is dropped: the attempt in flight keeps streaming, but nothing can replay the body any
// more (no retry, no mirror). Backpressure flows from the attempt's upstream write to the downstream read.
import { Readable } from 'node:stream';

/** Anything that can give a fresh stream of the whole body; null when it no longer can. */
export interface BodySource {
  /** Whether open() can still give the whole body. */
  readonly replayable: boolean;
  open(): Readable | null;
}

/** A body held whole in memory (mirrors, tests). */
export function bufferSource(body: Buffer): BodySource {
  return { replayable: true, open: () => Readable.from([body], { objectMode: false }) };
}

export class RequestBody implements BodySource {
  readonly #src: Readable;
  readonly #limit: number;
  #chunks: Buffer[] = [];
  #buffered = 0;
  #overflowed = false;
  #ended = false;
  #failed: Error | null = null;
  #received = 0;
  /** The attempt currently fed live (earlier attempts are cut off when a new one opens). */
  #sink: Readable | null = null;
  #opened = 0;
  /** Bytes read before the first attempt opened that did not fit the buffer (at most one chunk: we pause). */
  #held: Buffer[] = [];
  #discarding = false;
  readonly #done: Promise<void>;

  /**
   * @param limit bytes kept for replay; 0 keeps nothing (the body streams once and cannot be replayed).
   */
  constructor(src: Readable, limit: number) {
    this.#src = src;
    this.#limit = limit;
    let settle!: () => void;
    this.#done = new Promise<void>((resolve) => (settle = resolve));
    src.on('data', (chunk: Buffer) => {
      this.#received += chunk.length;
      if (this.#discarding) return;
      if (!this.#overflowed) {
        if (this.#buffered + chunk.length <= this.#limit) {
          this.#chunks.push(chunk);
          this.#buffered += chunk.length;
        } else {
          this.#overflowed = true;
          this.#chunks = [];
          this.#buffered = 0;
        }
      }
      if (!this.#sink) {
        // No attempt yet: stop reading the client rather than hold its bytes; the first attempt gets this one.
        if (this.#overflowed) this.#held.push(chunk);
        src.pause();
      } else if (!this.#sink.push(chunk)) src.pause();
    });
    src.once('end', () => {
      this.#ended = true;
      this.#sink?.push(null);
      settle();
    });
    const fail = (error: Error) => {
      if (this.#ended || this.#failed) return;
      this.#failed = error;
      this.#sink?.destroy(error);
      settle();
    };
    src.once('error', fail);
    // HTTP/1.1: 'aborted' without 'error' when the client goes away mid-body; 'close' covers HTTP/2's streams.
    src.once('aborted', () => fail(new Error('the client aborted the request')));
    src.once('close', () => fail(new Error('the client closed the request before its end')));
    src.pause();
  }

  /** Body bytes received from the client so far. */
  get received(): number {
    return this.#received;
  }

  /** Whether a new attempt can still get the whole body (nothing sent yet, or all of it is in the buffer). */
  get replayable(): boolean {
    return this.#opened === 0 || !this.#overflowed;
  }

  /** Whether the buffer gave up (the body went past the limit). */
  get overflowed(): boolean {
    return this.#overflowed;
  }

  /**
   * A stream of the whole body for one attempt: what is buffered, then the rest as it arrives. It replaces the
   * previous attempt's stream, which gets nothing more. Null when the body cannot be replayed.
   */
  open(): Readable | null {
    if (!this.replayable) return null;
    this.#opened++;
    const previous = this.#sink;
    const src = this.#src;
    const sink: Readable = new Readable({
      read: () => {
        if (this.#sink === sink && !this.#ended) src.resume();
      },
    });
    if (previous) previous.destroy();
    this.#sink = sink;
    for (const chunk of this.#overflowed ? this.#held : this.#chunks) sink.push(chunk);
    this.#held = [];
    if (this.#failed) sink.destroy(this.#failed);
    else if (this.#ended) sink.push(null);
    return sink;
  }

  /** The whole body once it arrived, if it fit the buffer; null if it did not, or the client went away. */
  async whole(): Promise<Buffer | null> {
    await this.#done;
    if (this.#failed || this.#overflowed) return null;
    return Buffer.concat(this.#chunks, this.#buffered);
  }

  /** After the response: whatever the client still sends is read and dropped (the connection can go on). */
  discard(): void {
    this.#discarding = true;
    this.#chunks = [];
    this.#buffered = 0;
    this.#overflowed = true;
    // An attempt still sending (the upstream answered before the body's end) is cut off with it.
    if (!this.#ended) {
      this.#sink?.destroy();
      this.#src.resume();
    }
    this.#sink = null;
  }
}
