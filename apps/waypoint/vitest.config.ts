import { meshProject } from '../../tools/vitest.shared.ts';

export default meshProject(import.meta.url);
