#!/usr/bin/env node
// The README's two commands land here. Needs only Node >= 20.19 and npm: pnpm is installed into .toolchain/ (no
// global install, no root) and everything else comes from the lockfile.
//
//   node tools/bootstrap/run.mjs setup   install + build
//   node tools/bootstrap/run.mjs mesh    setup, then the main job (the local mesh demo)
//   node tools/bootstrap/run.mjs test    every test: codegen drift, lint, types, build, unit, package checks,
//                                        integration, interop and end-to-end suites
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { missingPeers, peerPackages } from './peers.mjs';
import { pnpmCommand } from './pnpm.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const env = { ...process.env, NX_NO_CLOUD: 'true', NX_DAEMON: process.env.NX_DAEMON ?? 'false' };

function fail(message) {
  console.error(`\n✗ ${message}`);
  process.exit(1);
}

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', env, ...options });
  if (result.error) fail(`${command} could not start: ${result.error.message}`);
  return result.status ?? 1;
}

function step(index, total, title) {
  console.log(`\n[${index}/${total}] ${title}`);
}

function checkNode() {
  const [major, minor] = process.versions.node.split('.').map(Number);
  if (major < 20 || (major === 20 && minor < 19))
    fail(`Node ${process.versions.node} is too old: mesh needs Node >= 20.19.`);
}

function pnpmRun(args, title) {
  let command;
  let prefix;
  try {
    [command, ...prefix] = pnpmCommand();
  } catch (error) {
    fail(error.message);
  }
  const status = run(command, [...prefix, ...args]);
  if (status !== 0) fail(`${title} failed (exit ${status})`);
}

function install() {
  const frozen = existsSync(join(root, 'pnpm-lock.yaml')) ? ['--frozen-lockfile'] : [];
  pnpmRun(['install', ...frozen], 'pnpm install');
}

function setup(total) {
  checkNode();
  step(1, total, 'installing dependencies (pnpm, from the lockfile)');
  install();
  step(2, total, 'building every package and app (nx, cached)');
  pnpmRun(['exec', 'nx', 'run-many', '-t', 'build', '--outputStyle=static'], 'build');
}

const mode = process.argv[2];
const started = Date.now();
if (mode === 'setup') {
  setup(2);
  console.log('\n✓ set up. Run the local mesh with `npm run mesh`, every test with `npm test`.');
} else if (mode === 'mesh') {
  setup(3);
  step(3, 3, 'the main job: the local mesh demo (examples/local-mesh)');
  // The tour leaves the mesh running until Ctrl-C; with CI=true or --exit it stops after the tour.
  const status = run(process.execPath, [join(root, 'examples', 'local-mesh', 'tour.mjs'), ...process.argv.slice(3)]);
  if (status !== 0) fail(`the local mesh demo failed (exit ${status})`);
} else if (mode === 'test') {
  const total = 6;
  setup(total);
  step(3, total, 'checking interop peers (Debian packages the interop suites run against)');
  const missing = missingPeers();
  if (missing.length) {
    const canInstall = process.getuid?.() === 0 && spawnSync('apt-get', ['--version']).status === 0;
    if (!canInstall)
      fail(`interop suites need these Debian packages: ${missing.join(' ')} (apt-get install them, then rerun)`);
    if (
      run('apt-get', ['update']) !== 0 ||
      run('apt-get', ['install', '-y', '--no-install-recommends', ...missing], {
        env: { ...env, DEBIAN_FRONTEND: 'noninteractive' },
      }) !== 0
    ) {
      fail(`apt-get could not install ${missing.join(' ')}`);
    }
  } else {
    console.log(peerPackages.length ? `all present: ${peerPackages.join(' ')}` : 'no interop peers needed yet');
  }
  step(4, total, 'checking that generated code and docs match their sources');
  pnpmRun(['exec', 'nx', 'run-many', '-t', 'generate:check', '--outputStyle=static'], 'generated code drift check');
  pnpmRun(['exec', 'prettier', '--check', '.'], 'formatting check');
  step(5, total, 'lint, typecheck, unit and integration tests, package checks (publint, attw, import/require)');
  pnpmRun(
    ['exec', 'nx', 'run-many', '-t', 'lint', 'typecheck', 'test', 'test:build', '--outputStyle=static'],
    'lint/typecheck/test',
  );
  step(6, total, 'interop and end-to-end suites (real peers and processes)');
  pnpmRun(['exec', 'nx', 'run-many', '-t', 'test:interop', 'test:e2e', '--outputStyle=static'], 'interop/e2e');
  console.log(`\n✓ every test passed in ${Math.round((Date.now() - started) / 1000)} s`);
} else {
  console.error('usage: node tools/bootstrap/run.mjs setup|mesh|test');
  process.exit(2);
}
