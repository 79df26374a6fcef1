// Finds a pnpm of the pinned major without needing one installed: the one on PATH if it matches, else a private copy
// installed with npm into .toolchain/ (no global install, no root).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PNPM_VERSION = '10.34.9';
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const toolchain = join(root, '.toolchain');

/** @returns {string[]} the command and its leading arguments, e.g. ['pnpm'] or [node, '.toolchain/…/pnpm.cjs'] */
export function pnpmCommand(nodeBinary = process.execPath) {
  const local = join(toolchain, 'node_modules', 'pnpm', 'bin', 'pnpm.cjs');
  if (existsSync(local)) return [nodeBinary, local];
  const onPath = spawnSync('pnpm', ['--version'], { encoding: 'utf8' });
  if (onPath.status === 0 && onPath.stdout.trim().split('.')[0] === PNPM_VERSION.split('.')[0]) {
    const path = spawnSync('which', ['pnpm'], { encoding: 'utf8' }).stdout.trim();
    return nodeBinary === process.execPath || !path ? ['pnpm'] : [nodeBinary, path];
  }
  console.log(`installing pnpm ${PNPM_VERSION} into .toolchain/ …`);
  mkdirSync(toolchain, { recursive: true });
  const result = spawnSync(
    'npm',
    ['install', '--prefix', toolchain, '--no-save', '--no-audit', '--no-fund', `pnpm@${PNPM_VERSION}`],
    {
      stdio: 'inherit',
    },
  );
  if (result.status !== 0 || !existsSync(local)) throw new Error('could not install pnpm from the npm registry');
  return [nodeBinary, local];
}
