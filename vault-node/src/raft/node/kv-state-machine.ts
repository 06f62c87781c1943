// A small replicated key-value store with counters: the state machine the runnable entry
// (main.ts) serves, for the real-process tests and benchmarks. Commands are JSON.

import { concatBytes } from '@keyfleet/sdk/hsm/bytes';
import { inSlices } from '../slices.ts';
import type { Entry, StateMachine } from '../types.ts';

export type KvCommand = { op: 'put'; key: string; value: string } | { op: 'incr'; key: string };

export const MAX_KEY_LENGTH = 256;
export const MAX_VALUE_LENGTH = 64 * 1024;

const te = new TextEncoder();
const td = new TextDecoder('utf-8', { fatal: true });

/** Why `c` is not a valid command, or null. */
export function kvCommandProblem(c: unknown): string | null {
  if (typeof c !== 'object' || c === null) return 'command must be an object';
  const o = c as Record<string, unknown>;
  if (typeof o.key !== 'string' || o.key.length === 0 || o.key.length > MAX_KEY_LENGTH) {
    return `key must be a string of 1..${MAX_KEY_LENGTH} characters`;
  }
  if (o.op === 'put') {
    if (typeof o.value !== 'string' || o.value.length > MAX_VALUE_LENGTH) {
      return `value must be a string of at most ${MAX_VALUE_LENGTH} characters`;
    }
    return Object.keys(o).length === 3 ? null : 'unexpected fields';
  }
  if (o.op === 'incr') return Object.keys(o).length === 2 ? null : 'unexpected fields';
  return 'op must be "put" or "incr"';
}

export const encodeKvCommand = (c: KvCommand): Uint8Array => te.encode(JSON.stringify(c));

export class KvStateMachine implements StateMachine {
  readonly kv = new Map<string, string>();
  readonly counters = new Map<string, number>();

  apply(entry: Entry): Uint8Array {
    let cmd: unknown;
    try {
      cmd = JSON.parse(td.decode(entry.data));
    } catch {
      cmd = undefined;
    }
    // A committed entry is applied whatever it holds; a bad one is answered, never skipped silently.
    const problem = kvCommandProblem(cmd);
    if (problem) return te.encode(JSON.stringify({ error: problem }));
    const c = cmd as KvCommand;
    if (c.op === 'put') {
      this.kv.set(c.key, c.value);
      return te.encode(JSON.stringify({ ok: true }));
    }
    const value = (this.counters.get(c.key) ?? 0) + 1;
    this.counters.set(c.key, value);
    return te.encode(JSON.stringify({ value }));
  }

  snapshot(): Uint8Array {
    return te.encode(JSON.stringify({ kv: [...this.kv], counters: [...this.counters] }));
  }

  /** The same bytes as snapshot() now, encoded from a copy of the maps in slices. */
  snapshotInSlices(): Promise<Uint8Array> {
    return encodeInSlices(new Map(this.kv), new Map(this.counters));
  }

  restore(data: Uint8Array): void {
    const s = JSON.parse(td.decode(data)) as { kv: [string, string][]; counters: [string, number][] };
    this.kv.clear();
    this.counters.clear();
    for (const [k, v] of s.kv) this.kv.set(k, v);
    for (const [k, v] of s.counters) this.counters.set(k, v);
  }
}

async function encodeInSlices(kv: Map<string, string>, counters: Map<string, number>): Promise<Uint8Array> {
  const parts = [te.encode('{"kv":[')];
  let separator = '';
  for await (const slice of inSlices(kv)) {
    parts.push(te.encode(separator + JSON.stringify(slice).slice(1, -1)));
    separator = ',';
  }
  parts.push(te.encode(`],"counters":${JSON.stringify([...counters])}}`));
  return concatBytes(...parts);
}
