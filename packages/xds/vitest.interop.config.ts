// The interop suite (`nx run @mesh/xds:test:interop`): real independent xDS peers, in their own process because
// @grpc/grpc-js-xds registers its xds: resolver globally.
import type { UserWorkspaceConfig } from 'vitest/config';
import { meshProject } from '../../tools/vitest.shared.ts';

const project = meshProject(import.meta.url, { testTimeout: 60_000 });

const config: UserWorkspaceConfig = {
  ...project,
  // vitest hands ssr.resolve.conditions to worker processes as `node --conditions`. The shared list has `import` and
  // `module`, which make Node's own require() pick ESM builds: grpc-js-xds's require('xxhash-wasm') then gets a
  // namespace object instead of the function. Keep only what our sources need.
  ssr: { ...project.ssr, resolve: { ...project.ssr?.resolve, conditions: ['@mesh/source', 'node'] } },
  test: { ...project.test, include: ['interop/**/*.test.ts'] },
};

export default config;
