// Proves the layering table of docs/ARCHITECTURE.md is enforced: each case lints a one-line file as if it sat in
// a real project, with that project's real ESLint config, and expects the boundary rule to fire (or not).
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import { beforeAll, describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

async function lint(project: string, file: string, code: string) {
  const cwd = join(root, project);
  const eslint = new ESLint({ cwd, overrideConfigFile: join(cwd, 'eslint.config.mjs') });
  const [result] = await eslint.lintText(code, { filePath: join(cwd, file) });
  return result!.messages.map((m) => `${m.ruleId}: ${m.message}`);
}

describe('layering rules', () => {
  beforeAll(() => {
    // The nx rule reads the cached project graph; make sure it exists, as it does after any nx command.
    execFileSync(process.execPath, [join(root, 'node_modules/nx/dist/bin/nx.js'), 'show', 'projects'], {
      cwd: root,
      env: { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true' },
      stdio: 'ignore',
    });
  });

  const violations: Array<[string, string, string, string, RegExp]> = [
    [
      'engines never import each other',
      'packages/authz',
      'src/x.ts',
      "import { l7ErrorCodes } from '@mesh/l7';",
      /can only depend on libs tagged/,
    ],
    // @mesh/ca and @mesh/hbone depend on @mesh/spiffe, so spiffe importing them is reported as a cycle before tags are
    // compared; @mesh/xds does not, so it shows the tag rule itself.
    [
      'domain never imports runtime',
      'packages/spiffe',
      'src/x.ts',
      "import { xdsErrorCodes } from '@mesh/xds';",
      /can only depend on libs tagged/,
    ],
    [
      'domain never imports runtime (even one that depends on it)',
      'packages/spiffe',
      'src/x.ts',
      "import { caErrorCodes } from '@mesh/ca';",
      /Circular dependency|can only depend on libs tagged/,
    ],
    [
      'runtime never imports runtime',
      'packages/hbone',
      'src/x.ts',
      "import { xdsErrorCodes } from '@mesh/xds';",
      /can only depend on libs tagged/,
    ],
    // Apps have no exports map, so importing one is unresolvable: the boundary rule refuses it before tags matter.
    [
      'packages never import apps',
      'packages/config',
      'src/x.ts',
      "import '@mesh/app-istiod';",
      /enforce-module-boundaries/,
    ],
    ['apps never import apps', 'apps/ztunnel', 'src/x.ts', "import '@mesh/app-istiod';", /enforce-module-boundaries/],
    [
      'api imports nothing but protobufjs and core',
      'packages/api',
      'src/x.ts',
      "import { spiffeErrorCodes } from '@mesh/spiffe';",
      /can only depend on libs tagged/,
    ],
    [
      'domain outside converters never touches wire types',
      'packages/authz',
      'src/engine.ts',
      "import '@mesh/api';",
      /no-restricted-imports/,
    ],
    [
      'domain does no I/O',
      'packages/l7',
      'src/x.ts',
      "import { connect } from 'node:net'; connect(1);",
      /no-restricted-imports/,
    ],
    [
      'domain takes injected randomness',
      'packages/l7',
      'src/x.ts',
      'export const x = Math.random();',
      /no-restricted-properties/,
    ],
    [
      'domain takes an injected clock',
      'packages/authz',
      'src/x.ts',
      'export const t = Date.now();',
      /no-restricted-properties/,
    ],
    ['no deep imports', 'packages/ca', 'src/x.ts', "import '@mesh/spiffe/src/index.js';", /no-restricted-imports/],
    [
      'app code never uses internal tooling',
      'apps/istiod',
      'src/x.ts',
      "export { eventually } from '@mesh/tools/testing';",
      /can only depend on libs tagged/,
    ],
  ];

  for (const [title, project, file, code, rule] of violations) {
    it(`rejects: ${title}`, async () => {
      const messages = await lint(project, file, code);
      expect(
        messages.some((m) => rule.test(m)),
        messages.join('\n') || 'no messages',
      ).toBe(true);
    });
  }

  const allowed: Array<[string, string, string, string]> = [
    ['domain uses spiffe types', 'packages/authz', 'src/x.ts', "export { spiffeErrorCodes } from '@mesh/spiffe';"],
    ['domain converters use wire types', 'packages/authz', 'src/xds/convert.ts', "export * from '@mesh/api';"],
    [
      'runtime uses domain and api',
      'packages/config',
      'src/x.ts',
      "export { authzErrorCodes } from '@mesh/authz';\nexport * from '@mesh/api';",
    ],
    ['apps use runtime packages', 'apps/istiod', 'src/x.ts', "export { xdsErrorCodes } from '@mesh/xds';"],
    ['e2e suites use internal tooling', 'apps/istiod', 'e2e/x.ts', "export { eventually } from '@mesh/tools/testing';"],
  ];

  for (const [title, project, file, code] of allowed) {
    it(`allows: ${title}`, async () => {
      const messages = await lint(project, file, code);
      expect(messages.filter((m) => /enforce-module-boundaries|no-restricted|^null:/.test(m))).toEqual([]);
    });
  }
});
