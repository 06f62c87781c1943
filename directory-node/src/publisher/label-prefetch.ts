// Derives the next epoch's VRF labels while this epoch's tree work runs. An epoch is two
// phases: labels (the worker threads busy, the main thread waiting) and then the trie insert,
// signing and commit (the main thread busy, the workers idle). With a backlog in the queue,
// the next batch's labels can be derived during the second phase.
//
// A label is a pure function of (username, freshness, version), so a speculated label is
// never wrong, only possibly unused: derive() takes what was speculated for its requests,
// derives the rest, and drops the unused speculation (one batch at most is held).
import type { NodeLabel } from '@keyfleet/sdk/akd/label';
import type { LabelDeriver, LabelRequest } from './labels.ts';

const requestKey = (r: LabelRequest): string =>
  `${Buffer.from(r.username).toString('hex')}/${r.freshness}/${r.version}`;

export class PrefetchingLabelDeriver implements LabelDeriver {
  private readonly inner: LabelDeriver;
  private speculated = new Map<string, Promise<NodeLabel | undefined>>();
  /**
   * Asked right after each derive() has handed its own work to the deriver (so that work
   * comes first): the requests the next derive() will probably make. Its failures only cost
   * the speculation.
   */
  speculate: (() => Promise<readonly LabelRequest[]>) | undefined;

  constructor(inner: LabelDeriver) {
    this.inner = inner;
  }

  async derive(requests: readonly LabelRequest[]): Promise<NodeLabel[]> {
    const speculated = this.speculated;
    this.speculated = new Map();
    const missing: LabelRequest[] = [];
    const hits = requests.map((r) => {
      const hit = speculated.get(requestKey(r));
      if (hit === undefined) missing.push(r);
      return hit;
    });
    const derived = missing.length > 0 ? this.inner.derive(missing) : Promise.resolve([]);
    const next = this.speculate;
    if (next !== undefined) {
      next()
        .then((ahead) => this.prefetch(ahead))
        .catch(() => {});
    }
    const fresh = await derived;
    const spare = await Promise.all(hits);
    // speculations that failed (a worker error) are derived now
    const failed = requests.filter((_, i) => hits[i] !== undefined && spare[i] === undefined);
    const retried = failed.length > 0 ? await this.inner.derive(failed) : [];
    let m = 0;
    let f = 0;
    return requests.map((_, i) => {
      if (hits[i] === undefined) return fresh[m++] as NodeLabel;
      return spare[i] ?? (retried[f++] as NodeLabel);
    });
  }

  private prefetch(requests: readonly LabelRequest[]): void {
    if (requests.length === 0) return;
    const all = this.inner.derive(requests).catch(() => undefined);
    for (const [i, r] of requests.entries()) {
      this.speculated.set(
        requestKey(r),
        all.then((labels) => labels?.[i]),
      );
    }
  }

  close(): Promise<void> {
    this.speculated.clear();
    return this.inner.close();
  }
}
