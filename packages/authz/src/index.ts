export { AuthzError, errorCodes as authzErrorCodes, type AuthzErrorCode } from './errors.js';
