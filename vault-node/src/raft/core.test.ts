import { describe, expect, it } from 'vitest';
import { encodeMembership } from './conf-change.ts';
import { CAMPAIGN_TRANSFER, RaftCore } from './core.ts';
import { Harness, seededRandom, utf8 } from './testing.ts';
import type { Entry, HardState, Message } from './types.ts';

const ABC = ['a', 'b', 'c'];

function entry(index: number, term: number, data = `e${index}`): Entry {
  return { index, term, type: 'normal', data: utf8(data) };
}

function solo(
  id: string,
  opts: { hs?: Partial<HardState>; entries?: Entry[]; voters?: string[]; preVote?: boolean } = {},
): RaftCore {
  return new RaftCore({
    id,
    random: seededRandom(1),
    ...(opts.preVote === undefined ? {} : { preVote: opts.preVote }),
    initial: {
      hardState: { term: 0, vote: null, commit: 0, ...opts.hs },
      entries: opts.entries ?? [],
      membership: { voters: opts.voters ?? ABC, learners: [] },
    },
  });
}

function drain(c: RaftCore): Message[] {
  const out: Message[] = [];
  while (c.hasReady()) {
    const rd = c.ready();
    out.push(...rd.messages);
    c.advance(rd);
  }
  return out;
}

describe('election', () => {
  it('a single voter elects itself and commits its noop', () => {
    const h = new Harness(['a']);
    h.elect('a');
    expect(h.core('a').status()).toMatchObject({ role: 'leader', term: 1, commit: 1 });
    expect(h.applied.get('a')![0]!.type).toBe('noop');
  });

  it('three members elect one leader, and everyone learns it', () => {
    const h = new Harness(ABC);
    h.elect('b');
    for (const id of ABC) expect(h.core(id).status()).toMatchObject({ term: 1, leader: 'b', commit: 1 });
  });

  it('randomises election timeouts in [electionTicks, 2 * electionTicks)', () => {
    const seen = new Set<number>();
    for (let seed = 0; seed < 200; seed++) {
      const c = new RaftCore({
        id: 'a',
        random: seededRandom(seed),
        initial: {
          hardState: { term: 0, vote: null, commit: 0 },
          entries: [],
          membership: { voters: ABC, learners: [] },
        },
      });
      let ticks = 0;
      while (c.status().role === 'follower') {
        c.tick();
        ticks++;
      }
      seen.add(ticks);
    }
    expect(Math.min(...seen)).toBe(10);
    expect(Math.max(...seen)).toBe(19);
  });

  // Vote rules: one vote per term (§5.2) and only for a log at least as up to date (§5.4.1).
  it.each<
    [string, { term: number; vote: string | null; last: [number, number] }, [number, number, number], boolean]
  >([
    ['fresh voter, equal log', { term: 1, vote: null, last: [2, 1] }, [2, 2, 1], true],
    ['higher last term wins over longer log', { term: 1, vote: null, last: [5, 1] }, [2, 2, 2], true],
    ['shorter log of the same term', { term: 1, vote: null, last: [3, 1] }, [2, 2, 1], false],
    ['lower last term', { term: 2, vote: null, last: [2, 2] }, [3, 9, 1], false],
    ['already voted for another this term', { term: 2, vote: 'c', last: [0, 0] }, [2, 5, 2], false],
    ['already voted for the same candidate', { term: 2, vote: 'b', last: [0, 0] }, [2, 5, 2], true],
    [
      'vote in an older term does not bind a newer one',
      { term: 2, vote: 'c', last: [0, 0] },
      [3, 5, 2],
      true,
    ],
  ])('vote: %s', (_, voter, [term, index, logTerm], granted) => {
    const entries = Array.from({ length: voter.last[0] }, (_, i) => entry(i + 1, voter.last[1]));
    const c = solo('a', { hs: { term: voter.term, vote: voter.vote, commit: 0 }, entries });
    c.step({ type: 'vote', from: 'b', to: 'a', term, index, logTerm });
    const rd = c.ready();
    expect(rd.messages).toEqual([
      expect.objectContaining({ type: 'vote-response', to: 'b', reject: !granted }),
    ]);
    if (granted)
      expect({ term: voter.term, vote: voter.vote, ...rd.hardState }).toMatchObject({ term, vote: 'b' });
  });

  it('persists the vote in the same Ready as the response that depends on it', () => {
    const c = solo('a');
    c.step({ type: 'vote', from: 'b', to: 'a', term: 1, index: 0, logTerm: 0 });
    const rd = c.ready();
    expect(rd.hardState).toEqual({ term: 1, vote: 'b', commit: 0 });
    expect(rd.messages[0]).toMatchObject({ type: 'vote-response', reject: false });
  });

  it('pre-vote does not change terms: a partitioned member rejoins without disturbing the leader', () => {
    const h = new Harness(ABC);
    h.elect('a');
    h.isolate('c');
    h.tick('c', 200);
    h.stabilize();
    expect(h.core('c').status().term).toBe(1); // pre-votes went nowhere, no term was burnt
    h.heal();
    h.tick('a', 1);
    h.stabilize();
    expect(h.core('a').status()).toMatchObject({ role: 'leader', term: 1 });
    expect(h.core('c').status()).toMatchObject({ role: 'follower', leader: 'a', term: 1 });
  });

  it('without pre-vote a partitioned member bumps its term and forces a new election on return', () => {
    const h = new Harness(ABC, { preVote: false, checkQuorum: false });
    h.elect('a');
    h.isolate('c');
    h.tick('c', 40);
    expect(h.core('c').status().term).toBeGreaterThan(1);
    h.heal();
    h.tick('a', 1);
    h.stabilize();
    expect(h.core('a').status().role).not.toBe('leader');
  });

  it('check-quorum: a leader cut off from the majority steps down after an election timeout', () => {
    const h = new Harness(ABC);
    h.elect('a');
    h.isolate('a');
    for (let i = 0; i < 25; i++) {
      h.tick('a');
      h.stabilize();
    }
    expect(h.core('a').status()).toMatchObject({ role: 'follower', leader: null });
  });

  it('leader stickiness: a follower that hears from its leader ignores (pre-)votes', () => {
    const c = solo('b');
    c.step({ type: 'heartbeat', from: 'a', to: 'b', term: 1, commit: 0 });
    drain(c);
    for (const type of ['pre-vote', 'vote'] as const) {
      c.step({ type, from: 'c', to: 'b', term: 2, index: 0, logTerm: 0 });
      expect(drain(c)).toEqual([]);
    }
    expect(c.status()).toMatchObject({ term: 1, leader: 'a' });
    // A transfer's vote carries a marker that overrides stickiness.
    c.step({ type: 'vote', from: 'c', to: 'b', term: 2, index: 0, logTerm: 0, context: CAMPAIGN_TRANSFER });
    expect(drain(c)).toEqual([expect.objectContaining({ type: 'vote-response', reject: false, term: 2 })]);
  });

  it('a stale leader hearing from a newer term steps down', () => {
    const h = new Harness(ABC);
    h.elect('a');
    h.isolate('a');
    const newLeader = () => ['b', 'c'].find((id) => h.core(id).status().role === 'leader');
    for (let i = 0; i < 40 && !newLeader(); i++) {
      h.tick('b');
      h.tick('c');
      h.stabilize();
    }
    const l = newLeader()!;
    const { term } = h.core(l).status();
    expect(term).toBeGreaterThan(1);
    expect(h.core('a').status()).toMatchObject({ role: 'leader', term: 1 }); // has not noticed yet
    h.heal();
    h.tick('a', 1); // a's heartbeat at term 1 is answered with the newer term
    h.stabilize();
    h.tick(l, 1);
    h.stabilize();
    expect(h.core('a').status()).toMatchObject({ role: 'follower', term, leader: l });
  });
});

