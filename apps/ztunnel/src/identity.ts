// The identity manager: one certificate per workload identity present on the node, requested from the CA (istiod,
// impersonating the pod's identity), renewed at half-life. A failed renewal keeps the current certificate until it
// really expires and retries with exponential backoff (0.5 s doubling to 150 s, ±20% jitter, as ztunnel).
import { systemClock, systemRng, type Clock, type Rng } from '@mesh/core';
import type { X509Bundle, X509BundleSource, TrustDomain, X509Svid } from '@mesh/spiffe';
import { ZtunnelError } from './errors.js';

export interface FetchedCertificate {
  readonly svid: X509Svid;
  readonly bundle: X509Bundle;
}

export type CertificateFetcher = (identity: string, signal: AbortSignal) => Promise<FetchedCertificate>;

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realTimers: Timers = {
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface IdentityManagerOptions {
  fetch: CertificateFetcher;
  clock?: Clock;
  rng?: Rng;
  timers?: Timers;
  backoff?: { initialMs?: number; maxMs?: number };
  /** Called after every fetch attempt (metrics, logs). */
  onEvent?: (event: IdentityEvent) => void;
}

export type IdentityEvent =
  | { type: 'issued'; identity: string; expiresAt: number; renewAt: number; renewal: boolean }
  | { type: 'failed'; identity: string; error: Error; retryInMs: number; keptUntil: number | null }
  | { type: 'expired'; identity: string }
  | { type: 'removed'; identity: string };

export interface CertificateStatus {
  identity: string;
  state: string;
  certChain: { pem: string; serialNumber: string; validFrom: string; expirationTime: string }[];
  rootCerts: { pem: string; serialNumber: string; validFrom: string; expirationTime: string }[];
}

interface Entry {
  identity: string;
  current: FetchedCertificate | undefined;
  lastError: Error | undefined;
  timer: unknown;
  attempt: number;
  inflight: AbortController | undefined;
  waiters: { resolve: (s: X509Svid) => void; reject: (e: Error) => void }[];
}

export class IdentityManager implements X509BundleSource, AsyncDisposable {
  readonly #entries = new Map<string, Entry>();
  readonly #fetch: CertificateFetcher;
  readonly #clock: Clock;
  readonly #rng: Rng;
  readonly #timers: Timers;
  readonly #initialMs: number;
  readonly #maxMs: number;
  readonly #onEvent: (event: IdentityEvent) => void;
  #bundle: X509Bundle | undefined;
  #closed = false;

  constructor(options: IdentityManagerOptions) {
    this.#fetch = options.fetch;
    this.#clock = options.clock ?? systemClock;
    this.#rng = options.rng ?? systemRng;
    this.#timers = options.timers ?? realTimers;
    this.#initialMs = options.backoff?.initialMs ?? 500;
    this.#maxMs = options.backoff?.maxMs ?? 150_000;
    this.#onEvent = options.onEvent ?? (() => {});
  }

  /** The identities wanted now (the local pods'): new ones are fetched, ones no longer listed are dropped. */
  setIdentities(identities: Iterable<string>): void {
    const wanted = new Set(identities);
    for (const [id, entry] of this.#entries)
      if (!wanted.has(id)) {
        this.#stop(entry, new ZtunnelError('ERR_ZTUNNEL_IDENTITY', `${id} is no longer on this node`));
        this.#entries.delete(id);
        this.#onEvent({ type: 'removed', identity: id });
      }
    for (const id of wanted) if (!this.#entries.has(id)) this.#start(id);
  }

  identities(): string[] {
    return [...this.#entries.keys()];
  }

  /** The certificate for `identity` if one is valid now. */
  current(identity: string): X509Svid | undefined {
    const c = this.#entries.get(identity)?.current;
    return c && c.svid.expiresAt > this.#clock.now() ? c.svid : undefined;
  }

  /** The certificate, waiting for the first one if it is still being fetched. */
  get(identity: string, options: { timeoutMs?: number } = {}): Promise<X509Svid> {
    const now = this.current(identity);
    if (now) return Promise.resolve(now);
    const entry = this.#entries.get(identity);
    if (!entry)
      return Promise.reject(new ZtunnelError('ERR_ZTUNNEL_IDENTITY', `no workload of ${identity} is on this node`));
    return new Promise((resolve, reject) => {
      const timeoutMs = options.timeoutMs ?? 10_000;
      const timer = this.#timers.setTimeout(() => {
        entry.waiters = entry.waiters.filter((w) => w !== waiter);
        reject(
          new ZtunnelError(
            'ERR_ZTUNNEL_IDENTITY',
            `no certificate for ${identity} after ${timeoutMs} ms${entry.lastError ? `: ${entry.lastError.message}` : ''}`,
          ),
        );
      }, timeoutMs);
      const waiter = {
        resolve: (s: X509Svid) => {
          this.#timers.clearTimeout(timer);
          resolve(s);
        },
        reject: (e: Error) => {
          this.#timers.clearTimeout(timer);
          reject(e);
        },
      };
      entry.waiters.push(waiter);
    });
  }

  /** Every wanted identity has a valid certificate. */
  ready(): boolean {
    for (const id of this.#entries.keys()) if (!this.current(id)) return false;
    return true;
  }

  pending(): string[] {
    return [...this.#entries.keys()].filter((id) => !this.current(id));
  }

  getX509Bundle(trustDomain: TrustDomain): X509Bundle | undefined {
    return this.#bundle && this.#bundle.trustDomain.equals(trustDomain) ? this.#bundle : undefined;
  }

  /** For config_dump: Istio's certificate view. */
  status(): CertificateStatus[] {
    const view = (c: { toPem(): string; serialNumber: string; notBefore: number; notAfter: number }) => ({
      pem: c.toPem(),
      serialNumber: c.serialNumber,
      validFrom: new Date(c.notBefore).toISOString(),
      expirationTime: new Date(c.notAfter).toISOString(),
    });
    return [...this.#entries.values()].map((e) => {
      const valid = e.current && e.current.svid.expiresAt > this.#clock.now();
      return {
        identity: e.identity,
        state: valid ? 'Available' : e.lastError ? `Unavailable: ${e.lastError.message}` : 'Initializing',
        certChain: e.current ? e.current.svid.certificates.map(view) : [],
        rootCerts: e.current ? e.current.bundle.authorities.map(view) : [],
      };
    });
  }

  #start(identity: string): void {
    const entry: Entry = {
      identity,
      current: undefined,
      lastError: undefined,
      timer: undefined,
      attempt: 0,
      inflight: undefined,
      waiters: [],
    };
    this.#entries.set(identity, entry);
    void this.#refresh(entry);
  }

  #stop(entry: Entry, error: Error): void {
    if (entry.timer !== undefined) this.#timers.clearTimeout(entry.timer);
    entry.timer = undefined;
    entry.inflight?.abort();
    for (const w of entry.waiters.splice(0)) w.reject(error);
  }

  async #refresh(entry: Entry): Promise<void> {
    if (this.#closed || this.#entries.get(entry.identity) !== entry) return;
    entry.timer = undefined;
    const controller = new AbortController();
    entry.inflight = controller;
    try {
      const fetched = await this.#fetch(entry.identity, controller.signal);
      if (controller.signal.aborted || this.#entries.get(entry.identity) !== entry) return;
      const renewal = entry.current !== undefined;
      entry.current = fetched;
      entry.lastError = undefined;
      entry.attempt = 0;
      this.#bundle = fetched.bundle;
      const leaf = fetched.svid.leaf;
      // Half-life as ztunnel, but never sooner than half of what is left: CAs backdate notBefore (clock skew), which
      // for short lifetimes would put the half-life in the past and renew in a loop.
      const now = this.#clock.now();
      const renewAt = Math.max(leaf.notBefore + (leaf.notAfter - leaf.notBefore) / 2, now + (leaf.notAfter - now) / 2);
      this.#onEvent({ type: 'issued', identity: entry.identity, expiresAt: leaf.notAfter, renewAt, renewal });
      for (const w of entry.waiters.splice(0)) w.resolve(fetched.svid);
      this.#schedule(entry, Math.max(0, renewAt - this.#clock.now()));
    } catch (error) {
      if (controller.signal.aborted || this.#entries.get(entry.identity) !== entry) return;
      entry.lastError = error as Error;
      const base = Math.min(this.#maxMs, this.#initialMs * 2 ** entry.attempt);
      entry.attempt++;
      let retryInMs = Math.round(base * (0.8 + 0.4 * this.#rng.next()));
      const expiresAt = entry.current?.svid.expiresAt;
      // Never wait past the current certificate's expiry to try again.
      const left = expiresAt === undefined ? 0 : expiresAt - this.#clock.now();
      if (left > 0) retryInMs = Math.min(retryInMs, left);
      this.#onEvent({
        type: 'failed',
        identity: entry.identity,
        error: error as Error,
        retryInMs,
        keptUntil: expiresAt !== undefined && expiresAt > this.#clock.now() ? expiresAt : null,
      });
      this.#schedule(entry, retryInMs);
    } finally {
      if (entry.inflight === controller) entry.inflight = undefined;
    }
  }

  #schedule(entry: Entry, ms: number): void {
    if (this.#closed) return;
    // Timers cannot hold more than ~24.8 days; a later renewal re-arms.
    entry.timer = this.#timers.setTimeout(() => void this.#refresh(entry), Math.min(ms, 2 ** 31 - 1));
  }

  close(): void {
    this.#closed = true;
    for (const entry of this.#entries.values())
      this.#stop(entry, new ZtunnelError('ERR_ZTUNNEL_IDENTITY', 'ztunnel is shutting down'));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }
}
