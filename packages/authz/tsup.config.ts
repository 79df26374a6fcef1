import { libraryBuild } from '../../tools/build/tsup.ts';

export default libraryBuild({
  entry: { index: 'src/index.ts', xds: 'src/xds/index.ts', testing: 'src/testing/index.ts' },
});
