// File access for commands: errors become MeshctlErrors with the path in the message.
import { constants } from 'node:fs';
import { access, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { MeshctlError } from './errors.js';

export async function readInput(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    throw new MeshctlError(
      'ERR_MESHCTL_READ_FAILED',
      `cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      {
        cause: error,
        details: { path },
      },
    );
  }
}

/** Writes files (creating parent directories); refuses to replace any existing one unless `force`. */
export async function writeOutputs(
  files: ReadonlyArray<{ path: string; text: string; mode?: number }>,
  force: boolean,
): Promise<void> {
  if (!force) {
    const existing: string[] = [];
    for (const { path } of files)
      if (
        await access(path, constants.F_OK).then(
          () => true,
          () => false,
        )
      )
        existing.push(path);
    if (existing.length)
      throw new MeshctlError('ERR_MESHCTL_WRITE_FAILED', `refusing to overwrite ${existing.join(', ')} (pass --force)`);
  }
  for (const { path, text, mode } of files) {
    try {
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, text, { mode: mode ?? 0o644 });
    } catch (error) {
      throw new MeshctlError('ERR_MESHCTL_WRITE_FAILED', `cannot write ${path}: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }
}
