// The interop suite (`nx run @mesh/hbone:test:interop`): real independent HBONE peers — nghttpx + tinyproxy as the
// server for our client, python's h2 library as the client of our server, tshark on the wire. Files run one at a
// time: nghttpx and tinyproxy need fixed ports.
import type { UserWorkspaceConfig } from 'vitest/config';
import { meshProject } from '../../tools/vitest.shared.ts';

const project = meshProject(import.meta.url, { testTimeout: 120_000 });

// Used as a root config (`vitest run --config`), where fileParallelism applies; ProjectConfig does not declare it.
const test = { ...project.test, include: ['interop/**/*.test.ts'], fileParallelism: false };
const config = { ...project, test } as UserWorkspaceConfig;

export default config;
