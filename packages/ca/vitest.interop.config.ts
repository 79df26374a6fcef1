// Interop suites: real peers (OpenSSL) judge what the CA issues. `nx run @mesh/ca:test:interop`.
import type { UserWorkspaceConfig } from 'vitest/config';
import { meshProject } from '../../tools/vitest.shared.ts';

const project = meshProject(import.meta.url, { testTimeout: 60_000 });
const config: UserWorkspaceConfig = { ...project, test: { ...project.test, include: ['interop/**/*.test.ts'] } };
export default config;
