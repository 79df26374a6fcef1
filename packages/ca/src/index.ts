export { CaError, errorCodes as caErrorCodes, type CaErrorCode } from './errors.js';
