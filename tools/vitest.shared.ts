// Shared vitest settings for every project: workspace packages resolve to their TypeScript sources (the
// "@mesh/source" export condition), and each project's README.md is a test file whose ```ts blocks run as tests.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineProject, type UserWorkspaceConfig } from 'vitest/config';
import { readmeExamples } from './testing/readme-plugin.ts';

// vitest also hands resolve.conditions to its worker processes as `node --conditions`, where anything beyond our own
// source condition would change how Node's require() resolves third-party packages ("import" or "module" make it
// pick ESM builds). So the top level names only ours; vite's resolver gets its usual server conditions for SSR.
const conditions = ['@mesh/source'];
const serverConditions = ['@mesh/source', 'module', 'node', 'development|production'];

export interface MeshProjectOptions {
  /** Extra test globs beyond src/**\/*.test.ts, test/**\/*.test.ts and README.md. */
  include?: string[];
  /** Per-test timeout; suites with real sockets and processes raise it. */
  testTimeout?: number;
}

/**
 * @param configUrl import.meta.url of the project's vitest.config.ts
 */
export function meshProject(configUrl: string, options: MeshProjectOptions = {}): UserWorkspaceConfig {
  const dir = dirname(fileURLToPath(configUrl));
  const readme = join(dir, 'README.md');
  // Package READMEs must have runnable examples (an empty one fails); app READMEs run theirs when they have some.
  const readmeIsTest =
    existsSync(readme) && (dir.includes('/packages/') || /^```(ts|typescript)\b/m.test(readFileSync(readme, 'utf8')));
  return defineProject({
    root: dir,
    plugins: [readmeExamples()],
    resolve: { conditions },
    ssr: { resolve: { conditions: serverConditions, externalConditions: ['@mesh/source'] } },
    test: {
      include: [
        'src/**/*.test.ts',
        'test/**/*.test.ts',
        ...(readmeIsTest ? ['README.md'] : []),
        ...(options.include ?? []),
      ],
      environment: 'node',
      testTimeout: options.testTimeout ?? 20_000,
      hookTimeout: options.testTimeout ?? 20_000,
      pool: 'forks',
    },
  });
}
