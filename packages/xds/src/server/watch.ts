// Per-connection, per-type subscription state and the diff that decides what a push carries.
import { createHash } from 'node:crypto';
import type { Entry, TypeState } from './store.js';

/** One response the server sent. */
export interface SentResponse {
  nonce: string;
  /** SotW: the version_info of the set; delta: the type's revision (system_version_info). */
  version: string;
  /** Epoch milliseconds. */
  at: number;
  /** Resources carried. */
  resources: number;
  /** Names in removed_resources (delta). */
  removed: number;
}

export interface AckRecord {
  nonce: string;
  /** SotW: the version the client says it now runs. */
  version: string;
  at: number;
}

export interface NackRecord extends AckRecord {
  /** google.rpc.Code the client put in error_detail. */
  code: number;
  message: string;
}

/**
 * Where a type stands on one connection, as `/debug/syncz` shows it:
 * - `NOT_SENT`: subscribed, nothing sent yet;
 * - `STALE`: the latest response is not acknowledged yet;
 * - `SYNCED`: the latest response was ACKed;
 * - `NACK`: the latest response was rejected.
 */
export type SyncState = 'NOT_SENT' | 'STALE' | 'SYNCED' | 'NACK';

export interface TypeSyncStatus {
  typeUrl: string;
  status: SyncState;
  wildcard: boolean;
  /** Explicit names (and alias keys) the client subscribed to. */
  subscribed: string[];
  /** Delta: how many resources the client holds; SotW: how many the last response carried. */
  resources: number;
  lastSent: SentResponse | null;
  lastAck: AckRecord | null;
  lastNack: NackRecord | null;
}

export type Visible = (entry: Entry) => boolean;

const RECENT_NONCES = 32;

export abstract class Watch {
  wildcard = false;
  names = new Set<string>();
  lastSent: SentResponse | null = null;
  lastAck: AckRecord | null = null;
  lastNack: NackRecord | null = null;
  /** Recently sent nonces (ACKs may trail several responses behind). */
  readonly #recent = new Map<string, SentResponse>();

  constructor(readonly typeUrl: string) {}

  covers(entry: Entry): boolean {
    if (this.wildcard || this.names.has(entry.name)) return true;
    if (this.names.size === 0) return false;
    for (const alias of entry.aliases) if (this.names.has(alias)) return true;
    return false;
  }

  /** Whether a push has something to look at. */
  abstract get pending(): boolean;

  /** The store changed these names. */
  abstract changed(names: Iterable<string>, state: TypeState | undefined): void;

  /** Re-evaluate everything (the filter's inputs changed). */
  abstract refilter(): void;

  /** Whether this stream already carried `nonce` (a shared frame must not reach a stream twice). */
  hasSent(nonce: string): boolean {
    return this.#recent.has(nonce);
  }

  sent(response: SentResponse): void {
    this.lastSent = response;
    this.#recent.set(response.nonce, response);
    if (this.#recent.size > RECENT_NONCES) this.#recent.delete(this.#recent.keys().next().value!);
  }

  /** Records an ACK or NACK; returns false when the nonce is not one this stream sent recently. */
  reply(nonce: string, version: string, at: number, error: { code: number; message: string } | null): boolean {
    const known = this.#recent.has(nonce);
    if (error) this.lastNack = { nonce, version, at, code: error.code, message: error.message };
    else if (known) this.lastAck = { nonce, version, at };
    return known;
  }

  get status(): SyncState {
    if (!this.lastSent) return 'NOT_SENT';
    if (this.lastNack?.nonce === this.lastSent.nonce) return 'NACK';
    if (this.lastAck?.nonce === this.lastSent.nonce) return 'SYNCED';
    return 'STALE';
  }

  abstract get resourceCount(): number;

  snapshot(): TypeSyncStatus {
    return {
      typeUrl: this.typeUrl,
      status: this.status,
      wildcard: this.wildcard,
      subscribed: [...this.names],
      resources: this.resourceCount,
      lastSent: this.lastSent && { ...this.lastSent },
      lastAck: this.lastAck && { ...this.lastAck },
      lastNack: this.lastNack && { ...this.lastNack },
    };
  }
}

export interface DeltaPush {
  entries: Entry[];
  removed: string[];
}

/** Delta: the server tracks what the client holds and sends only differences. */
export class DeltaWatch extends Watch {
  /** name → version the client holds (from initial_resource_versions, then from what we sent). */
  readonly held = new Map<string, string>();
  readonly #dirty = new Set<string>();
  /** Subscribed keys to answer: true = send even when the client holds the same version. */
  readonly #force = new Map<string, boolean>();
  #full = false;
  /** The first request of a type is always answered, even with nothing (clients gate readiness on it). */
  #mustRespond = false;

