// The built program, spawned as users run it (`test:build` runs after `build`).
import { defineProject } from 'vitest/config';

export default defineProject({ test: { include: ['build-test/**/*.test.ts'], testTimeout: 60_000 } });
