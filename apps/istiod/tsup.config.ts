import { appBuild } from '../../tools/build/tsup.ts';

export default appBuild({ entry: { main: 'src/main.ts' } });
