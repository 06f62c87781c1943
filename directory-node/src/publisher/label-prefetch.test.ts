import type { NodeLabel } from '@keyfleet/sdk/akd/label';
import { vrfSecretKey } from '@keyfleet/sdk/vrf/ecvrf';
import { describe, expect, it, vi } from 'vitest';
import { PrefetchingLabelDeriver } from './label-prefetch.ts';
import { InlineLabelDeriver, type LabelDeriver, type LabelRequest } from './labels.ts';

const enc = new TextEncoder();
const req = (user: string, version: number, freshness: 'fresh' | 'stale' = 'fresh'): LabelRequest => ({
  username: enc.encode(user),
  freshness,
  version: BigInt(version),
});

/** The inline deriver, counting the requests it derives; `failNext` makes its next call fail. */
class Counting implements LabelDeriver {
  readonly inline = new InlineLabelDeriver(vrfSecretKey(new Uint8Array(32).fill(3)));
  derived = 0;
  failNext = false;
  async derive(requests: readonly LabelRequest[]): Promise<NodeLabel[]> {
    if (this.failNext) {
      this.failNext = false;
      throw new Error('worker died');
    }
    this.derived += requests.length;
    return this.inline.derive(requests);
  }
  async close(): Promise<void> {}
}

describe('PrefetchingLabelDeriver', () => {
  it('serves speculated labels, derives the rest, and drops unused speculation', async () => {
    const inner = new Counting();
    const d = new PrefetchingLabelDeriver(inner);
    const first = [req('a', 1), req('b', 2, 'stale')];
    const ahead = [req('c', 1), req('d', 4), req('e', 1)];
    d.speculate = async () => ahead;
    expect(await d.derive(first)).toEqual(await inner.inline.derive(first));
    // the speculation runs after derive() handed over its own work
    await vi.waitFor(() => expect(inner.derived).toBe(first.length + ahead.length));
    // two speculated (c, d), one not (f); e is speculated but unused
    d.speculate = undefined;
    const second = [req('c', 1), req('f', 1), req('d', 4)];
    expect(await d.derive(second)).toEqual(await inner.inline.derive(second));
    expect(inner.derived).toBe(first.length + ahead.length + 1);
    // e's speculation was dropped by the second call: it is derived again
    expect(await d.derive([req('e', 1)])).toEqual(await inner.inline.derive([req('e', 1)]));
    expect(inner.derived).toBe(first.length + ahead.length + 2);
  });

  it('derives again what a failed speculation was to give', async () => {
    const inner = new Counting();
    const d = new PrefetchingLabelDeriver(inner);
    const ahead = [req('x', 1), req('y', 1)];
    d.speculate = async () => {
      inner.failNext = true; // the speculation's derive call fails
      return ahead;
    };
    await d.derive([req('w', 1)]);
    await vi.waitFor(() => expect(inner.failNext).toBe(false)); // the speculation's call failed
    d.speculate = undefined;
    expect(await d.derive(ahead)).toEqual(await inner.inline.derive(ahead));
  });

  it('a failing speculate hook costs only the speculation', async () => {
    const inner = new Counting();
    const d = new PrefetchingLabelDeriver(inner);
    d.speculate = async () => {
      throw new Error('storage closed');
    };
    expect(await d.derive([req('a', 1)])).toEqual(await inner.inline.derive([req('a', 1)]));
  });
});
