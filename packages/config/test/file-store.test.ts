// The file store against a real directory: initial load, watch + debounce, broken file keeps its last good content,
// deletes, renames, new subdirectories. Every wait is bounded; nothing asserts on timing.
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MeshError } from '@mesh/core';
import { openFileStore, type ConfigBatch, type FileStore } from '../src/index.js';

const ns = (name: string, extra = '') => `apiVersion: v1\nkind: Namespace\nmetadata: {name: ${name}${extra}}\n`;

let dir: string;
let store: FileStore | undefined;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mesh-config-'));
});
afterEach(async () => {
  await store?.dispose();
  store = undefined;
  rmSync(dir, { recursive: true, force: true });
});

/** The next batch that satisfies `until`, within a bounded time (generous: the machine is shared). */
async function next(
  it: AsyncIterator<ConfigBatch>,
  until: (b: ConfigBatch) => boolean,
  ms = 15_000,
): Promise<ConfigBatch> {
  const deadline = Date.now() + ms;
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error('no matching batch in time');
    let timer: ReturnType<typeof setTimeout> | undefined;
    const r = await Promise.race([
      it.next(),
      new Promise<never>(
        (_, reject) => (timer = setTimeout(() => reject(new Error('no matching batch in time')), left)),
      ),
    ]).finally(() => clearTimeout(timer));
    if (r.done) throw new Error('watch ended');
    if (until(r.value)) return r.value;
  }
}

const keys = (s: FileStore) => s.list().map((o) => o.key);

describe('file store', () => {
  it('loads a directory recursively and sees adds, edits, deletes and new subdirectories', async () => {
    writeFileSync(join(dir, 'a.yaml'), ns('a'));
    mkdirSync(join(dir, 'sub'));
    writeFileSync(
      join(dir, 'sub', 'b.json'),
      JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'b' } }),
    );
    writeFileSync(join(dir, 'notes.txt'), 'ignored');
    store = await openFileStore({ paths: [dir], debounceMs: 20 });
    expect(keys(store)).toEqual(['Namespace//a', 'Namespace//b']);
    const batches = store.watch();

    writeFileSync(join(dir, 'a.yaml'), ns('a', ', labels: {x: "1"}'));
    let b = await next(batches, (b) => b.events.some((e) => e.type === 'updated'));
    expect(b.events.map((e) => `${e.type} ${e.object.key}`)).toEqual(['updated Namespace//a']);

    rmSync(join(dir, 'sub', 'b.json'));
    b = await next(batches, (b) => b.events.some((e) => e.type === 'deleted'));
    expect(b.events.map((e) => `${e.type} ${e.object.key}`)).toEqual(['deleted Namespace//b']);

    mkdirSync(join(dir, 'sub', 'deeper'));
    writeFileSync(join(dir, 'sub', 'deeper', 'c.yaml'), ns('c'));
    b = await next(batches, (b) => b.events.some((e) => e.type === 'added'));
    expect(b.events.map((e) => `${e.type} ${e.object.key}`)).toEqual(['added Namespace//c']);
    expect(keys(store)).toEqual(['Namespace//a', 'Namespace//c']);
  });

  it('debounces: writes in quick succession arrive as one batch', async () => {
    store = await openFileStore({ paths: [dir], debounceMs: 1_000 });
    const batches = store.watch();
    // Two synchronous writes microseconds apart, well inside the 1 s quiet period.
    writeFileSync(join(dir, 'a.yaml'), ns('a'));
    writeFileSync(join(dir, 'b.yaml'), ns('b'));
    const b = await next(batches, (b) => b.events.length > 0);
    expect(b.events.map((e) => `${e.type} ${e.object.key}`)).toEqual(['added Namespace//a', 'added Namespace//b']);
  });

  it('a broken file keeps its last good content and reports the error until fixed', async () => {
    writeFileSync(join(dir, 'a.yaml'), ns('a') + '---\n' + ns('a2'));
    store = await openFileStore({ paths: [dir], debounceMs: 20 });
    const batches = store.watch();
    writeFileSync(join(dir, 'a.yaml'), ns('a') + '---\nkind: [broken\n');
    const broken = await next(batches, (b) => b.issues.some((i) => i.severity === 'error'));
    expect(broken.events).toEqual([]);
    expect(keys(store)).toEqual(['Namespace//a', 'Namespace//a2']);
    expect(store.issues.filter((i) => i.severity === 'error').map((i) => [i.file, i.document])).toEqual([
      [join(dir, 'a.yaml'), 1],
      [join(dir, 'a.yaml'), undefined],
    ]);
    writeFileSync(join(dir, 'a.yaml'), ns('a'));
    const fixed = await next(batches, (b) => b.events.length > 0);
    expect(fixed.events.map((e) => `${e.type} ${e.object.key}`)).toEqual(['deleted Namespace//a2']);
    expect(store.issues).toEqual([]);
  });

  it('a rename keeps the objects (no events); a second definition is a warning and the first file wins', async () => {
    writeFileSync(join(dir, 'a.yaml'), ns('a'));
    store = await openFileStore({ paths: [dir], debounceMs: 20 });
    const batches = store.watch();
    renameSync(join(dir, 'a.yaml'), join(dir, 'z.yaml'));
    await store.reload(); // deterministic: whatever the watcher saw, the store now reflects the directory
    expect(keys(store)).toEqual(['Namespace//a']);
    expect(store.list()[0]!.origin.file).toBe(join(dir, 'z.yaml'));
    writeFileSync(join(dir, 'b.yaml'), ns('a', ', labels: {dup: "1"}'));
    const dup = await next(batches, (b) => b.issues.some((i) => i.message.includes('also defined')));
    expect(dup.events.map((e) => e.type)).toEqual(['updated']); // b.yaml sorts first and wins
    expect(store.get('Namespace//a')!.origin.file).toBe(join(dir, 'b.yaml'));
  });

  it('reads single files, fails on missing paths, and refuses use after dispose', async () => {
    writeFileSync(join(dir, 'one.yaml'), ns('one'));
    store = await openFileStore({ paths: [join(dir, 'one.yaml')], watch: false });
    expect(keys(store)).toEqual(['Namespace//one']);
    await expect(openFileStore({ paths: [join(dir, 'missing')] })).rejects.toSatisfy((e) =>
      MeshError.is(e, 'ERR_CONFIG_READ_FAILED'),
    );
    await store.dispose();
    expect(() => store!.watch()).toThrow(/disposed/);
    store = undefined;
  });

  it('ends watchers on abort', async () => {
    store = await openFileStore({ paths: [dir], debounceMs: 20 });
    const controller = new AbortController();
    const it = store.watch({ signal: controller.signal });
    controller.abort();
    expect(await it.next()).toEqual({ value: undefined, done: true });
  });
});
