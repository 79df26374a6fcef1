// Shared tsup settings. Libraries ship dual ESM + CJS with .d.ts/.d.cts next to each (see docs/DECISIONS.md);
// apps ship one ESM bundle with the workspace packages inlined from source.
import { defineConfig, type Options } from 'tsup';

export interface LibraryBuildOptions {
  /** Entry name (the subpath without "./", "index" for ".") to source file. */
  entry: Record<string, string>;
}

export function libraryBuild({ entry }: LibraryBuildOptions) {
  return defineConfig({
    entry,
    format: ['esm', 'cjs'],
    dts: true,
    sourcemap: true,
    clean: true,
    target: 'node20',
    platform: 'node',
    treeshake: true,
    // Shared chunks keep one copy of module state per format, even with many subpath entries.
    splitting: true,
    outDir: 'dist',
  } satisfies Options);
}

export interface AppBuildOptions {
  entry: Record<string, string>;
}

export function appBuild({ entry }: AppBuildOptions) {
  return defineConfig({
    entry,
    format: ['esm'],
    dts: false,
    sourcemap: true,
    clean: true,
    target: 'node20',
    platform: 'node',
    splitting: true,
    outDir: 'dist',
    // Workspace packages are compiled into the app from source; third-party packages stay in node_modules.
    noExternal: [/^@mesh\//],
    esbuildOptions(options) {
      options.conditions = ['@mesh/source', ...(options.conditions ?? [])];
    },
  } satisfies Options);
}
