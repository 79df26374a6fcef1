// `nx run @mesh/app-meshctl:test:interop`: the built meshctl binary as real processes (nx builds it first).
import type { UserWorkspaceConfig } from 'vitest/config';
import { meshProject } from '../../tools/vitest.shared.ts';

const project = meshProject(import.meta.url, { testTimeout: 60_000 });

const config: UserWorkspaceConfig = {
  ...project,
  test: { ...project.test, include: ['interop/**/*.test.ts'] },
};

export default config;
