// The interop suite (`nx run @mesh/xds:test:interop`): real independent xDS peers, in their own process because
// @grpc/grpc-js-xds registers its xds: resolver globally.
import type { UserWorkspaceConfig } from 'vitest/config';
import { meshProject } from '../../tools/vitest.shared.ts';

const project = meshProject(import.meta.url, { testTimeout: 60_000 });

const config: UserWorkspaceConfig = {
  ...project,
  test: { ...project.test, include: ['interop/**/*.test.ts'] },
};

export default config;
