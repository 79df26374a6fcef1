// The config store interface (list + watch with typed events) and the bookkeeping every store shares: objects by
// key, the source (file) each came from, duplicates across sources, and the batches watchers receive.
import { ConfigError } from '../errors.js';
import type { ConfigObject } from '../resources.js';
import type { ConfigIssue } from '../validate.js';

export type ConfigEvent =
  | { readonly type: 'added'; readonly object: ConfigObject }
  | { readonly type: 'updated'; readonly object: ConfigObject; readonly previous: ConfigObject }
  | { readonly type: 'deleted'; readonly object: ConfigObject };

/** One atomic change of a store: a file reloaded, an apply call, an informer resync. */
export interface ConfigBatch {
  readonly events: readonly ConfigEvent[];
  /** The store's issues after this batch (all of them, not only new ones). */
  readonly issues: readonly ConfigIssue[];
}

/**
 * What the index reads from: the file store, the memory store, and (later) the Kubernetes store implement it.
 * `list`/`get` give the current state; `subscribe`/`watch` deliver every later change in order, as batches.
 */
export interface ConfigStore extends AsyncDisposable {
  /** Every object, or those of one kind, in key order. */
  list(kind?: string): ConfigObject[];
  get(key: string): ConfigObject | undefined;
  /** Current validation problems: errors of sources that keep their last good content, and warnings. */
  readonly issues: readonly ConfigIssue[];
  /** Calls `listener` after every batch; returns the unsubscribe function. */
  subscribe(listener: (batch: ConfigBatch) => void): () => void;
  /** The batches after this call, until the store is disposed or `signal` aborts. */
  watch(options?: { signal?: AbortSignal }): AsyncIterableIterator<ConfigBatch>;
  dispose(): Promise<void>;
}

/** Shared state of a store whose objects come from named sources (files; one source for the memory store). */
export abstract class SourcedStore implements ConfigStore {
  readonly #objects = new Map<string, ConfigObject>();
  /** source → its objects by key. */
  readonly #sources = new Map<string, Map<string, ConfigObject>>();
  readonly #sourceIssues = new Map<string, ConfigIssue[]>();
  readonly #listeners = new Set<(batch: ConfigBatch) => void>();
  #issues: ConfigIssue[] = [];
  #closed = false;

