import { describe, expect, it } from 'vitest';
import { createLogger, parseLevel, redacted } from './log.ts';

function capture(level: 'debug' | 'info' = 'info') {
  const lines: string[] = [];
  const log = createLogger({ level, write: (l) => lines.push(l), now: () => new Date(0) });
  return { log, lines, records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('logger', () => {
  it('writes one JSON line per event with time, level, msg and fields', () => {
    const { log, lines, records } = capture();
    log.child({ controller: 'vaultfleet' }).info('reconciled', { key: 'ns/a' });
    expect(lines).toHaveLength(1);
    expect(lines[0]?.endsWith('\n')).toBe(true);
    expect(records()[0]).toEqual({
      time: '1970-01-01T00:00:00.000Z',
      level: 'info',
      msg: 'reconciled',
      controller: 'vaultfleet',
      key: 'ns/a',
    });
  });

  it('drops lines below the level', () => {
    const { log, records } = capture('info');
    log.debug('noise');
    log.warn('kept');
    expect(records().map((r) => r['msg'])).toEqual(['kept']);
  });

  it('redacts secret-looking fields at any depth and Secret payloads', () => {
    const { log, lines } = capture();
    log.info('x', {
      password: 'hunter2',
      nested: { apiToken: 'abc', ok: 1 },
      secret: { data: { k: 'c2VjcmV0' }, stringData: { k: 'plain' } },
      items: [{ privateKey: 'pk' }],
      authorization: 'Bearer zzz',
    });
    const text = lines.join('');
    for (const leaked of ['hunter2', 'abc', 'c2VjcmV0', 'plain', 'pk', 'zzz'])
      expect(text).not.toContain(leaked);
    expect(text).toContain(redacted);
    expect(JSON.parse(text).nested.ok).toBe(1);
  });

  it('serializes errors with their status and cause', () => {
    const { log, records } = capture();
    const err = Object.assign(new Error('conflict', { cause: new Error('inner') }), { status: 409 });
    log.error('apply failed', { err });
    expect(records()[0]?.['err']).toEqual({
      name: 'Error',
      message: 'conflict',
      status: 409,
      cause: { name: 'Error', message: 'inner' },
    });
  });

  it('parses levels and explains a bad one', () => {
    expect(parseLevel(undefined)).toBe('info');
    expect(parseLevel('debug')).toBe('debug');
    expect(() => parseLevel('loud')).toThrow(/debug, info, warn, error/);
  });
});
