// Linearizability of a counter history (Wing & Gong's search with Lowe's memoisation, as Porcupine
// does it). The counter is the guess counter's shape: an increment returns the value it produced,
// a read returns the value it saw. An increment whose outcome the client never learned has no
// return: it may have taken effect at any point after its call, or never.
//
// The search walks the history in time order, tentatively linearising each call it meets; a
// return whose call is not yet linearised forces a backtrack. A (linearised set, counter) pair is
// explored at most once. Unanswered increments are interchangeable (same effect, no return), so
// only the earliest-called of them is ever tried next, which keeps their 2^n subsets out of it.

export type CounterOp =
  | { readonly kind: 'inc'; readonly call: number; readonly ret: number; readonly value: number }
  | { readonly kind: 'inc'; readonly call: number; readonly ret: null; readonly value: null }
  | { readonly kind: 'read'; readonly call: number; readonly ret: number; readonly value: number };

export type CheckResult = { ok: true } | { ok: false; reason: string };

interface Node {
  op: number;
  call: boolean;
  prev: Node | null;
  next: Node | null;
  match: Node | null; // a call's return
}

export function checkCounterHistory(ops: readonly CounterOp[], maxSteps = 5_000_000): CheckResult {
  // Time order; calls and returns share one clock, unanswered returns go last.
  const events: { t: number; op: number; call: boolean }[] = [];
  ops.forEach((o, i) => {
    events.push({ t: o.call, op: i, call: true });
    events.push({ t: o.ret ?? Number.POSITIVE_INFINITY, op: i, call: false });
  });
  events.sort((a, b) => a.t - b.t || (a.call === b.call ? a.op - b.op : a.call ? -1 : 1));
  const head: Node = { op: -1, call: false, prev: null, next: null, match: null };
  const callNode = new Map<number, Node>();
  let tail = head;
  for (const e of events) {
    const n: Node = { op: e.op, call: e.call, prev: tail, next: null, match: null };
    tail.next = n;
    tail = n;
    if (e.call) callNode.set(e.op, n);
    else callNode.get(e.op)!.match = n;
  }
  const lift = (c: Node) => {
    for (const n of [c, c.match!]) {
      n.prev!.next = n.next;
      if (n.next) n.next.prev = n.prev;
    }
  };
  const unlift = (c: Node) => {
    for (const n of [c.match!, c]) {
      n.prev!.next = n;
      if (n.next) n.next.prev = n;
    }
  };

  const unanswered = ops
    .map((o, i) => ({ o, i }))
    .filter(({ o }) => o.kind === 'inc' && o.ret === null)
    .sort((a, b) => a.o.call - b.o.call)
    .map(({ i }) => i);
  let unansweredDone = 0;

  const words = new Uint32Array(Math.ceil(ops.length / 32) + 1);
  const seen = new Set<string>();
  const stack: { node: Node; state: number }[] = [];
  let state = 0;
  let entry = head.next;
  let steps = 0;
  let deepest = 0;

  while (head.next !== null) {
    if (++steps > maxSteps) return { ok: false, reason: `inconclusive after ${maxSteps} steps` };
    if (entry === null) return { ok: false, reason: 'internal: ran off the history' };
    if (entry.call) {
      const o = ops[entry.op]!;
      let next: number | null = null;
      if (o.kind === 'read') next = o.value === state ? state : null;
      else if (o.ret !== null) next = o.value === state + 1 ? state + 1 : null;
      else if (unanswered[unansweredDone] === entry.op) next = state + 1;
      if (next !== null) {
        words[entry.op >>> 5]! ^= 1 << (entry.op & 31);
        const key = `${next}:${words.join(',')}`;
        if (!seen.has(key)) {
          seen.add(key);
          stack.push({ node: entry, state });
          if (o.kind === 'inc' && o.ret === null) unansweredDone++;
          state = next;
          lift(entry);
          deepest = Math.max(deepest, stack.length);
          entry = head.next;
          continue;
        }
        words[entry.op >>> 5]! ^= 1 << (entry.op & 31);
      }
      entry = entry.next;
    } else {
      // A return whose call could not be placed before it: undo the last choice.
      const top = stack.pop();
      if (!top) {
        const o = ops[entry.op]!;
        return {
          ok: false,
          reason: `not linearizable: no order explains ${o.kind} #${entry.op} (call ${o.call}, return ${o.ret}, value ${o.value}); longest consistent prefix ${deepest} of ${ops.length} operations`,
        };
      }
      const o = ops[top.node.op]!;
      if (o.kind === 'inc' && o.ret === null) unansweredDone--;
      words[top.node.op >>> 5]! ^= 1 << (top.node.op & 31);
      state = top.state;
      unlift(top.node);
      entry = top.node.next;
    }
  }
  return { ok: true };
}
