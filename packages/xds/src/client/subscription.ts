// A typed subscription to one resource type: its names, its resources (the last good state), and change delivery.
import { abortError, deadline, type Clock } from '@mesh/core';
import { XdsError } from '../errors.js';
import type { ResourceType } from '../resource-type.js';
import type { Interest, Processed } from './process.js';
import { BatchQueue, ResourceState, type BatchCause, type ResourceBatch, type XdsResource } from './state.js';

/** A reply the client sent for this type. */
export interface ClientReply {
  nonce: string;
  /** SotW: the version_info sent with the reply (on a NACK, the last accepted one). */
  version: string;
  /** Epoch milliseconds. */
  at: number;
}

export interface ClientNack extends ClientReply {
  message: string;
  /** Each rejected resource, with its reason. */
  errors: readonly XdsError[];
}

/** Diagnostics for one subscription (config_dump). */
export interface SubscriptionStatus {
  typeUrl: string;
  wildcard: boolean;
  names: string[];
  resources: number;
  /** SotW: the last accepted version_info. */
  version: string;
  lastAck: ClientReply | null;
  /** The latest NACK (kept after later ACKs, for diagnostics). */
  lastNack: ClientNack | null;
}

export interface ChangesOptions {
  /** Start with a `snapshot` batch of the current state when there is any. Default true. */
  snapshot?: boolean;
  signal?: AbortSignal;
}

export interface WaitOptions {
  signal?: AbortSignal;
  /** Default: wait as long as the signal allows. */
  timeoutMs?: number;
}

export interface LookupOptions {
  signal?: AbortSignal;
  /** How long to wait before concluding the resource does not exist. Default 15 s (the protocol's advice). */
  timeoutMs?: number;
}

/** @internal What a subscription asks of its client. */
export interface SubscriptionHost {
  readonly clock: Clock;
  interestChanged(subscription: Subscription<unknown>, added: string[], removed: string[]): void;
  released(subscription: Subscription<unknown>): void;
}

/** @internal Key of the client-facing side of a subscription. */
export const internals = Symbol('@mesh/xds.subscription');

export type ChangeListener<T> = (batch: ResourceBatch<T>) => void;

/**
 * The resources of one type a client subscribes to. It keeps the last good state across reconnects and NACKs, and
 * delivers each response's changes as one batch: to `onChange` listeners synchronously, and to async iterators.
 */
export class Subscription<T> implements AsyncIterable<ResourceBatch<T>>, AsyncDisposable {
  readonly #type: ResourceType<T>;
  readonly #host: SubscriptionHost;
  readonly #state = new ResourceState<T>();
  #bodies = new Map<string, Uint8Array>();
  #wildcard: boolean;
  #names: Set<string>;
  #version = '';
  #lastAck: ClientReply | null = null;
  #lastNack: ClientNack | null = null;
  #responded = false;
  #closed = false;
  readonly #listeners = new Set<ChangeListener<T>>();
  readonly #queues = new Set<BatchQueue<T>>();
  readonly #readyWaiters = new Set<() => void>();
  readonly #notFoundWaiters = new Set<(keys: readonly string[]) => void>();
  readonly #ttlTimers = new Map<string, NodeJS.Timeout>();
  /** Subscribed keys the server said do not exist (until a matching resource arrives). */
  readonly #absent = new Set<string>();
  /** Listener exceptions go here (the client reports them as `listenerError`). */
  onListenerError: (error: unknown) => void = () => {};

  /** @internal Use `XdsClient#subscribe`. */
  constructor(type: ResourceType<T>, names: Iterable<string> | undefined, host: SubscriptionHost) {
    this.#type = type;
    this.#host = host;
    const initial = names === undefined ? (type.wildcard ? ['*'] : []) : [...names];
    this.#wildcard = initial.includes('*');
    this.#names = new Set(initial.filter((n) => n !== '*'));
  }

  get type(): ResourceType<T> {
    return this.#type;
  }

  get typeUrl(): string {
    return this.#type.typeUrl;
  }

  /** Subscribed to `*`. */
  get wildcard(): boolean {
    return this.#wildcard;
  }

  /** The explicit names (and alias keys) subscribed to. */
  get names(): ReadonlySet<string> {
    return this.#names;
  }

