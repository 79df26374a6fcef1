import { libraryBuild } from '../../tools/build/tsup.ts';

export default libraryBuild({ entry: { index: 'src/index.ts', runtime: 'src/runtime/index.ts' } });
