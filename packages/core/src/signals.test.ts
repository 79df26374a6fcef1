import { describe, expect, it } from 'vitest';
import { MeshError } from './errors.js';
import { abortable, abortError, anySignal, deadline, sleep, throwIfAborted } from './signals.js';

describe('signals', () => {
  it('deadline aborts with ERR_CORE_TIMEOUT', async () => {
    using d = deadline(5);
    await expect(sleep(10_000, { signal: d.signal })).rejects.toSatisfy((e) => MeshError.is(e, 'ERR_CORE_TIMEOUT'));
  });

  it('deadline follows its parent and keeps the parent reason', async () => {
    const parent = new AbortController();
    using d = deadline(10_000, parent.signal);
    parent.abort(new Error('shutdown'));
    expect(d.signal.aborted).toBe(true);
    const error = abortError(d.signal);
    expect(error.code).toBe('ERR_CORE_ABORTED');
    expect((error.cause as Error).message).toBe('shutdown');
  });

  it('a disposed deadline never fires', async () => {
    const d = deadline(1);
    d[Symbol.dispose]();
    await sleep(5);
    expect(d.signal.aborted).toBe(false);
  });

  it('abortable rejects early and resolves normally', async () => {
    const controller = new AbortController();
    const never = new Promise<void>(() => {});
    const pending = abortable(never, controller.signal);
    controller.abort();
    await expect(pending).rejects.toSatisfy((e) => MeshError.is(e, 'ERR_CORE_ABORTED'));
    await expect(abortable(Promise.resolve(7), new AbortController().signal)).resolves.toBe(7);
  });

  it('anySignal and throwIfAborted', () => {
    const a = new AbortController();
    const b = new AbortController();
    const both = anySignal(a.signal, undefined, b.signal);
    expect(() => throwIfAborted(both)).not.toThrow();
    b.abort();
    expect(() => throwIfAborted(both)).toThrow(MeshError);
    expect(() => throwIfAborted(undefined)).not.toThrow();
  });
});
