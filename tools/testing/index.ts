export { extractReadmeExamples, type ReadmeExample } from './readme-plugin.ts';
export {
  assertBuilt,
  eventually,
  istiodBin,
  meshctlBin,
  runNode,
  spawnJsonProcess,
  startIstiod,
  stopChild,
  tempDir,
  type IstiodProcess,
  type JsonProcess,
  type LogLine,
} from './process.ts';
