// End-to-end suites: the built ztunnel, istiod and meshctl as real processes on loopback (nx builds them first).
import type { UserWorkspaceConfig } from 'vitest/config';
import { meshProject } from '../../tools/vitest.shared.ts';

const project = meshProject(import.meta.url, { testTimeout: 120_000 });

const config: UserWorkspaceConfig = {
  ...project,
  test: { ...project.test, include: ['e2e/**/*.test.ts'] },
};

export default config;
