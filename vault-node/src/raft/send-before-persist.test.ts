import { describe, expect, it } from 'vitest';
import { splitMessages } from './send-before-persist.ts';
import type { Message, MessageType, Ready } from './types.ts';

const msg = (type: MessageType): Message => ({ type, from: 'a', to: 'b', term: 2 });

function ready(messages: Message[], hardState?: Ready['hardState']): Ready {
  return { entries: [], messages, committedEntries: [], readStates: [], ...(hardState ? { hardState } : {}) };
}

describe('splitMessages', () => {
  const all = (['append', 'heartbeat', 'append-response', 'vote-response', 'snapshot'] as const).map(msg);

  it('lets only appends and heartbeats precede the write', () => {
    const { beforePersist, afterPersist } = splitMessages(ready(all), { term: 2, vote: 'a' });
    expect(beforePersist.map((m) => m.type)).toEqual(['append', 'heartbeat']);
    expect(afterPersist.map((m) => m.type)).toEqual(['append-response', 'vote-response', 'snapshot']);
  });

  it('a change of commit alone keeps them early; a change of term or vote holds everything back', () => {
    const durable = { term: 2, vote: 'a' };
    expect(splitMessages(ready(all, { term: 2, vote: 'a', commit: 9 }), durable).beforePersist).toHaveLength(
      2,
    );
    for (const hs of [
      { term: 3, vote: 'a', commit: 9 },
      { term: 2, vote: null, commit: 9 },
    ]) {
      const { beforePersist, afterPersist } = splitMessages(ready(all, hs), durable);
      expect(beforePersist).toEqual([]);
      expect(afterPersist).toEqual(all);
    }
  });
});
