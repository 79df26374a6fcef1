export { XdsError, errorCodes as xdsErrorCodes, type XdsErrorCode } from './errors.js';