  list(kind?: string): ConfigObject[] {
    const out: ConfigObject[] = [];
    for (const o of this.#objects.values()) if (kind === undefined || o.kind === kind) out.push(o);
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  get(key: string): ConfigObject | undefined {
    return this.#objects.get(key);
  }

  get issues(): readonly ConfigIssue[] {
    return this.#issues;
  }

  get closed(): boolean {
    return this.#closed;
  }

  subscribe(listener: (batch: ConfigBatch) => void): () => void {
    this.assertOpen();
    this.#listeners.add(listener);
    return () => void this.#listeners.delete(listener);
  }

  watch(options: { signal?: AbortSignal } = {}): AsyncIterableIterator<ConfigBatch> {
    this.assertOpen();
    const queue: ConfigBatch[] = [];
    let wake: (() => void) | null = null;
    let done = false;
    const finish = () => {
      done = true;
      unsubscribe();
      this.#closers.delete(finish);
      options.signal?.removeEventListener('abort', finish);
      wake?.();
    };
    const unsubscribe = this.subscribe((batch) => {
      queue.push(batch);
      wake?.();
    });
    this.#closers.add(finish);
    if (options.signal?.aborted) finish();
    else options.signal?.addEventListener('abort', finish, { once: true });
    const iterator: AsyncIterableIterator<ConfigBatch> = {
      next: async () => {
        while (queue.length === 0 && !done) await new Promise<void>((resolve) => (wake = resolve));
        wake = null;
        const value = queue.shift();
        return value ? { value, done: false } : { value: undefined, done: true };
      },
      return: async () => {
        finish();
        return { value: undefined, done: true };
      },
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }

  readonly #closers = new Set<() => void>();

  async dispose(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.onDispose();
    for (const close of [...this.#closers]) close();
    this.#listeners.clear();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }

  protected async onDispose(): Promise<void> {}

  protected assertOpen(): void {
    if (this.#closed) throw new ConfigError('ERR_CONFIG_STORE_CLOSED', 'the config store was disposed');
  }

  /**
   * Replaces what several sources contribute (null removes a source) and their issues, in one batch. Returns the
   * events (also delivered to subscribers when there are events or the issues changed).
   */
  protected replaceSources(
    changes: ReadonlyMap<string, { objects: readonly ConfigObject[] | null; issues: readonly ConfigIssue[] }>,
  ): ConfigEvent[] {
    const touched = new Set<string>();
    for (const [source, change] of changes) {
      for (const key of this.#sources.get(source)?.keys() ?? []) touched.add(key);
      if (change.objects === null) {
        this.#sources.delete(source);
      } else {
        const next = new Map<string, ConfigObject>();
        for (const o of change.objects) if (!next.has(o.key)) next.set(o.key, o);
        for (const key of next.keys()) touched.add(key);
        this.#sources.set(source, next);
      }
      if (change.issues.length > 0) this.#sourceIssues.set(source, [...change.issues]);
      else this.#sourceIssues.delete(source);
    }
    const events: ConfigEvent[] = [];
    for (const key of [...touched].sort()) {
      const before = this.#objects.get(key);
      const after = this.#winner(key);
      if (after) this.#objects.set(key, after);
      else this.#objects.delete(key);
      if (!before && after) events.push({ type: 'added', object: after });
      else if (before && !after) events.push({ type: 'deleted', object: before });
      else if (before && after && before !== after && !sameObject(before, after))
        events.push({ type: 'updated', object: after, previous: before });
    }
    const previous = this.#issues;
    this.#issues = this.#collectIssues();
    if (events.length > 0 || !sameIssues(previous, this.#issues)) {
      const batch: ConfigBatch = { events, issues: this.#issues };
      for (const listener of [...this.#listeners]) listener(batch);
    }
    return events;
  }

  /** The object for a key: the one from the first source in sorted order (duplicates are reported as issues). */
  #winner(key: string): ConfigObject | undefined {
    let best: ConfigObject | undefined;
    let bestSource: string | undefined;
    for (const [source, objects] of this.#sources) {
      const o = objects.get(key);
      if (o && (bestSource === undefined || source < bestSource)) {
        best = o;
        bestSource = source;
      }
    }
    return best;
  }

  #collectIssues(): ConfigIssue[] {
    const out: ConfigIssue[] = [];
    for (const source of [...this.#sourceIssues.keys()].sort()) out.push(...this.#sourceIssues.get(source)!);
    // Duplicates: the same object in two sources.
    const owners = new Map<string, ConfigObject[]>();
    for (const source of [...this.#sources.keys()].sort())
      for (const o of this.#sources.get(source)!.values()) {
        const list = owners.get(o.key);
        if (list) list.push(o);
        else owners.set(o.key, [o]);
      }
    for (const list of owners.values()) {
      if (list.length < 2) continue;
      const [winner, ...others] = list;
      for (const o of others) {
        out.push({
          severity: 'warning',
          path: 'metadata.name',
          message: `${o.kind} ${o.namespace ? `${o.namespace}/` : ''}${o.name} is also defined at ${where(winner!)}, which is used`,
          resource: `${o.kind} ${o.namespace ? `${o.namespace}/` : ''}${o.name}`,
          ...o.origin,
        });
      }
    }
    return out;
  }
}

const where = (o: ConfigObject) =>
  `${o.origin.file ?? '<memory>'}${o.origin.document !== undefined ? `#${o.origin.document}` : ''}`;

function sameObject(a: ConfigObject, b: ConfigObject): boolean {
  return a.key === b.key && deepEqual(a.resource, b.resource);
}

function sameIssues(a: readonly ConfigIssue[], b: readonly ConfigIssue[]): boolean {
  return a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
}

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((x, i) => deepEqual(x, bb[i]));
  }
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (const k of ka)
    if (!Object.hasOwn(b, k) || !deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
      return false;
  return true;
}
