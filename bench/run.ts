// pnpm -s bench <name> [args…]  runs bench/<name>/main.ts (workspace packages resolve to their sources).
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const [name] = process.argv.slice(2);
const available = readdirSync(here, { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(join(here, d.name, 'main.ts')))
  .map((d) => d.name);
if (!name || !available.includes(name)) {
  console.error(`usage: pnpm -s bench <${available.join('|') || 'name'}> [options]`);
  process.exit(2);
}
process.argv.splice(2, 1);
await import(pathToFileURL(join(here, name, 'main.ts')).href);
