// Structured JSON logs on stdout (pino), in the shape of Istio's JSON logs: level as a word, ISO time, a scope per
// component (ads, ca, config, ...), the message under msg.
import { pino, type Logger } from 'pino';
import type { LogLevel } from './options.js';

export type { Logger };

export function createLogger(options: { level: LogLevel; destination?: NodeJS.WritableStream }): Logger {
  return pino(
    {
      level: options.level,
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      serializers: { err: pino.stdSerializers.err },
    },
    options.destination ?? pino.destination({ dest: 1, sync: false }),
  );
}
