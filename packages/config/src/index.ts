export { ConfigError, errorCodes as configErrorCodes, type ConfigErrorCode } from './errors.js';
