import { meshEslintConfig } from '../tools/eslint/config.mjs';

export default meshEslintConfig(import.meta.url);
