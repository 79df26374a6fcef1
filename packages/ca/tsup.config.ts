import { libraryBuild } from '../../tools/build/tsup.ts';

export default libraryBuild({
  entry: { index: 'src/index.ts', grpc: 'src/grpc/index.ts', testing: 'src/testing/index.ts' },
});
