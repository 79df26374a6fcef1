import { PassThrough, type Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { RequestBody } from './body.js';

async function read(stream: Readable): Promise<string> {
  let out = '';
  for await (const chunk of stream) out += (chunk as Buffer).toString();
  return out;
}

describe('RequestBody', () => {
  it('replays a body under the limit to a second attempt, then follows the rest live', async () => {
    const src = new PassThrough();
    const body = new RequestBody(src, 10);
    const first = body.open()!;
    src.write('abc');
    await new Promise((resolve) => first.once('data', resolve));
    // The second attempt takes over: it gets what was buffered, then the rest.
    const second = body.open()!;
    const text = read(second);
    src.end('def');
    expect(await text).toBe('abcdef');
    expect(first.destroyed).toBe(true);
    expect(body.replayable).toBe(true);
    expect((await body.whole())?.toString()).toBe('abcdef');
    expect(body.received).toBe(6);
  });

  it('past the limit, streams on to the attempt in flight but can be replayed no more', async () => {
    const src = new PassThrough();
    const body = new RequestBody(src, 4);
    const first = body.open()!;
    const text = read(first);
    src.write('abc');
    src.end('defgh');
    expect(await text).toBe('abcdefgh');
    expect(body.overflowed).toBe(true);
    expect(body.replayable).toBe(false);
    expect(body.open()).toBeNull();
    expect(await body.whole()).toBeNull();
  });

  it('reads nothing before the first attempt, which then gets everything however large', async () => {
    const src = new PassThrough();
    const body = new RequestBody(src, 0);
    src.write('0123456789');
    src.end('!');
    await new Promise((resolve) => setImmediate(resolve));
    expect(body.received).toBe(0);
    expect(await read(body.open()!)).toBe('0123456789!');
  });

  it('cuts the attempt off with an error when the client goes away', async () => {
    const src = new PassThrough();
    const body = new RequestBody(src, 100);
    const first = body.open()!;
    const failed = new Promise<Error>((resolve) => first.once('error', resolve));
    src.write('abc');
    src.destroy(new Error('gone'));
    expect((await failed).message).toBe('gone');
    expect(await body.whole()).toBeNull();
  });
});
