// End-to-end suites: the built istiod (bin/istiod.mjs → dist/) as a real process on loopback, with real xDS, CA and
// grpc-js-xds clients. nx builds first (test:e2e depends on build). The proxyless interop runs in its own worker:
// @grpc/grpc-js-xds registers its xds: resolver globally.
import type { UserWorkspaceConfig } from 'vitest/config';
import { meshProject } from '../../tools/vitest.shared.ts';

const project = meshProject(import.meta.url, { testTimeout: 60_000 });

const config: UserWorkspaceConfig = {
  ...project,
  test: { ...project.test, include: ['e2e/**/*.test.ts'] },
};

export default config;
