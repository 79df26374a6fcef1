// What a client makes of one response: the resources it accepts, the removals, and the reasons for a NACK.
// Partial acceptance (as gRPC's A46 and ztunnel do): valid resources apply, rejected ones keep their last good copy.
import { durationToMillis } from '@mesh/api';
import { Resource, type DeltaDiscoveryResponse, type DiscoveryResponse } from '@mesh/api/envoy.service.discovery.v3';
import type { Any } from '@mesh/api/google.protobuf';
import { XdsError } from '../errors.js';
import type { ResourceType } from '../resource-type.js';
import type { ResourceState, XdsResource } from './state.js';

export interface Processed<T> {
  updated: XdsResource<T>[];
  /** Held names the response removes. */
  removed: string[];
  /** Names the server says do not exist (delta removals of names not held; answers to lookups). */
  notFound: string[];
  /** Held names refreshed without change (heartbeats, identical copies): their TTL restarts. */
  refreshed: string[];
  errors: XdsError[];
}

export interface Interest {
  wildcard: boolean;
  names: ReadonlySet<string>;
}

const RESOURCE_WRAPPER = Resource.typeUrl;

function covered(interest: Interest, name: string, aliases: readonly string[]): boolean {
  if (interest.wildcard || interest.names.has(name)) return true;
  for (const alias of aliases) if (interest.names.has(alias)) return true;
  return false;
}

function decodeBody<T>(
  type: ResourceType<T>,
  any: Any,
  where: string,
): { ok: true; value: T } | { ok: false; error: XdsError } {
  if (any.typeUrl !== type.typeUrl) {
    return {
      ok: false,
      error: new XdsError(
        'ERR_XDS_TYPE_MISMATCH',
        `${where} is ${any.typeUrl || 'an Any without type URL'}, not ${type.typeUrl}`,
        { details: { expected: type.typeUrl, actual: any.typeUrl } },
      ),
    };
  }
  try {
    return { ok: true, value: type.decode(any.value) };
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return {
      ok: false,
      error: new XdsError('ERR_XDS_DECODE', `${where} cannot be decoded: ${reason}`, { cause: error }),
    };
  }
}

function validate<T>(type: ResourceType<T>, resource: T, name: string, where: string): XdsError | undefined {
  let problem: string | undefined;
  try {
    problem = type.validate(resource, name);
  } catch (error) {
    problem = error instanceof Error ? error.message : String(error);
  }
  if (!problem) return undefined;
  return new XdsError('ERR_XDS_INVALID_RESOURCE', `${where} is invalid: ${problem}`, { details: { name } });
}

/** Names seen in one response: the first index of each, and every index of the names seen more than once. */
class Seen {
  readonly first = new Map<string, number>();
  readonly repeated = new Map<string, number[]>();

  /** Records `name` at `index`; false when it was seen before. */
  add(name: string, index: number): boolean {
    const first = this.first.get(name);
    if (first === undefined) {
      this.first.set(name, index);
      return true;
    }
    const all = this.repeated.get(name);
    if (all) all.push(index);
    else this.repeated.set(name, [first, index]);
    return false;
  }

  has(name: string): boolean {
    return this.first.has(name);
  }

  duplicated(name: string): boolean {
    return this.repeated.has(name);
  }
}

function duplicates(seen: Seen): XdsError[] {
  const errors: XdsError[] = [];
  for (const [name, indices] of seen.repeated) {
    errors.push(
      new XdsError(
        'ERR_XDS_DUPLICATE_NAME',
        `resource "${name}" appears ${indices.length} times (indices ${indices.join(', ')}), so every copy is rejected`,
        { details: { name, indices } },
      ),
    );
  }
  return errors;
}

const sameAliases = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && a.every((alias, i) => alias === b[i]);

/** Processes a DeltaDiscoveryResponse against what the subscription holds. */
export function processDelta<T>(
  type: ResourceType<T>,
  state: ResourceState<T>,
  response: DeltaDiscoveryResponse,
  now: number,
): Processed<T> {
  const out: Processed<T> = { updated: [], removed: [], notFound: [], refreshed: [], errors: [] };
  const seen = new Seen();
  const accepted = new Map<string, XdsResource<T>>();
  response.resources.forEach((r, index) => {
    const name = r.name || r.resourceName?.name || '';
    if (!name) {
      out.errors.push(new XdsError('ERR_XDS_INVALID_RESOURCE', `resource index ${index} has no name`));
      return;
    }
    if (!seen.add(name, index)) {
      accepted.delete(name);
      return;
    }
    const where = `resource "${name}" (index ${index})`;
    const held = state.byName.get(name);
    if (!r.resource) {
      // A heartbeat: the same version without a body refreshes the TTL.
      if (held && held.version === r.version) out.refreshed.push(name);
      else out.errors.push(new XdsError('ERR_XDS_INVALID_RESOURCE', `${where} has no body and is not a heartbeat`));
      return;
    }
    const decoded = decodeBody(type, r.resource, where);
    if (!decoded.ok) {
      out.errors.push(decoded.error);
      return;
    }
    const invalid = validate(type, decoded.value, name, where);
    if (invalid) {
      out.errors.push(invalid);
      return;
    }
    const ttlMs = r.ttl ? durationToMillis(r.ttl) : undefined;
    const aliases = r.aliases; // a fresh array of the decoded response
    if (held && r.version && held.version === r.version && sameAliases(held.aliases, aliases) && held.ttlMs === ttlMs) {
      out.refreshed.push(name);
      return;
    }
    const entry: { -readonly [K in keyof XdsResource<T>]: XdsResource<T>[K] } = {
      name,
      version: r.version,
      aliases,
      resource: decoded.value,
      updatedAt: now,
    };
    if (ttlMs) entry.ttlMs = ttlMs;
    accepted.set(name, entry);
  });
  out.errors.push(...duplicates(seen));
  if (seen.repeated.size) out.refreshed = out.refreshed.filter((name) => !seen.duplicated(name));
  out.updated = [...accepted.values()];
  const removed = new Set([...response.removedResources, ...response.removedResourceNames.map((n) => n.name)]);
  for (const name of removed) {
    if (!name) continue;
    if (seen.has(name)) {
      out.errors.push(
        new XdsError('ERR_XDS_PROTOCOL', `resource "${name}" is both updated and removed; the removal is ignored`),
      );
    } else if (state.byName.has(name)) {
      out.removed.push(name);
    } else {
      out.notFound.push(name);
    }
  }
  return out;
}