describe('replication', () => {
  it('commits and applies proposals in order on every member', () => {
    const h = new Harness(['a', 'b', 'c', 'd', 'e']);
    h.elect('a');
    for (let i = 0; i < 20; i++) expect(h.core('a').propose(utf8(`x${i}`))).toMatchObject({ ok: true });
    h.stabilize();
    const want = Array.from({ length: 20 }, (_, i) => `x${i}`);
    for (const id of ['a', 'b', 'c', 'd', 'e']) expect(h.appliedData(id)).toEqual(want);
  });

  it('batches proposals made between two Readies into one append per follower', () => {
    const h = new Harness(ABC);
    h.elect('a');
    h.sent.length = 0;
    for (let i = 0; i < 50; i++) h.core('a').propose(utf8(`x${i}`));
    const rd = h.core('a').ready();
    const appends = rd.messages.filter((m) => m.type === 'append');
    expect(appends.map((m) => [m.to, m.entries!.length])).toEqual([
      ['b', 50],
      ['c', 50],
    ]);
  });

  it('counts the leader toward a commit only once its own entries are durable', () => {
    // The runner sends a leader's appends before persisting them (send-before-persist.ts).
    const h = new Harness(ABC);
    h.elect('a');
    const a = h.core('a');
    const { index } = a.propose(utf8('x')) as { index: number };
    const rd = a.ready();
    for (const m of rd.messages) if (m.to === 'b') h.core('b').step(m);
    const frd = h.core('b').ready();
    h.core('b').advance(frd);
    for (const m of frd.messages) if (m.type === 'append-response') a.step(m);
    // b holds it durably: a quorum with the leader, but the leader's own copy is not on disk yet.
    expect(a.status().progress?.b?.match).toBe(index);
    expect(a.status().commit).toBe(index - 1);
    a.advance(rd);
    expect(a.status().commit).toBe(index);
  });

  it('tells caught-up followers a new commit with a one-way notice, not an empty append to answer', () => {
    const h = new Harness(ABC);
    h.elect('a');
    h.sent.length = 0;
    const { index } = h.core('a').propose(utf8('x')) as { index: number };
    h.stabilize();
    expect(h.sent.filter((m) => m.type === 'commit').map((m) => [m.to, m.commit])).toEqual([
      ['b', index],
      ['c', index],
    ]);
    expect(h.sent.filter((m) => m.type === 'append' && m.entries?.length === 0)).toEqual([]);
    for (const id of ['b', 'c']) expect(h.core(id).status().commit).toBe(index);
    // The notice is not answered: the followers answered the entries, and nothing else.
    expect(h.sent.filter((m) => m.from !== 'a').map((m) => m.type)).toEqual([
      'append-response',
      'append-response',
    ]);
  });

  it('a commit notice never moves a follower past its log, and one from an old term is refused', () => {
    const h = new Harness(ABC);
    h.elect('a');
    const b = h.core('b');
    const before = b.status();
    const last = before.commit;
    // A notice naming an index b does not hold would be a leader bug: commitTo refuses loudly.
    expect(() =>
      b.step({ type: 'commit', from: 'a', to: 'b', term: before.term, commit: last + 5 }),
    ).toThrow();
    const stale = { type: 'commit' as const, from: 'c', to: 'b', term: before.term - 1, commit: last };
    b.step(stale);
    const answers = drain(b).filter((m) => m.to === 'c');
    expect(answers.map((m) => [m.type, m.term])).toEqual([['append-response', before.term]]);
    expect(b.status()).toMatchObject({ term: before.term, leader: 'a', commit: last });
  });

  it('splits by maxEntriesPerAppend and keeps at most maxInflightAppends unacknowledged', () => {
    const h = new Harness(ABC, { maxEntriesPerAppend: 2, maxInflightAppends: 3 });
    h.elect('a');
    for (let i = 0; i < 20; i++) h.core('a').propose(utf8(`x${i}`));
    const rd = h.core('a').ready();
    const toB = rd.messages.filter((m) => m.type === 'append' && m.to === 'b');
    expect(toB.map((m) => m.entries!.length)).toEqual([2, 2, 2]);
    h.core('a').advance(rd);
    for (const m of rd.messages) h.core(m.to).step(m);
    h.stabilize();
    expect(h.appliedData('b')).toHaveLength(20);
  });

  it('answers an append below its commit index with the commit index, replacing nothing', () => {
    const c = solo('b', { hs: { term: 2, commit: 2 }, entries: [entry(1, 1), entry(2, 1)] });
    c.step({
      type: 'append',
      from: 'a',
      to: 'b',
      term: 2,
      index: 1,
      logTerm: 1,
      entries: [entry(2, 2)],
      commit: 2,
    });
    expect(drain(c)).toEqual([expect.objectContaining({ type: 'append-response', index: 2 })]);
    expect(c.status().lastIndex).toBe(2);
  });

  it.each<[string, Entry[]]>([
    ['a gap', [entry(2, 1), entry(4, 1)]],
    ['terms going backwards', [entry(2, 2), entry(3, 1)]],
    ['a term above the message term', [entry(2, 3)]],
  ])('drops a malformed append with %s', (_, entries) => {
    const c = solo('b', { hs: { term: 2 }, entries: [entry(1, 1)] });
    c.step({ type: 'append', from: 'a', to: 'b', term: 2, index: 1, logTerm: 1, entries, commit: 0 });
    expect(c.status().lastIndex).toBe(1);
  });

  it('refuses a persisted commit beyond the persisted log', () => {
    expect(() => solo('a', { hs: { term: 1, commit: 5 }, entries: [entry(1, 1)] })).toThrow(
      /beyond the last index/,
    );
  });

  // Rejection hints (fast backtracking): the follower names the last index whose term is not newer
  // than the leader's previous term, so the leader skips a whole conflicting term at once.
  it.each<[string, number[], [number, number], [number, number]]>([
    // follower terms by index, leader's (prevIndex, prevTerm), expected (rejectHint, hintTerm)
    ['follower log shorter', [1, 1], [5, 3], [2, 1]],
    ['follower has a longer stale term', [1, 2, 2, 2, 2], [5, 3], [5, 2]],
    ['follower tail from a newer term', [1, 1, 4, 4, 4], [5, 3], [2, 1]],
    ['conflict right at the start', [2, 2], [2, 1], [0, 0]],
  ])('reject hint: %s', (_, terms, [index, logTerm], [hint, hintTerm]) => {
    const c = solo('b', { hs: { term: 5 }, entries: terms.map((t, i) => entry(i + 1, t)) });
    c.step({ type: 'append', from: 'a', to: 'b', term: 5, index, logTerm, entries: [], commit: 0 });
    expect(drain(c)).toEqual([
      expect.objectContaining({ type: 'append-response', reject: true, index, rejectHint: hint, hintTerm }),
    ]);
  });

  it('converges a follower with a long divergent tail in few round trips', () => {
    // b and c hold 30 entries of term 1 that a never had; a leads term 3 with its own history.
    const stale = Array.from({ length: 30 }, (_, i) => entry(i + 2, 1, `stale${i}`));
    const h = new Harness(ABC, { maxEntriesPerAppend: 100 });
    h.elect('a');
    h.isolate('a');
    for (let i = 0; i < 30; i++) h.core('a').propose(utf8(`lost${i}`));
    h.stabilize();
    h.heal();
    h.isolate('c');
    h.tick('b', 30);
    h.stabilize();
    h.elect('b');
    for (const x of stale) h.core('b').propose(x.data);
    h.stabilize();
    h.heal();
    h.sent.length = 0;
    for (let i = 0; i < 3; i++) {
      h.tick('b');
      h.stabilize();
    }
    const rejections = h.sent.filter((m) => m.type === 'append-response' && m.reject && m.from === 'a');
    expect(rejections.length).toBeLessThanOrEqual(2);
    expect(h.appliedData('a')).toEqual(h.appliedData('b'));
    expect(h.appliedData('a')).not.toContain('lost0');
  });

  // Raft paper Figure 8: an entry of an older term on a majority is not committed by counting.
  it('commits an older-term entry only together with an entry of the current term', () => {
    const h = new Harness(ABC, { maxEntriesPerAppend: 1 });
    const old = entry(2, 2, 'old');
    h.stores.set('a', { hardState: { term: 3, vote: null, commit: 1 }, entries: [entry(1, 1), old] });
    h.stores.set('b', { hardState: { term: 3, vote: null, commit: 1 }, entries: [entry(1, 1)] });
    h.stores.set('c', { hardState: { term: 3, vote: null, commit: 1 }, entries: [entry(1, 1)] });
    for (const id of ABC) h.restart(id);
    // Let the first append through (it is rejected: b and c lack index 2), then drop every
    // append carrying the term-4 noop, so the followers get only the term-2 entry.
    const probed = new Set<string>();
    h.drop = (m: Message) => {
      if (m.type !== 'append' || !(m.entries ?? []).some((e) => e.term === 4)) return false;
      if (!probed.has(m.to)) {
        probed.add(m.to);
        return false;
      }
      return true;
    };
    h.elect('a');
    expect(h.core('a').status()).toMatchObject({ role: 'leader', term: 4 });
    // Every member now stores the term-2 entry, but none of the leader's term-4 noop.
    expect(h.stores.get('b')!.entries.map((e) => e.term)).toEqual([1, 2]);
    expect(h.core('a').status().commit).toBe(1);
    h.drop = () => false;
    h.tick('a');
    h.stabilize();
    expect(h.core('a').status().commit).toBe(3);
    expect(h.appliedData('c')).toEqual(['e1', 'old']);
  });
});

