// Work over a large collection in slices, yielding to the event loop between them, so a member
// that encodes a snapshot of a million records keeps answering its peers meanwhile.

/** Resolves after the event loop has had a turn (timers, I/O, other work). */
export const nextTurn = (): Promise<void> => new Promise<void>((resolve) => setImmediate(resolve));

/** The items in arrays of at most `size`, with a turn of the event loop between two slices. */
export async function* inSlices<T>(items: Iterable<T>, size = 2048): AsyncGenerator<T[]> {
  let slice: T[] = [];
  for (const item of items) {
    slice.push(item);
    if (slice.length === size) {
      yield slice;
      slice = [];
      await nextTurn();
    }
  }
  if (slice.length > 0) yield slice;
}
