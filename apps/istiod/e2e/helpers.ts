// Real-process helpers for the istiod end-to-end suites: start the built istiod on free loopback ports, read its JSON
// log, wait with bounds, and clean up.
import { writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as testing from '@mesh/tools/testing';
import type { IstiodProcess } from '@mesh/tools/testing';

// The generic pieces live in @mesh/tools/testing (shared with the ztunnel and waypoint suites).
export { eventually, tempDir, type IstiodProcess, type LogLine } from '@mesh/tools/testing';

export const bin = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'istiod.mjs');
export const meshctlBin = testing.meshctlBin;

export function assertBuilt(): void {
  testing.assertBuilt(bin, meshctlBin);
}

export function startIstiod(options: {
  configDir?: string;
  caDir: string;
  args?: string[];
  env?: Record<string, string>;
  timeoutMs?: number;
}): Promise<IstiodProcess> {
  return testing.startIstiod({ ...options, bin });
}

/** Writes a file atomically enough for the watcher (write then the store rescans). */
export async function writeYaml(path: string, text: string): Promise<void> {
  await writeFile(path, text);
}

/** Runs the built meshctl; resolves with its exit code and output. */
export function meshctl(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return testing.runNode([meshctlBin, ...args]);
}
