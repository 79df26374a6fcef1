import { readFileSync } from 'node:fs';
import { libraryBuild } from '../../tools/build/tsup.ts';

// One entry per proto package (written by the generator), so `@mesh/api/istio.workload` etc. are subpaths.
const modules = JSON.parse(readFileSync(new URL('./src/gen/modules.json', import.meta.url), 'utf8')) as string[];

export default libraryBuild({
  entry: { index: 'src/index.ts', ...Object.fromEntries(modules.map((m) => [m, `src/gen/${m}.ts`])) },
});
