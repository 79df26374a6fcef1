import { libraryBuild } from '../../tools/build/tsup.ts';

export default libraryBuild({
  entry: { index: 'src/index.ts', headers: 'src/headers.ts', testing: 'src/testing.ts' },
});