describe('crash and restart', () => {
  it('a restarted member keeps its term and vote and catches up', () => {
    const h = new Harness(ABC);
    h.elect('a');
    h.core('a').propose(utf8('one'));
    h.stabilize();
    h.crash('c');
    h.core('a').propose(utf8('two'));
    h.stabilize();
    const c = h.restart('c');
    expect(c.status()).toMatchObject({ term: 1, commit: 2, applied: 0 });
    h.tick('a');
    h.stabilize();
    expect(h.appliedData('c')).toEqual(['one', 'two']);
    expect(h.stores.get('c')!.hardState.vote).toBe('a');
  });

  it('resumes applying after the index its state machine already holds', () => {
    const c = new RaftCore({
      id: 'a',
      random: seededRandom(1),
      initial: {
        hardState: { term: 1, vote: 'a', commit: 3 },
        entries: [entry(1, 1), entry(2, 1), entry(3, 1)],
        membership: { voters: ['a'], learners: [] },
        applied: 2,
      },
    });
    expect(c.ready().committedEntries.map((e) => e.index)).toEqual([3]);
  });
});

describe('snapshots and compaction', () => {
  it('a follower behind the compacted log receives the snapshot, then the entries after it', () => {
    const h = new Harness(ABC);
    h.elect('a');
    h.crash('c');
    for (let i = 0; i < 10; i++) h.core('a').propose(utf8(`x${i}`));
    h.stabilize();
    const snap = h.core('a').compact(8, utf8('state@8'));
    expect(h.core('a').compact(7, utf8('older'))).toBe(snap); // already covered
    expect(snap.metadata).toEqual({ index: 8, term: 1, membership: { voters: ABC, learners: [] } });
    expect(() => h.core('a').compact(50, utf8('x'))).toThrow(/beyond applied/);
    h.restart('c');
    h.sent.length = 0;
    for (let i = 0; i < 3; i++) {
      h.tick('a');
      h.stabilize();
    }
    expect(h.sent.filter((m) => m.type === 'snapshot').map((m) => m.to)).toEqual(['c']);
    expect(h.stores.get('c')!.snapshot?.data).toEqual(utf8('state@8'));
    expect(h.core('c').status()).toMatchObject({ commit: 11, applied: 11 });
    expect(h.appliedData('c')).toEqual(['x7', 'x8', 'x9']); // 9..11 after the snapshot at 8
  });

  it('a lost snapshot is sent again', () => {
    const h = new Harness(ABC);
    h.elect('a');
    h.crash('c');
    for (let i = 0; i < 5; i++) h.core('a').propose(utf8(`x${i}`));
    h.stabilize();
    h.core('a').compact(6, utf8('s'));
    h.restart('c');
    let lost = 0;
    h.drop = (m) => m.type === 'snapshot' && lost++ === 0;
    for (let i = 0; i < 40; i++) {
      h.tick('a');
      h.stabilize();
    }
    expect(lost).toBe(2);
    expect(h.core('c').status().commit).toBe(6);
  });
});

