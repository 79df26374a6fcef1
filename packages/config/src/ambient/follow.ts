// Keeps an ambient index in step with a config store: what istiod wires between its store and its xDS server.
import type { ConfigBatch, ConfigStore } from '../store/store.js';
import { AmbientIndex, type AmbientIndexOptions, type IndexChanges } from './index.js';

export interface FollowOptions extends AmbientIndexOptions {
  /** Called after every store batch with what changed (possibly nothing, when only issues changed). */
  onChange: (changes: IndexChanges, batch: ConfigBatch) => void;
  /** Stops following when aborted. */
  signal?: AbortSignal;
}

export interface IndexFollower extends Disposable {
  /** The index, built from the store's content when following started and updated on every batch since. */
  readonly index: AmbientIndex;
  /** Stops following (idempotent). */
  stop(): void;
}

/** Builds an index from `store` and applies every later batch to it, reporting the changes. */
export function followStore(store: ConfigStore, options: FollowOptions): IndexFollower {
  const { onChange, signal, ...indexOptions } = options;
  const index = AmbientIndex.from(store.list(), indexOptions);
  const unsubscribe = store.subscribe((batch) => onChange(index.apply(batch.events), batch));
  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    unsubscribe();
    signal?.removeEventListener('abort', stop);
  };
  if (signal?.aborted) stop();
  else signal?.addEventListener('abort', stop, { once: true });
  return { index, stop, [Symbol.dispose]: stop };
}
