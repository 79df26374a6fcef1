export {
  CoreError,
  defineErrorCatalog,
  errorCodes as coreErrorCodes,
  MeshError,
  type CoreErrorCode,
  type ErrorCatalog,
  type ErrorCodeDoc,
  type MeshErrorOptions,
} from './errors.js';
export { abortable, abortError, anySignal, deadline, sleep, throwIfAborted, type Deadline } from './signals.js';
export { ManualClock, systemClock, type Clock } from './clock.js';
export { seededRng, systemRng, type Rng } from './random.js';
export {
  readProgramOptions,
  runProgram,
  type ProgramLogger,
  type ProgramProcess,
  type ReadProgramOptions,
  type RunProgramOptions,
} from './program.js';