describe('membership', () => {
  it('adds a learner, which catches up without voting, then promotes it', () => {
    const h = new Harness(ABC);
    h.elect('a');
    for (let i = 0; i < 5; i++) h.core('a').propose(utf8(`x${i}`));
    h.stabilize();
    h.add('d'); // joins knowing no membership: it learns it from the log
    expect(h.core('a').proposeConfChange({ kind: 'add-learner', member: 'd' })).toMatchObject({ ok: true });
    h.tick('a');
    h.stabilize();
    const st = h.core('a').status();
    expect(st.progress!['d']).toMatchObject({ match: st.lastIndex });
    expect(h.core('d').status()).toMatchObject({
      role: 'learner',
      membership: { voters: ABC, learners: ['d'] },
    });
    expect(h.appliedData('d')).toEqual(['x0', 'x1', 'x2', 'x3', 'x4']);
    h.tick('d', 100); // learners never campaign
    expect(h.core('d').status().role).toBe('learner');
    expect(h.core('a').proposeConfChange({ kind: 'promote', member: 'd' })).toMatchObject({ ok: true });
    h.stabilize();
    expect(h.core('d').status()).toMatchObject({ role: 'follower', membership: { voters: [...ABC, 'd'] } });
    // Four voters: a quorum is three, so two members down stop commits.
    h.crash('c');
    h.crash('d');
    h.core('a').propose(utf8('stuck'));
    h.stabilize();
    expect(h.appliedData('a')).not.toContain('stuck');
  });

  it('takes one change at a time, and only after the leader committed in its term', () => {
    const h = new Harness(ABC);
    h.elect('a');
    h.cut.add('a>b');
    h.cut.add('a>c');
    expect(h.core('a').proposeConfChange({ kind: 'add-learner', member: 'd' })).toMatchObject({ ok: true });
    expect(h.core('a').proposeConfChange({ kind: 'add-learner', member: 'e' })).toMatchObject({
      ok: false,
      reason: 'dropped',
      detail: expect.stringMatching(/not committed yet/),
    });
    expect(h.core('a').proposeConfChange({ kind: 'remove', member: 'x' })).toMatchObject({ ok: false });
    expect(h.core('b').proposeConfChange({ kind: 'remove', member: 'c' })).toEqual({
      ok: false,
      reason: 'not-leader',
      leader: 'a',
    });
  });

  it('refuses a change until the new leader has committed an entry of its term', () => {
    const h = new Harness(ABC);
    h.drop = (m) => m.type === 'append-response';
    h.elect('a');
    expect(h.core('a').proposeConfChange({ kind: 'add-learner', member: 'd' })).toMatchObject({
      ok: false,
      reason: 'dropped',
      detail: expect.stringMatching(/not yet committed an entry of its term/),
    });
    h.drop = () => false;
    h.tick('a');
    h.stabilize();
    expect(h.core('a').proposeConfChange({ kind: 'add-learner', member: 'd' })).toMatchObject({ ok: true });
  });

  it('removes a follower; the removed member cannot disturb the rest', () => {
    const h = new Harness(ABC);
    h.elect('a');
    expect(h.core('a').proposeConfChange({ kind: 'remove', member: 'c' })).toMatchObject({ ok: true });
    h.stabilize();
    expect(h.core('a').status().membership).toEqual({ voters: ['a', 'b'], learners: [] });
    expect(h.core('a').status().progress!['c']).toBeUndefined();
    h.tick('c', 100);
    h.stabilize();
    h.core('a').propose(utf8('after'));
    h.stabilize();
    expect(h.core('a').status()).toMatchObject({ role: 'leader', term: 1 });
    expect(h.appliedData('b')).toEqual(['after']);
  });

  it('removes the leader: it steps down once the change commits and hands over', () => {
    const h = new Harness(ABC);
    h.elect('a');
    expect(h.core('a').proposeConfChange({ kind: 'remove', member: 'a' })).toMatchObject({ ok: true });
    h.stabilize();
    expect(h.core('a').status().role).toBe('follower');
    const leader = h.leader();
    expect(leader === 'b' || leader === 'c').toBe(true);
    expect(h.core(leader!).status().membership.voters).toEqual(['b', 'c']);
    h.core(leader!).propose(utf8('after'));
    h.stabilize();
    expect(h.appliedData(leader === 'b' ? 'c' : 'b')).toEqual(['after']);
  });

  it('reverts a membership change when its uncommitted entry is overwritten', () => {
    const b = solo('b', { hs: { term: 1 } });
    const cc: Entry = {
      index: 1,
      term: 1,
      type: 'conf-change',
      data: new Uint8Array([1, 2, 1, 0, 0x63]), // remove 'c'
    };
    b.step({ type: 'append', from: 'a', to: 'b', term: 1, index: 0, logTerm: 0, entries: [cc], commit: 0 });
    expect(b.status().membership.voters).toEqual(['a', 'b']);
    b.step({
      type: 'append',
      from: 'c',
      to: 'b',
      term: 2,
      index: 0,
      logTerm: 0,
      entries: [entry(1, 2)],
      commit: 0,
    });
    expect(b.status().membership.voters).toEqual(ABC);
    const rd = b.ready();
    expect(rd.membership).toBeUndefined(); // back where the last Ready left it
  });

  it('a noop carrying the membership sets it outright', () => {
    const d = solo('d', { voters: [] });
    const noop: Entry = {
      index: 1,
      term: 1,
      type: 'noop',
      data: encodeMembership({ voters: ABC, learners: ['d'] }),
    };
    d.step({ type: 'append', from: 'a', to: 'd', term: 1, index: 0, logTerm: 0, entries: [noop], commit: 0 });
    expect(d.ready().membership).toEqual({ voters: ABC, learners: ['d'] });
  });
});

