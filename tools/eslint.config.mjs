import { meshEslintConfig } from './eslint/config.mjs';

export default meshEslintConfig(import.meta.url);
