export { extractReadmeExamples, type ReadmeExample } from './readme-plugin.ts';
