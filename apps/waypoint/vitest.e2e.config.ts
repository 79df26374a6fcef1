// End-to-end suites: the built waypoint (bin/waypoint.mjs → dist/) as a real process on loopback, driven by a real
// HBONE client, with backends behind real HBONE servers; istiod (built) as the config source in one suite.
import type { UserWorkspaceConfig } from 'vitest/config';
import { meshProject } from '../../tools/vitest.shared.ts';

const project = meshProject(import.meta.url, { testTimeout: 60_000 });

const config: UserWorkspaceConfig = {
  ...project,
  test: { ...project.test, include: ['e2e/**/*.test.ts'] },
};

export default config;
