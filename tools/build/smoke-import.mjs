#!/usr/bin/env node
// Loads every subpath of the package in the current directory through its own name, once with import() and once
// with require(), and fails if either form cannot load it or gets an empty module. publint and attw check the
// manifest and the types; this checks that the built JavaScript actually runs under both module systems.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const manifest = JSON.parse(readFileSync(join(process.cwd(), 'package.json'), 'utf8'));
const require = createRequire(join(process.cwd(), 'package.json'));
const specifiers = Object.keys(manifest.exports ?? { '.': null })
  .filter((p) => p !== './package.json')
  .map((p) => (p === '.' ? manifest.name : `${manifest.name}/${p.slice(2)}`));

let failures = 0;
for (const specifier of specifiers) {
  try {
    if (Object.keys(require(specifier)).length === 0) throw new Error('module has no exports');
  } catch (error) {
    failures++;
    console.error(`require(${JSON.stringify(specifier)}) failed: ${error.message}`);
  }
}
// ESM resolution is relative to the importing module, so import() runs in a child whose entry sits in this package.
const esm = `for (const s of ${JSON.stringify(specifiers)}) {
  try { const m = await import(s); if (Object.keys(m).length === 0) throw new Error('module has no exports'); }
  catch (e) { console.error('import(' + JSON.stringify(s) + ') failed: ' + e.message); process.exitCode = 1; }
}`;
try {
  execFileSync(process.execPath, ['--input-type=module', '-e', esm], { cwd: process.cwd(), stdio: 'inherit' });
} catch {
  failures++;
}
if (failures) process.exit(1);
console.log(`${manifest.name}: ${specifiers.length} entry point(s) load with import() and require()`);
