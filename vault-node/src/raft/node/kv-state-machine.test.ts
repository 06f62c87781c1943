import { describe, expect, it } from 'vitest';
import { encodeKvCommand, KvStateMachine } from './kv-state-machine.ts';

describe('KvStateMachine snapshots', () => {
  it('encoded in slices: the bytes snapshot() gave at the call, whatever is applied meanwhile', async () => {
    const sm = new KvStateMachine();
    let index = 0;
    const apply = (c: Parameters<typeof encodeKvCommand>[0]) =>
      sm.apply({ term: 1, index: ++index, type: 'normal', data: encodeKvCommand(c) });
    // More entries than one slice (2048), with characters JSON must escape.
    for (let i = 0; i < 5000; i++) apply({ op: 'put', key: `k${i}`, value: `"v\\${i}\n` });
    apply({ op: 'incr', key: 'n' });
    const expected = sm.snapshot();
    const pending = sm.snapshotInSlices();
    apply({ op: 'put', key: 'k1', value: 'changed' });
    apply({ op: 'incr', key: 'n' });
    const sliced = await pending;
    expect(sliced).toEqual(expected);
    const copy = new KvStateMachine();
    copy.restore(sliced);
    expect(copy.kv.get('k1')).toBe('"v\\1\n');
    expect(copy.counters.get('n')).toBe(1);
    expect(copy.kv.size).toBe(5000);
  });
});
