import { meshProject } from './vitest.shared.ts';

export default meshProject(import.meta.url, { include: ['**/*.test.ts'], testTimeout: 120_000 });
