// An in-memory store: objects applied by the program (tests, embedders, the simulator).
import { assertNoErrors, loadText } from '../load.js';
import { objectKey, type ConfigObject } from '../resources.js';
import { validateObject, type ConfigIssue, type ValidateOptions } from '../validate.js';
import { SourcedStore, type ConfigEvent } from './store.js';

export interface MemoryStoreOptions extends ValidateOptions {
  /** Initial content: parsed objects or YAML/JSON text. */
  initial?: readonly unknown[] | string;
}

export class MemoryStore extends SourcedStore {
  readonly #options: ValidateOptions;
  #objects = new Map<string, ConfigObject>();

  constructor(options: MemoryStoreOptions = {}) {
    super();
    this.#options = options.defaultNamespace !== undefined ? { defaultNamespace: options.defaultNamespace } : {};
    if (options.initial !== undefined) this.apply(options.initial);
  }

  /**
   * Validates and adds or replaces objects, in one batch. Throws ERR_CONFIG_INVALID (and applies nothing) when any
   * has an error; returns the warnings.
   */
  apply(input: readonly unknown[] | string): { events: ConfigEvent[]; issues: ConfigIssue[] } {
    this.assertOpen();
    const issues: ConfigIssue[] = [];
    const objects: ConfigObject[] = [];
    if (typeof input === 'string') {
      const r = loadText(input, this.#options);
      issues.push(...r.issues);
      objects.push(...r.objects);
    } else {
      input.forEach((o, document) => {
        const r = validateObject(o, { document }, this.#options);
        issues.push(...r.issues);
        if (r.object) objects.push(r.object);
      });
    }
    assertNoErrors(issues);
    const next = new Map(this.#objects);
    for (const o of objects) next.set(o.key, o);
    return { events: this.#commit(next), issues };
  }

  /** Removes objects by key (`Kind/namespace/name`) or by kind, namespace and name. */
  delete(...refs: (string | { kind: string; namespace?: string; name: string })[]): ConfigEvent[] {
    this.assertOpen();
    const next = new Map(this.#objects);
    for (const ref of refs)
      next.delete(typeof ref === 'string' ? ref : objectKey(ref.kind, ref.namespace ?? 'default', ref.name));
    return this.#commit(next);
  }

  #commit(next: Map<string, ConfigObject>): ConfigEvent[] {
    this.#objects = next;
    return this.replaceSources(new Map([['memory', { objects: [...next.values()], issues: [] }]]));
  }
}
