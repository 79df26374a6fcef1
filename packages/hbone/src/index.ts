export { HboneError, errorCodes as hboneErrorCodes, type HboneErrorCode } from './errors.js';
