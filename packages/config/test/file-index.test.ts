// A file store driving the ambient index, as istiod wires them: edits on disk become Address changes, and a broken
// edit changes nothing while the store reports it.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { followStore, openFileStore, type FileStore, type IndexChanges } from '../src/index.js';

let dir: string | undefined;
let store: FileStore | undefined;
afterEach(async () => {
  await store?.dispose();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const pod = (ip: string) => `apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: shop, labels: {app: web}}
status: {podIP: ${ip}}
`;

/** Resolves with the first change that `until` accepts, within a bounded time. */
function waitFor(list: IndexChanges[], until: (c: IndexChanges) => boolean, ms = 15_000): Promise<IndexChanges> {
  const deadline = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const check = () => {
      const found = list.find(until);
      if (found) return resolve(found);
      if (Date.now() > deadline) return reject(new Error('no matching change in time'));
      setTimeout(check, 10);
    };
    check();
  });
}

it('file edits become index changes; a broken edit keeps the last good state', async () => {
  dir = mkdtempSync(join(tmpdir(), 'mesh-config-index-'));
  writeFileSync(
    join(dir, 'ns.yaml'),
    'apiVersion: v1\nkind: Namespace\nmetadata: {name: shop, labels: {istio.io/dataplane-mode: ambient}}\n',
  );
  writeFileSync(join(dir, 'pod.yaml'), pod('10.0.0.1'));
  store = await openFileStore({ paths: [dir], debounceMs: 20 });
  const changes: IndexChanges[] = [];
  const { index } = followStore(store, { onChange: (c) => changes.push(c) });
  expect(index.lookup('/10.0.0.1').map((r) => r.name)).toEqual(['Kubernetes//Pod/shop/web-1']);

  writeFileSync(join(dir, 'pod.yaml'), pod('10.0.0.2'));
  await waitFor(changes, (c) => c.addresses.updated.includes('Kubernetes//Pod/shop/web-1'));
  expect(index.lookup('/10.0.0.2').map((r) => r.name)).toEqual(['Kubernetes//Pod/shop/web-1']);

  writeFileSync(join(dir, 'pod.yaml'), pod('not-an-ip'));
  await expect.poll(() => store!.issues.some((i) => i.severity === 'error'), { timeout: 15_000 }).toBe(true);
  expect(index.lookup('/10.0.0.2').map((r) => r.name)).toEqual(['Kubernetes//Pod/shop/web-1']);
});
