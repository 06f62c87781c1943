// Minimal structured logging for the Raft node: one JSON object per line. Callers may pass their
// own; nothing logged here carries secrets (no entry data, no keys).

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type Logger = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => void;

export function jsonLogger(component: string, min: LogLevel = 'info'): Logger {
  const order: LogLevel[] = ['debug', 'info', 'warn', 'error'];
  return (level, msg, fields) => {
    if (order.indexOf(level) < order.indexOf(min)) return;
    process.stderr.write(
      `${JSON.stringify({ time: new Date().toISOString(), level, component, msg, ...fields })}\n`,
    );
  };
}

export const silentLogger: Logger = () => {};
