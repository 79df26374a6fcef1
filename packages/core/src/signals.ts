// Cancellation helpers shared by every async entry point: each takes `signal` in its options object.
import { setTimeout as delay } from 'node:timers/promises';
import { CoreError, MeshError } from './errors.js';

/** The error to throw for an aborted signal: its reason when that is already a MeshError, else ERR_CORE_ABORTED. */
export function abortError(signal: AbortSignal): MeshError {
  const reason: unknown = signal.reason;
  if (reason instanceof MeshError) return reason;
  return new CoreError('ERR_CORE_ABORTED', 'operation aborted', { cause: reason });
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortError(signal);
}

/** A signal that aborts when any input aborts; `undefined` inputs are ignored. */
export function anySignal(...signals: Array<AbortSignal | undefined>): AbortSignal {
  const present = signals.filter((s): s is AbortSignal => s !== undefined);
  if (present.length === 1) return present[0]!;
  return AbortSignal.any(present);
}

export interface Deadline extends Disposable {
  readonly signal: AbortSignal;
}

/**
 * A signal that aborts with ERR_CORE_TIMEOUT after `timeoutMs`, or earlier when `parent` aborts.
 * Dispose it when the operation ends so the timer does not outlive the work.
 */
export function deadline(timeoutMs: number | undefined, parent?: AbortSignal): Deadline {
  const controller = new AbortController();
  const onParentAbort = () => controller.abort(parent?.reason);
  if (parent?.aborted) controller.abort(parent.reason);
  else parent?.addEventListener('abort', onParentAbort, { once: true });
  const timer =
    timeoutMs === undefined || !Number.isFinite(timeoutMs)
      ? undefined
      : setTimeout(
          () =>
            controller.abort(
              new CoreError('ERR_CORE_TIMEOUT', `timed out after ${timeoutMs} ms`, { details: { timeoutMs } }),
            ),
          timeoutMs,
        );
  timer?.unref?.();
  return {
    signal: controller.signal,
    [Symbol.dispose]() {
      if (timer !== undefined) clearTimeout(timer);
      parent?.removeEventListener('abort', onParentAbort);
    },
  };
}

/** Resolves with `promise`, or rejects with the abort error as soon as `signal` aborts. */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(abortError(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/** Waits `ms`; rejects with the abort error if `signal` aborts first. */
export async function sleep(ms: number, options: { signal?: AbortSignal } = {}): Promise<void> {
  try {
    await delay(ms, undefined, options.signal ? { signal: options.signal } : undefined);
  } catch (error) {
    if (options.signal?.aborted) throw abortError(options.signal);
    throw error;
  }
}