/**
 * Processes a DiscoveryResponse. `bodies` holds the bytes of each held resource, so that identical copies (every
 * SotW response repeats the whole set) are not reported as changes.
 */
export function processSotw<T>(
  type: ResourceType<T>,
  state: ResourceState<T>,
  bodies: Map<string, Uint8Array>,
  response: DiscoveryResponse,
  interest: Interest,
  now: number,
): Processed<T> & { bodies: Map<string, Uint8Array> } {
  const out: Processed<T> = { updated: [], removed: [], notFound: [], refreshed: [], errors: [] };
  const seen = new Seen();
  const accepted = new Map<string, { entry: XdsResource<T>; body: Uint8Array }>();
  const present = new Set<string>(); // named in the response, accepted or not
  let unnamed = false; // a rejected resource whose name could not be read: it may be one the client holds
  response.resources.forEach((wrapped, index) => {
    let any: Any | null | undefined = wrapped;
    let name = '';
    let aliases: string[] = [];
    let ttlMs: number | undefined;
    let where = `resource index ${index}`;
    if (wrapped.typeUrl === RESOURCE_WRAPPER) {
      // Resources may come wrapped in envoy.service.discovery.v3.Resource (to carry a TTL).
      try {
        const r = Resource.decode(wrapped.value);
        name = r.name;
        aliases = [...r.aliases];
        ttlMs = r.ttl ? durationToMillis(r.ttl) : undefined;
        any = r.resource;
      } catch (error) {
        unnamed = true;
        out.errors.push(new XdsError('ERR_XDS_DECODE', `${where}: bad Resource wrapper`, { cause: error }));
        return;
      }
      if (!any) {
        if (name && state.byName.has(name)) {
          out.refreshed.push(name);
          present.add(name);
        } else out.errors.push(new XdsError('ERR_XDS_INVALID_RESOURCE', `${where} is an empty Resource wrapper`));
        return;
      }
    }
    const decoded = decodeBody(type, any, where);
    if (!decoded.ok) {
      if (name) present.add(name);
      else unnamed = true;
      out.errors.push(decoded.error);
      return;
    }
    if (!name) {
      try {
        name = type.nameOf(decoded.value);
      } catch (error) {
        unnamed = true;
        out.errors.push(error instanceof XdsError ? error : new XdsError('ERR_XDS_INVALID_RESOURCE', String(error)));
        return;
      }
    }
    if (!name) {
      unnamed = true;
      out.errors.push(new XdsError('ERR_XDS_INVALID_RESOURCE', `${where} has no name`));
      return;
    }
    present.add(name);
    if (!seen.add(name, index)) {
      accepted.delete(name);
      return;
    }
    where = `resource "${name}" (index ${index})`;
    const invalid = validate(type, decoded.value, name, where);
    if (invalid) {
      out.errors.push(invalid);
      return;
    }
    if (aliases.length === 0) aliases = type.aliasesOf(decoded.value);
    // The client ignores resources it did not ask for.
    if (!covered(interest, name, aliases)) return;
    const body = any.value;
    const held = state.byName.get(name);
    const heldBody = bodies.get(name);
    if (held && heldBody && Buffer.compare(heldBody, body) === 0 && held.ttlMs === ttlMs) {
      out.refreshed.push(name);
      return;
    }
    accepted.set(name, {
      entry: {
        name,
        version: response.versionInfo,
        aliases,
        resource: decoded.value,
        updatedAt: now,
        ...(ttlMs ? { ttlMs } : {}),
      },
      body: body.slice(), // a copy: keep no reference to the whole response buffer
    });
  });
  out.errors.push(...duplicates(seen));
  if (seen.repeated.size) out.refreshed = out.refreshed.filter((name) => !seen.duplicated(name));
  out.updated = [...accepted.values()].map((a) => a.entry);
  if (type.sotwFullState && !unnamed) {
    // Listener/Cluster semantics: what the response does not name is gone. A resource named but rejected is kept,
    // and when a rejected resource cannot even be named, nothing is deleted (it could be any of the held ones).
    for (const name of state.byName.keys()) if (!present.has(name)) out.removed.push(name);
  }
  const nextBodies = new Map(bodies);
  for (const name of out.removed) nextBodies.delete(name);
  for (const { entry, body } of accepted.values()) nextBodies.set(entry.name, body);
  return { ...out, bodies: nextBodies };
}
