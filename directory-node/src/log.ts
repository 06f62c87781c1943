// JSON-lines logging to stdout. Callers never pass key material.
export type Log = (event: string, fields?: Record<string, unknown>) => void;

export function jsonLog(role: string): Log {
  return (event, fields = {}) => {
    process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), role, event, ...fields })}\n`);
  };
}
