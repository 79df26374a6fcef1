// Structured JSON logs on stdout (pino), in Istio's JSON log shape: level word, ISO time, a scope per component
// (xds, ca, proxy, access, admin), the message under msg. Levels change at runtime through the admin /logging
// endpoint, for every scope or per scope.
import { pino, type Logger } from 'pino';

export type { Logger };
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
export const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

export interface Logs {
  readonly root: Logger;
  /** A logger for one scope (created once, kept so /logging can change its level). */
  scope(name: string): Logger;
  /** `level` for every scope, or `scope:level,...`; returns the levels after the change. */
  setLevels(spec: string): Record<string, string>;
  reset(): Record<string, string>;
  levels(): Record<string, string>;
}

export function createLogs(options: { level: LogLevel; destination?: NodeJS.WritableStream }): Logs {
  const root = pino(
    {
      level: options.level,
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      serializers: { err: pino.stdSerializers.err },
    },
    options.destination ?? pino.destination({ dest: 1, sync: false }),
  );
  const scopes = new Map<string, Logger>();
  const levels = () => Object.fromEntries([['default', root.level], ...[...scopes].map(([n, l]) => [n, l.level])]);
  return {
    root,
    scope(name) {
      let logger = scopes.get(name);
      if (!logger) scopes.set(name, (logger = root.child({ scope: name })));
      return logger;
    },
    setLevels(spec) {
      for (const part of spec
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)) {
        const [a, b] = part.includes(':') ? part.split(':', 2) : [undefined, part];
        if (!LOG_LEVELS.includes(b as LogLevel)) throw new Error(`unknown level ${JSON.stringify(b)}`);
        if (a === undefined) {
          root.level = b!;
          for (const l of scopes.values()) l.level = b!;
        } else {
          let logger = scopes.get(a);
          if (!logger) scopes.set(a, (logger = root.child({ scope: a })));
          logger.level = b!;
        }
      }
      return levels();
    },
    reset() {
      root.level = options.level;
      for (const l of scopes.values()) l.level = options.level;
      return levels();
    },
    levels,
  };
}