describe('leadership transfer', () => {
  it('catches the target up, then hands over with timeout-now', () => {
    const h = new Harness(ABC);
    h.elect('a');
    h.cut.add('a>c');
    for (let i = 0; i < 5; i++) h.core('a').propose(utf8(`x${i}`));
    h.stabilize();
    h.heal();
    h.core('a').transferLeadership('c');
    expect(h.core('a').propose(utf8('during'))).toEqual({ ok: false, reason: 'transferring' });
    h.stabilize();
    expect(h.leader()).toBe('c');
    expect(h.core('c').status().term).toBe(2);
    expect(h.sent.some((m) => m.type === 'timeout-now' && m.to === 'c')).toBe(true);
  });

  it('gives up after an election timeout when the target does not answer', () => {
    const h = new Harness(ABC);
    h.elect('a');
    h.crash('c');
    h.core('a').transferLeadership('c');
    expect(h.core('a').propose(utf8('x'))).toMatchObject({ ok: false, reason: 'transferring' });
    for (let i = 0; i < 10; i++) {
      h.tick('a');
      h.stabilize();
    }
    expect(h.core('a').propose(utf8('x'))).toMatchObject({ ok: true });
  });
});

describe('linearizable reads (ReadIndex)', () => {
  it('the leader answers with its commit index after a quorum heartbeat round', () => {
    const h = new Harness(ABC);
    h.elect('a');
    h.core('a').propose(utf8('x'));
    h.stabilize();
    h.core('a').readIndex(utf8('r1'));
    expect(h.core('a').ready().readStates).toEqual([]); // not before the round
    h.stabilize();
    expect(h.readStates.get('a')).toEqual([{ index: 2, context: utf8('r1') }]);
  });

  it('one heartbeat round confirms every read asked for before it', () => {
    const h = new Harness(ABC);
    h.elect('a');
    h.sent.length = 0;
    for (let i = 0; i < 10; i++) h.core('a').readIndex(utf8(`r${i}`));
    h.stabilize();
    expect(h.sent.filter((m) => m.type === 'heartbeat')).toHaveLength(2);
    expect(h.readStates.get('a')!.map((r) => new TextDecoder().decode(r.context))).toEqual(
      Array.from({ length: 10 }, (_, i) => `r${i}`),
    );
  });

  it('a follower forwards the read and learns the index from the leader', () => {
    const h = new Harness(ABC);
    h.elect('a');
    h.core('c').readIndex(utf8('r2'));
    h.stabilize();
    expect(h.readStates.get('c')).toEqual([{ index: 1, context: utf8('r2') }]);
  });

  it('a leader cut off from the majority never confirms a read', () => {
    const h = new Harness(ABC);
    h.elect('a');
    h.isolate('a');
    h.core('a').readIndex(utf8('r3'));
    for (let i = 0; i < 30; i++) {
      h.tick('a');
      h.stabilize();
    }
    expect(h.readStates.get('a')).toEqual([]);
  });

  it('waits until the new leader has committed an entry of its term', () => {
    const h = new Harness(ABC);
    h.drop = (m) => m.type === 'append-response';
    h.elect('a');
    h.core('a').readIndex(utf8('r4'));
    h.stabilize();
    expect(h.readStates.get('a')).toEqual([]);
    h.drop = () => false;
    h.tick('a');
    h.stabilize();
    expect(h.readStates.get('a')).toEqual([{ index: 1, context: utf8('r4') }]);
  });
});

describe('proposals', () => {
  it('a follower redirects to the leader; a forwarded propose message is appended', () => {
    const h = new Harness(ABC);
    h.elect('a');
    expect(h.core('b').propose(utf8('x'))).toEqual({ ok: false, reason: 'not-leader', leader: 'a' });
    h.core('a').step({ type: 'propose', from: 'b', to: 'a', term: 1, entries: [entry(0, 0, 'fwd')] });
    h.stabilize();
    expect(h.appliedData('c')).toEqual(['fwd']);
  });
});

describe('determinism', () => {
  it('same seeds and inputs give the same messages', () => {
    const run = () => {
      const h = new Harness(['a', 'b', 'c', 'd', 'e']);
      for (let t = 0; t < 60; t++) {
        for (const id of ['a', 'b', 'c', 'd', 'e']) h.tick(id);
        h.stabilize();
        const l = h.leader();
        if (l && t % 3 === 0) h.core(l).propose(utf8(`t${t}`));
      }
      return JSON.stringify(h.sent.map((m) => [m.type, m.from, m.to, m.term, m.index]));
    };
    expect(run()).toEqual(run());
  });
});