  get size(): number {
    return this.#state.byName.size;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** A resource by name or alias. */
  get(nameOrAlias: string): XdsResource<T> | undefined {
    return this.#state.get(nameOrAlias);
  }

  has(nameOrAlias: string): boolean {
    return this.#state.get(nameOrAlias) !== undefined;
  }

  /** Every resource held. */
  values(): IterableIterator<XdsResource<T>> {
    return this.#state.byName.values();
  }

  /** Adds names (or `*`) at runtime. */
  subscribe(names: Iterable<string>): void {
    this.#assertOpen();
    const added: string[] = [];
    for (const name of names) {
      if (name === '*') {
        if (!this.#wildcard) added.push(name);
        this.#wildcard = true;
      } else if (!this.#names.has(name)) {
        this.#names.add(name);
        added.push(name);
      }
    }
    if (added.length) this.#host.interestChanged(this as Subscription<unknown>, added, []);
  }

  /** Drops names (or `*`) at runtime; resources no longer covered are removed locally in one batch. */
  unsubscribe(names: Iterable<string>): void {
    this.#assertOpen();
    const removed: string[] = [];
    for (const name of names) {
      if (name === '*') {
        if (this.#wildcard) removed.push(name);
        this.#wildcard = false;
      } else if (this.#names.delete(name)) {
        this.#absent.delete(name);
        removed.push(name);
      }
    }
    if (!removed.length) return;
    this.#host.interestChanged(this as Subscription<unknown>, [], removed);
    // With a wildcard still on, the server answers for the dropped names; without, the client drops them itself.
    if (!this.#wildcard) {
      const gone = [...this.#state.byName.values()].filter((e) => !this.#covers(e)).map((e) => e.name);
      if (gone.length) this.#commit([], gone, 'unsubscribe');
    }
  }

  #covers(entry: XdsResource<T>): boolean {
    if (this.#wildcard || this.#names.has(entry.name)) return true;
    return entry.aliases.some((a) => this.#names.has(a));
  }

  /** Calls `listener` with every batch, synchronously, right after it is applied. Returns the unsubscriber. */
  onChange(listener: ChangeListener<T>): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Batches of changes as they are applied; pending batches merge when the consumer is slower than the server. */
  changes(options: ChangesOptions = {}): AsyncIterable<ResourceBatch<T>> {
    return {
      [Symbol.asyncIterator]: () => {
        const queue = new BatchQueue<T>(this.typeUrl, () => {
          this.#queues.delete(queue);
          options.signal?.removeEventListener('abort', onAbort);
        });
        const onAbort = () => queue.finish(abortError(options.signal!));
        if (options.signal?.aborted) queue.finish(abortError(options.signal));
        else options.signal?.addEventListener('abort', onAbort, { once: true });
        if ((options.snapshot ?? true) && this.size > 0) {
          queue.push({ typeUrl: this.typeUrl, updated: [...this.values()], removed: [], cause: 'snapshot' });
        }
        if (this.#closed) queue.finish();
        else this.#queues.add(queue);
        return queue;
      },
    };
  }

  [Symbol.asyncIterator](): AsyncIterator<ResourceBatch<T>> {
    return this.changes()[Symbol.asyncIterator]();
  }

  /**
   * Resolves once the first response for this type was processed (accepted or not), or at once when nothing is
   * subscribed (on-demand use). Like ztunnel's readiness gate.
   */
  async ready(options: WaitOptions = {}): Promise<void> {
    if (this.#responded || (!this.#wildcard && this.#names.size === 0)) return;
    this.#assertOpen();
    using wait = deadline(options.timeoutMs, options.signal);
    await new Promise<void>((resolve, reject) => {
      const done = () => {
        wait.signal.removeEventListener('abort', onAbort);
        this.#readyWaiters.delete(done);
        resolve();
      };
      const onAbort = () => {
        this.#readyWaiters.delete(done);
        reject(abortError(wait.signal));
      };
      if (wait.signal.aborted) return onAbort();
      wait.signal.addEventListener('abort', onAbort, { once: true });
      this.#readyWaiters.add(done);
    });
  }

  /**
   * On-demand lookup by name or alias (ztunnel asks for `<network>/<ip>`): returns the held resource, or subscribes to
   * `key` and waits for the server's answer. Resolves undefined when the server says it does not exist (delta) or
   * nothing arrives within `timeoutMs`.
   */
  async lookup(key: string, options: LookupOptions = {}): Promise<XdsResource<T> | undefined> {
    const held = this.get(key);
    if (held) return held;
    this.#assertOpen();
    if (this.#names.has(key) && this.#absent.has(key)) return undefined; // already answered
    using wait = deadline(options.timeoutMs ?? 15_000, options.signal);
    const result = new Promise<XdsResource<T> | undefined>((resolve, reject) => {
      const finish = (value: XdsResource<T> | undefined) => {
        stopChange();
        this.#notFoundWaiters.delete(onNotFound);
        wait.signal.removeEventListener('abort', onAbort);
        resolve(value);
      };
      const stopChange = this.onChange(() => {
        const found = this.get(key);
        if (found) finish(found);
      });
      const onNotFound = (keys: readonly string[]) => {
        if (keys.includes(key)) finish(undefined);
      };
      const onAbort = () => {
        if (options.signal?.aborted) {
          stopChange();
          this.#notFoundWaiters.delete(onNotFound);
          reject(abortError(options.signal));
        } else finish(undefined); // the does-not-exist timer
      };
      this.#notFoundWaiters.add(onNotFound);
      wait.signal.addEventListener('abort', onAbort, { once: true });
    });
    if (!this.#names.has(key)) this.subscribe([key]);
    return await result;
  }

  /** Diagnostics (config_dump). */
  status(): SubscriptionStatus {
    return {
      typeUrl: this.typeUrl,
      wildcard: this.#wildcard,
      names: [...this.#names],
      resources: this.size,
      version: this.#version,
      lastAck: this.#lastAck && { ...this.#lastAck },
      lastNack: this.#lastNack && { ...this.#lastNack, errors: [...this.#lastNack.errors] },
    };
  }

  /** Stops the subscription: the server is told (delta), iterators end, state is dropped. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const timer of this.#ttlTimers.values()) clearTimeout(timer);
    this.#ttlTimers.clear();
    for (const queue of this.#queues) queue.finish();
    this.#queues.clear();
    this.#listeners.clear();
    this.#host.released(this as Subscription<unknown>);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }

  #assertOpen(): void {
    if (this.#closed) throw new XdsError('ERR_XDS_CLOSED', `the subscription to ${this.typeUrl} is closed`);
  }

  #commit(updated: XdsResource<T>[], removed: string[], cause: BatchCause): void {
    for (const name of removed) {
      this.#state.delete(name);
      this.#bodies.delete(name);
      this.#clearTtl(name);
    }
    for (const entry of updated) {
      this.#state.put(entry);
      this.#armTtl(entry.name, entry.ttlMs);
      if (this.#absent.size) {
        this.#absent.delete(entry.name);
        for (const alias of entry.aliases) this.#absent.delete(alias);
      }
    }
    if (updated.length === 0 && removed.length === 0) return;
    const batch: ResourceBatch<T> = { typeUrl: this.typeUrl, updated, removed, cause };
    for (const queue of this.#queues) queue.push(batch);
    for (const listener of [...this.#listeners]) {
      try {
        listener(batch);
      } catch (error) {
        this.onListenerError(error);
      }
    }
  }

  #armTtl(name: string, ttlMs: number | undefined): void {
    if (this.#ttlTimers.size) this.#clearTtl(name);
    if (!ttlMs || ttlMs <= 0) return;
    const timer = setTimeout(() => {
      this.#ttlTimers.delete(name);
      if (this.#state.byName.has(name)) this.#commit([], [name], 'ttl');
    }, ttlMs);
    timer.unref();
    this.#ttlTimers.set(name, timer);
  }

  #clearTtl(name: string): void {
    const timer = this.#ttlTimers.get(name);
    if (timer) clearTimeout(timer);
    this.#ttlTimers.delete(name);
  }

  /** @internal The client's side. */
  get [internals]() {
    return {
      state: this.#state,
      interest: (): Interest => ({ wildcard: this.#wildcard, names: this.#names }),
      bodies: () => this.#bodies,
      version: () => this.#version,
      /** Applies one processed response in one step. */
      apply: (
        processed: Processed<T> & { bodies?: Map<string, Uint8Array> },
        version: string | undefined,
        completeSet = false,
      ) => {
        if (this.#closed) return;
        if (processed.bodies) this.#bodies = processed.bodies;
        if (version !== undefined) this.#version = version;
        for (const name of processed.refreshed) this.#armTtl(name, this.#state.byName.get(name)?.ttlMs);
        this.#commit(processed.updated, processed.removed, 'response');
        // A response that carries the complete subscribed set answers "does not exist" for every name it lacks.
        const notFound = completeSet
          ? [...processed.notFound, ...[...this.#names].filter((key) => !this.get(key))]
          : processed.notFound;
        for (const key of notFound) if (this.#names.has(key) && !this.get(key)) this.#absent.add(key);
        if (notFound.length) for (const waiter of [...this.#notFoundWaiters]) waiter(notFound);
        this.#responded = true;
        for (const waiter of [...this.#readyWaiters]) waiter();
      },
      acked: (reply: ClientReply) => {
        this.#lastAck = reply;
      },
      nacked: (nack: ClientNack) => {
        this.#lastNack = nack;
      },
    };
  }
}