  get pending(): boolean {
    return this.#full || this.#mustRespond || this.#dirty.size > 0 || this.#force.size > 0;
  }

  get resourceCount(): number {
    return this.held.size;
  }

  changed(names: Iterable<string>): void {
    if (this.#full) return;
    for (const name of names) this.#dirty.add(name);
  }

  refilter(): void {
    this.#full = true;
  }

  /** Applies one request's subscription changes (honoured whatever its nonce, as the protocol requires). */
  subscribe(
    request: { subscribe: readonly string[]; unsubscribe: readonly string[]; initial: Record<string, string> },
    first: boolean,
    wildcardType: boolean,
    state: TypeState | undefined,
  ): void {
    if (first) {
      this.#mustRespond = true;
      for (const [name, version] of Object.entries(request.initial)) this.held.set(name, version);
      if (this.held.size) this.#full = true; // find what the client holds that is gone or changed
      // Legacy wildcard: a first request that names nothing means "everything", for wildcard types.
      if (request.subscribe.length === 0 && wildcardType) {
        this.wildcard = true;
        this.#full = true;
      }
    }
    for (const name of request.subscribe) {
      if (name === '*') {
        if (!this.wildcard) this.#full = true;
        this.wildcard = true;
      } else {
        this.names.add(name);
        // Re-send every named subscription, except on a reconnect, where initial_resource_versions says what the
        // client already holds.
        this.#force.set(name, !first || (this.#force.get(name) ?? false));
      }
    }
    for (const name of request.unsubscribe) {
      if (name === '*') {
        if (!this.wildcard) continue;
        this.wildcard = false;
        // The client drops what it no longer subscribes to; forget it without a removal.
        for (const held of [...this.held.keys()]) {
          const entry = state?.byName.get(held);
          if (!entry || !this.covers(entry)) this.held.delete(held);
        }
      } else if (this.names.delete(name)) {
        this.#force.delete(name);
        if (this.wildcard) {
          // Subscribed to * and X, unsubscribed X: the client must get X back (resource or removal).
          this.#force.set(name, true);
        } else {
          if (!state?.byName.has(name)) this.held.delete(name);
          for (const entry of state?.resolve(name) ?? []) if (!this.covers(entry)) this.held.delete(entry.name);
        }
      }
    }
  }

  /** What the next response carries, updating `held` as if it was delivered; undefined when nothing changed. */
  build(state: TypeState | undefined, visible: Visible): DeltaPush | undefined {
    const out = new Map<string, Entry>();
    const removed = new Set<string>();
    const consider = (name: string) => {
      const entry = state?.byName.get(name);
      if (entry && this.covers(entry) && visible(entry)) {
        if (this.held.get(name) !== entry.version) out.set(name, entry);
      } else if (this.held.has(name)) {
        removed.add(name);
      }
    };
    if (this.#full) {
      if (state) {
        if (this.wildcard) for (const name of state.byName.keys()) consider(name);
        else for (const key of this.names) for (const entry of state.resolve(key)) consider(entry.name);
      }
      for (const name of [...this.held.keys()]) consider(name);
    } else {
      for (const name of this.#dirty) consider(name);
    }
    for (const [key, always] of this.#force) {
      let found = false;
      for (const entry of state?.resolve(key) ?? []) {
        if (!this.covers(entry) || !visible(entry)) continue;
        found = true;
        if (always || this.held.get(entry.name) !== entry.version) out.set(entry.name, entry);
      }
      // A subscribed name that resolves to nothing is answered in removed_resources ("does not exist").
      if (!found) removed.add(key);
    }
    const mustRespond = this.#mustRespond;
    this.#full = false;
    this.#mustRespond = false;
    this.#dirty.clear();
    this.#force.clear();
    for (const name of out.keys()) removed.delete(name);
    for (const [name, entry] of out) this.held.set(name, entry.version);
    for (const name of removed) this.held.delete(name);
    if (out.size === 0 && removed.size === 0 && !mustRespond) return undefined;
    return { entries: [...out.values()], removed: [...removed] };
  }
}

export interface SotwPush {
  entries: Entry[];
  version: string;
}

/** State of the world: every response carries the whole subscribed set. */
export class SotwWatch extends Watch {
  /** The client named resources at least once (after that, an empty list means none, not wildcard). */
  explicitEver = false;
  /** The nonce of the latest response: requests carrying another one are stale and ignored. */
  lastNonce = '';
  /** name → version of what the last response carried. */
  #sentSet = new Map<string, string>();
  #dirty = false;
  #mustRespond = false;

  get pending(): boolean {
    return this.#dirty || this.#mustRespond;
  }

  get resourceCount(): number {
    return this.#sentSet.size;
  }

  changed(names: Iterable<string>, state: TypeState | undefined): void {
    if (this.#dirty) return;
    for (const name of names) {
      const entry = state?.byName.get(name);
      if (this.#sentSet.has(name) || (entry && this.covers(entry))) {
        this.#dirty = true;
        return;
      }
    }
  }

  refilter(): void {
    this.#dirty = true;
  }

  /**
   * Takes the names of a request (ACK or a new subscription; NACKs never get here).
   * @param respond whether the request must be answered even if nothing changed
   */
  subscribe(names: readonly string[], wildcardType: boolean, respond: boolean): void {
    let wildcard: boolean;
    const set = new Set<string>();
    if (names.length === 0) {
      wildcard = wildcardType && !this.explicitEver;
    } else {
      this.explicitEver = true;
      wildcard = false;
      for (const name of names) {
        if (name === '*') wildcard = true;
        else set.add(name);
      }
    }
    let added = wildcard && !this.wildcard;
    for (const name of set) if (!this.names.has(name)) added = true;
    this.wildcard = wildcard;
    this.names = set;
    if (respond || added) this.#mustRespond = true;
  }

  build(state: TypeState | undefined, visible: Visible): SotwPush | undefined {
    const out = new Map<string, Entry>();
    if (state) {
      if (this.wildcard) {
        for (const entry of state.byName.values()) if (visible(entry)) out.set(entry.name, entry);
      }
      for (const key of this.names) {
        for (const entry of state.resolve(key)) if (!out.has(entry.name) && visible(entry)) out.set(entry.name, entry);
      }
    }
    const mustRespond = this.#mustRespond;
    this.#dirty = false;
    this.#mustRespond = false;
    if (!mustRespond && sameSet(out, this.#sentSet)) return undefined;
    this.#sentSet = new Map([...out.values()].map((e) => [e.name, e.version]));
    return { entries: [...out.values()], version: setVersion(this.#sentSet) };
  }
}

function sameSet(next: Map<string, Entry>, sent: Map<string, string>): boolean {
  if (next.size !== sent.size) return false;
  for (const [name, entry] of next) if (sent.get(name) !== entry.version) return false;
  return true;
}

/** A content hash of the set, so the same set gets the same version_info (even from another server replica). */
function setVersion(set: Map<string, string>): string {
  const hash = createHash('sha256');
  for (const name of [...set.keys()].sort()) hash.update(`${name}\0${set.get(name)}\0`);
  return hash.digest('base64url').slice(0, 16);
}
