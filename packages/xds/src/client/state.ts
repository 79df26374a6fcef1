// A subscription's resources (by name and by alias) and the coalescing queue behind its async iterators.

/** One resource as a client holds it. */
export interface XdsResource<T> {
  readonly name: string;
  /** Delta: the server's per-resource version. SotW: the version_info of the response that last changed it. */
  readonly version: string;
  readonly aliases: readonly string[];
  readonly resource: T;
  /** Epoch milliseconds of the response that last changed it. */
  readonly updatedAt: number;
  /** The resource's TTL: it is dropped unless refreshed in time. */
  readonly ttlMs?: number;
}

export type BatchCause = 'response' | 'ttl' | 'unsubscribe' | 'snapshot';

/** Changes applied in one step: a consumer applies `updated` and `removed` together. */
export interface ResourceBatch<T> {
  readonly typeUrl: string;
  /** Added or changed resources. */
  readonly updated: readonly XdsResource<T>[];
  /** Names that are gone (deleted by the server, expired, or no longer subscribed). */
  readonly removed: readonly string[];
  /**
   * `response` from the server, `ttl` when resources expired, `unsubscribe` after a local unsubscribe, `snapshot`
   * for the current state an iterator starts with. Coalesced batches carry the latest cause.
   */
  readonly cause: BatchCause;
}

export class ResourceState<T> {
  readonly byName = new Map<string, XdsResource<T>>();
  /** alias → the name holding it, or the names when several do (rare: a Set only then). */
  readonly #byAlias = new Map<string, string | Set<string>>();

  get(key: string): XdsResource<T> | undefined {
    const named = this.byName.get(key);
    if (named) return named;
    const aliased = this.#byAlias.get(key);
    if (aliased === undefined) return undefined;
    if (typeof aliased === 'string') return this.byName.get(aliased);
    for (const name of aliased) {
      const entry = this.byName.get(name);
      if (entry) return entry;
    }
    return undefined;
  }

  /** Every resource named `key` or aliased `key`. */
  resolve(key: string): XdsResource<T>[] {
    const out: XdsResource<T>[] = [];
    const named = this.byName.get(key);
    if (named) out.push(named);
    const aliased = this.#byAlias.get(key);
    for (const name of typeof aliased === 'string' ? [aliased] : (aliased ?? [])) {
      const entry = this.byName.get(name);
      if (entry && entry !== named) out.push(entry);
    }
    return out;
  }

  put(entry: XdsResource<T>): void {
    if (this.byName.has(entry.name)) this.delete(entry.name);
    this.byName.set(entry.name, entry);
    for (const alias of entry.aliases) {
      const current = this.#byAlias.get(alias);
      if (current === undefined) this.#byAlias.set(alias, entry.name);
      else if (typeof current === 'string') {
        if (current !== entry.name) this.#byAlias.set(alias, new Set([current, entry.name]));
      } else current.add(entry.name);
    }
  }

  delete(name: string): boolean {
    const old = this.byName.get(name);
    if (!old) return false;
    this.byName.delete(name);
    for (const alias of old.aliases) {
      const current = this.#byAlias.get(alias);
      if (current === name) this.#byAlias.delete(alias);
      else if (current instanceof Set) {
        current.delete(name);
        if (current.size === 1) this.#byAlias.set(alias, current.values().next().value!);
        else if (current.size === 0) this.#byAlias.delete(alias);
      }
    }
    return true;
  }
}

/**
 * Batches waiting for one iterator. A slow consumer does not make it grow without bound: pending batches merge by
 * name (the latest copy of each resource, removals cancelling earlier updates and the reverse).
 */
export class BatchQueue<T> implements AsyncIterator<ResourceBatch<T>> {
  readonly #updated = new Map<string, XdsResource<T>>();
  readonly #removed = new Set<string>();
  #cause: BatchCause = 'response';
  #has = false;
  #done = false;
  #waiter: ((result: IteratorResult<ResourceBatch<T>>) => void) | undefined;
  #fail: ((error: unknown) => void) | undefined;
  #error: unknown;

  constructor(
    readonly typeUrl: string,
    private readonly onFinish: () => void,
  ) {}

  push(batch: ResourceBatch<T>): void {
    if (this.#done) return;
    for (const name of batch.removed) {
      this.#updated.delete(name);
      this.#removed.add(name);
    }
    for (const entry of batch.updated) {
      this.#removed.delete(entry.name);
      this.#updated.delete(entry.name); // keep response order: re-insert at the end
      this.#updated.set(entry.name, entry);
    }
    this.#cause = batch.cause;
    this.#has = true;
    this.#wake();
  }

  /** Ends the iteration (after what is pending), or fails it with `error`. */
  finish(error?: unknown): void {
    if (this.#done) return;
    this.#done = true;
    this.#error = error;
    this.#wake();
  }

  #take(): ResourceBatch<T> {
    const batch: ResourceBatch<T> = {
      typeUrl: this.typeUrl,
      updated: [...this.#updated.values()],
      removed: [...this.#removed],
      cause: this.#cause,
    };
    this.#updated.clear();
    this.#removed.clear();
    this.#has = false;
    return batch;
  }

  #wake(): void {
    const waiter = this.#waiter;
    const fail = this.#fail;
    if (!waiter || !fail) return;
    if (this.#has) {
      this.#waiter = this.#fail = undefined;
      waiter({ value: this.#take(), done: false });
    } else if (this.#done) {
      this.#waiter = this.#fail = undefined;
      this.onFinish();
      if (this.#error !== undefined) fail(this.#error);
      else waiter({ value: undefined, done: true });
    }
  }

  next(): Promise<IteratorResult<ResourceBatch<T>>> {
    if (this.#has) return Promise.resolve({ value: this.#take(), done: false });
    if (this.#done) {
      this.onFinish();
      if (this.#error !== undefined) return Promise.reject(this.#error);
      return Promise.resolve({ value: undefined, done: true });
    }
    return new Promise((resolve, reject) => {
      this.#waiter = resolve;
      this.#fail = reject;
    });
  }

  return(): Promise<IteratorResult<ResourceBatch<T>>> {
    this.#done = true;
    this.#updated.clear();
    this.#removed.clear();
    this.#has = false;
    this.#error = undefined;
    this.#wake();
    this.onFinish();
    return Promise.resolve({ value: undefined, done: true });
  }
}
