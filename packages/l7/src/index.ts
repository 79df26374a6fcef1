export { L7Error, errorCodes as l7ErrorCodes, type L7ErrorCode } from './errors.js';
