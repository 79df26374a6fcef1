#!/usr/bin/env node
// Runs the built program; `pnpm build` (or the README's first command) produces dist/.
import { existsSync } from 'node:fs';

const entry = new URL('../dist/main.js', import.meta.url);
if (!existsSync(entry)) {
  console.error('istiod is not built yet: run `pnpm build` (or `npm run setup`) from the repository root.');
  process.exit(1);
}
await import(entry.href);
