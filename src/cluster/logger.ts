// The logging surface the cluster caches use: a structural subset of pino's Logger, so the server
// can pass its pino instance (or a child) and tests can pass nothing.

type LogFn = (fields: Record<string, unknown>, message: string) => void;

export interface ClusterLogger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
}

const noop: LogFn = () => {};
export const SILENT_LOGGER: ClusterLogger = { debug: noop, info: noop, warn: noop, error: noop };
