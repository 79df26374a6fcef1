// nx run @mesh/api:generate        writes the generated files
// nx run @mesh/api:generate:check  exits 1 when the checked-in files differ from what the sources generate
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generate, type CodegenConfig } from './generate.ts';

const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'packages', 'api');
const check = process.argv.includes('--check');
const config = JSON.parse(readFileSync(join(packageDir, 'codegen.json'), 'utf8')) as CodegenConfig;
const { files, modules, stats } = generate(packageDir, config);

const genDir = join(packageDir, 'src', 'gen');
const stale = existsSync(genDir)
  ? readdirSync(genDir)
      .filter((name) => !files.has(`src/gen/${name}`))
      .map((name) => `src/gen/${name}`)
  : [];
const drifted = [...files].filter(([path, content]) => {
  const target = join(packageDir, path);
  return !existsSync(target) || readFileSync(target, 'utf8') !== content;
});

if (check) {
  if (drifted.length || stale.length) {
    console.error('@mesh/api generated code is out of date with its sources; run `nx run @mesh/api:generate`:');
    for (const [path] of drifted) console.error(`  differs: packages/api/${path}`);
    for (const path of stale) console.error(`  stale:   packages/api/${path}`);
    process.exit(1);
  }
  console.log(`@mesh/api generated code matches its sources (${modules.length} modules).`);
} else {
  for (const path of stale) rmSync(join(packageDir, path));
  for (const [path, content] of drifted) {
    mkdirSync(dirname(join(packageDir, path)), { recursive: true });
    writeFileSync(join(packageDir, path), content);
  }
  console.log(
    `@mesh/api: ${stats.messages} messages, ${stats.enums} enums, ${stats.services} services in ${modules.length} modules; ` +
      `${drifted.length} file(s) written, ${stale.length} removed.`,
  );
}
