// A tiny structured logger: one JSON object per line, on stdout by default.
// Fields whose names say they hold a secret are replaced before anything is written, so a
// careless `log.info('x', {password})` cannot leak; Secret payloads (`data`, `stringData`) too.

export type Level = 'debug' | 'info' | 'warn' | 'error';

const levelRank: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type Fields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
  /** A logger that adds `fields` to every line (e.g. {controller: 'vaultfleet'}). */
  child(fields: Fields): Logger;
}

export interface LoggerOptions {
  level?: Level;
  /** Where finished lines go; defaults to process.stdout. */
  write?: (line: string) => void;
  fields?: Fields;
  now?: () => Date;
}

const secretName =
  /pass(word)?|secret|token|authorization|bearer|credential|private.?key|^data$|^stringData$/i;
const maxDepth = 6;

export const redacted = '[redacted]';

function sanitize(value: unknown, depth: number): unknown {
  if (value instanceof Error) return serializeError(value);
  if (value instanceof Uint8Array) return `[${value.byteLength} bytes]`;
  if (typeof value === 'bigint') return value.toString();
  if (value === null || typeof value !== 'object') return value;
  if (depth >= maxDepth) return '[…]';
  if (Array.isArray(value)) return value.map((v) => sanitize(v, depth + 1));
  const out: Fields = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = secretName.test(k) ? redacted : sanitize(v, depth + 1);
  }
  return out;
}

function serializeError(err: Error): Fields {
  const out: Fields = { name: err.name, message: err.message };
  const extra = err as Error & { status?: unknown; reason?: unknown; code?: unknown };
  if (extra.status !== undefined) out['status'] = extra.status;
  if (extra.reason !== undefined) out['reason'] = extra.reason;
  if (extra.code !== undefined) out['code'] = extra.code;
  if (err.cause !== undefined) out['cause'] = sanitize(err.cause, maxDepth - 1);
  return out;
}

export function parseLevel(value: string | undefined, fallback: Level = 'info'): Level {
  if (value === undefined || value === '') return fallback;
  if (value in levelRank) return value as Level;
  throw new Error(`log level "${value}" is not one of ${Object.keys(levelRank).join(', ')}`);
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const min = levelRank[options.level ?? 'info'];
  const write = options.write ?? ((line: string) => process.stdout.write(line));
  const now = options.now ?? (() => new Date());
  const base = options.fields ?? {};
  const emit = (level: Level, msg: string, fields?: Fields): void => {
    if (levelRank[level] < min) return;
    const record = sanitize({ ...base, ...fields }, 0) as Fields;
    write(`${JSON.stringify({ time: now().toISOString(), level, msg, ...record })}\n`);
  };
  return {
    debug: (msg, fields) => emit('debug', msg, fields),
    info: (msg, fields) => emit('info', msg, fields),
    warn: (msg, fields) => emit('warn', msg, fields),
    error: (msg, fields) => emit('error', msg, fields),
    child: (fields) => createLogger({ ...options, fields: { ...base, ...fields } }),
  };
}

/** A logger that writes nothing; the default inside library code and tests. */
export const silentLogger: Logger = createLogger({ write: () => {} });
