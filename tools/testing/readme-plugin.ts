// Runs the ```ts blocks of a project's README.md as vitest tests, so documented examples cannot rot.
// Each block is its own module: it may import the package by name, and it asserts with node:assert.
// Blocks fenced as ```ts no-run are illustrations and are skipped on purpose (for example, a server that runs forever).
import { readFileSync } from 'node:fs';
import { transformWithEsbuild, type Plugin } from 'vite';

const QUERY = '?readme-example=';

export interface ReadmeExample {
  /** 1-based line of the opening fence. */
  line: number;
  code: string;
}

export function extractReadmeExamples(markdown: string): ReadmeExample[] {
  const examples: ReadmeExample[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(ts|typescript)(\s+.*)?$/.exec(lines[i]!.trim());
    if (!open) continue;
    const runnable = !(open[2] ?? '').includes('no-run');
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && lines[i]!.trim() !== '```'; i++) body.push(lines[i]!);
    if (runnable) examples.push({ line: start + 1, code: body.join('\n') });
  }
  return examples;
}

export function readmeExamples(): Plugin {
  return {
    name: 'mesh-readme-examples',
    enforce: 'pre',
    async load(id) {
      if (id.endsWith('/README.md')) {
        const examples = extractReadmeExamples(readFileSync(id, 'utf8'));
        const tests = examples.map(
          (example, index) =>
            `test(${JSON.stringify(`README example ${index + 1} (line ${example.line})`)}, async () => {\n` +
            `  await import(${JSON.stringify(`${id}${QUERY}${index}.ts`)});\n});`,
        );
        if (tests.length === 0 && id.includes('/packages/')) {
          tests.push(
            `test('README has a runnable example', () => { throw new Error('no \`\`\`ts example in ${id}'); });`,
          );
        }
        return `import { test } from 'vitest';\n${tests.join('\n')}\n`;
      }
      const at = id.indexOf(QUERY);
      if (at === -1) return null;
      const file = id.slice(0, at);
      const index = Number.parseInt(id.slice(at + QUERY.length), 10);
      const example = extractReadmeExamples(readFileSync(file, 'utf8'))[index];
      if (!example) throw new Error(`${file} has no example #${index + 1}`);
      // Pad with blank lines so stack traces point at the README's own line numbers.
      const padded = '\n'.repeat(example.line) + example.code;
      const result = await transformWithEsbuild(padded, `${file}.example-${index + 1}.ts`, {
        loader: 'ts',
        format: 'esm',
        target: 'node20',
        sourcemap: 'inline',
      });
      return { code: result.code, map: null };
    },
  };
}
