// The server's resources: per type, each resource encoded once, versioned by content, indexed by name and alias.
import { createHash } from 'node:crypto';
import type { DeepPartial } from '@mesh/api';
import { XdsError } from '../errors.js';
import { isWildcardTypeUrl, type ResourceType } from '../resource-type.js';
import { encodeAny, encodeResource } from '../wire.js';

/** One resource handed to the server. Name and aliases default to the type's `nameOf`/`aliasesOf`. */
export interface ResourceInput<T> {
  resource: T | DeepPartial<T>;
  name?: string;
  /** Delta xDS aliases (Istio: `<network>/<ip>` for workloads and service VIPs). */
  aliases?: readonly string[];
  /** Default: a hash of the encoded resource and its aliases, so equal content keeps its version across restarts. */
  version?: string;
  /** Delta xDS `Resource.ttl`: the client drops the resource if it is not refreshed within this time. */
  ttlMs?: number;
}

/** A resource as the server holds it (what the filter hook and diagnostics see). */
export interface StoredResource {
  readonly typeUrl: string;
  readonly name: string;
  readonly aliases: readonly string[];
  readonly version: string;
  /** The message as it was given. */
  readonly resource: unknown;
  /** Its encoding (the `Any.value`). */
  readonly body: Uint8Array;
  readonly ttlMs: number | undefined;
}

let entryIds = 0;

export class Entry implements StoredResource {
  /** Unique per (immutable) entry: identical id lists mean identical frames. */
  readonly id = ++entryIds;
  #delta: Uint8Array | undefined;
  #any: Uint8Array | undefined;

  constructor(
    readonly typeUrl: string,
    readonly name: string,
    readonly aliases: readonly string[],
    readonly version: string,
    readonly resource: unknown,
    readonly body: Uint8Array,
    readonly ttlMs: number | undefined,
  ) {}

  /** The encoded delta `Resource` (computed once, shared by every subscriber). */
  deltaBytes(): Uint8Array {
    return (this.#delta ??= encodeResource(this));
  }

  /** The encoded `Any` for state-of-the-world responses. */
  anyBytes(): Uint8Array {
    return (this.#any ??= encodeAny(this.typeUrl, this.body));
  }
}

export class TypeState {
  readonly byName = new Map<string, Entry>();
  readonly #byAlias = new Map<string, Set<string>>();
  /** Bumped by every change of this type. */
  revision = 0;

  constructor(
    readonly typeUrl: string,
    public type: ResourceType<unknown> | undefined,
  ) {}

  get wildcard(): boolean {
    return this.type?.wildcard ?? isWildcardTypeUrl(this.typeUrl);
  }

  /** Resources named `key`, or carrying `key` as an alias. */
  resolve(key: string): Entry[] {
    const named = this.byName.get(key);
    const aliased = this.#byAlias.get(key);
    if (!aliased) return named ? [named] : [];
    const out = named ? [named] : [];
    for (const name of aliased) {
      const entry = this.byName.get(name);
      if (entry && entry !== named) out.push(entry);
    }
    return out;
  }

  put(entry: Entry): void {
    const old = this.byName.get(entry.name);
    if (old) this.#unindex(old);
    this.byName.set(entry.name, entry);
    for (const alias of entry.aliases) {
      let names = this.#byAlias.get(alias);
      if (!names) this.#byAlias.set(alias, (names = new Set()));
      names.add(entry.name);
    }
  }

  delete(name: string): boolean {
    const old = this.byName.get(name);
    if (!old) return false;
    this.#unindex(old);
    this.byName.delete(name);
    return true;
  }

  #unindex(entry: Entry): void {
    for (const alias of entry.aliases) {
      const names = this.#byAlias.get(alias);
      names?.delete(entry.name);
      if (names?.size === 0) this.#byAlias.delete(alias);
    }
  }
}

function contentVersion(body: Uint8Array, aliases: readonly string[], ttlMs: number | undefined): string {
  const hash = createHash('sha256').update(body);
  if (aliases.length) hash.update(`\0${aliases.join('\0')}`);
  if (ttlMs) hash.update(`\0ttl=${ttlMs}`);
  return hash.digest('base64url').slice(0, 16);
}

export interface StoreUpdate<T> {
  /** Resources to add or replace. */
  set?: Iterable<ResourceInput<T>>;
  /** Names to delete (unknown names are ignored). */
  remove?: Iterable<string>;
}

export class ResourceStore {
  readonly types = new Map<string, TypeState>();

  type(typeUrl: string): TypeState | undefined {
    return this.types.get(typeUrl);
  }

  #ensure(type: ResourceType<unknown>): TypeState {
    let state = this.types.get(type.typeUrl);
    if (!state) this.types.set(type.typeUrl, (state = new TypeState(type.typeUrl, type)));
    else state.type ??= type;
    return state;
  }

  /**
   * Applies an update atomically: every input is encoded and validated first, then all of them land together.
   * @returns the names whose version changed or that were removed.
   * @throws XdsError ERR_XDS_INVALID_RESOURCE / ERR_XDS_DUPLICATE_NAME, leaving the store untouched.
   */
  apply<T>(type: ResourceType<T>, update: StoreUpdate<T>, replace: boolean): Set<string> {
    const entries = new Map<string, Entry>();
    for (const input of update.set ?? []) {
      const entry = this.#entry(type, input);
      if (entries.has(entry.name)) {
        throw new XdsError('ERR_XDS_DUPLICATE_NAME', `${type.typeUrl}: the update names "${entry.name}" twice`, {
          details: { typeUrl: type.typeUrl, name: entry.name },
        });
      }
      entries.set(entry.name, entry);
    }
    const state = this.#ensure(type as ResourceType<unknown>);
    const changed = new Set<string>();
    const removals = replace ? [...state.byName.keys()].filter((n) => !entries.has(n)) : [...(update.remove ?? [])];
    for (const name of removals) if (!entries.has(name) && state.delete(name)) changed.add(name);
    for (const entry of entries.values()) {
      if (state.byName.get(entry.name)?.version === entry.version) continue;
      state.put(entry);
      changed.add(entry.name);
    }
    if (changed.size) state.revision++;
    return changed;
  }

  #entry<T>(type: ResourceType<T>, input: ResourceInput<T>): Entry {
    if (!input || typeof input !== 'object' || !('resource' in input)) {
      throw new XdsError('ERR_XDS_INVALID_RESOURCE', `${type.typeUrl}: each item must be { resource, name?, … }`, {
        details: { typeUrl: type.typeUrl },
      });
    }
    const body = type.encode(input.resource as DeepPartial<T>);
    // Validate and name the message as a client will see it: decoded from the bytes that go on the wire.
    const decoded = type.decode(body);
    const name = input.name ?? type.nameOf(decoded);
    if (!name) {
      throw new XdsError('ERR_XDS_INVALID_RESOURCE', `${type.typeUrl}: a resource has no name`, {
        details: { typeUrl: type.typeUrl },
      });
    }
    const problem = type.validate(decoded, name);
    if (problem) {
      throw new XdsError('ERR_XDS_INVALID_RESOURCE', `${type.typeUrl} "${name}": ${problem}`, {
        details: { typeUrl: type.typeUrl, name },
      });
    }
    const aliases = Object.freeze([...(input.aliases ?? type.aliasesOf(decoded))]);
    const ttlMs = input.ttlMs && input.ttlMs > 0 ? input.ttlMs : undefined;
    const version = input.version ?? contentVersion(body, aliases, ttlMs);
    return new Entry(type.typeUrl, name, aliases, version, input.resource, body, ttlMs);
  }
}
