// End-to-end suites: run the built meshctl (bin/meshctl.mjs → dist/) as a real process. nx builds first (test:e2e
// depends on build).
import { defineProject } from 'vitest/config';

export default defineProject({
  test: { include: ['e2e/**/*.test.ts'], environment: 'node', pool: 'forks', testTimeout: 60_000, hookTimeout: 60_000 },
});
