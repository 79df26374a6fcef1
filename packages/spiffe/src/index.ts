export { SpiffeError, errorCodes as spiffeErrorCodes, type SpiffeErrorCode } from './errors.js';
