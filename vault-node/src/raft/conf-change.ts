// Membership changes: their byte encoding inside a 'conf-change' entry, and how one changes a
// membership. Changes go one member at a time, so any majority of the old voters and any majority
// of the new ones share a member (Raft thesis §4.1); that is what lets a change take effect on
// append without a joint configuration.

import { ByteReader, ByteWriter, DecodeError } from '@keyfleet/sdk/bytes';
import { readMemberId, readMembership, writeMembership } from './storage/bytes.ts';
import type { ConfChange, MemberId, Membership } from './types.ts';

const VERSION = 1;
const KINDS: readonly ConfChange['kind'][] = ['add-learner', 'promote', 'remove'];

/** version(1) | kind(1) | member id (u16 length + UTF-8). */
export function encodeConfChange(cc: ConfChange): Uint8Array {
  return new ByteWriter(8 + cc.member.length)
    .u8(VERSION)
    .u8(KINDS.indexOf(cc.kind))
    .string16(cc.member)
    .finish();
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  const r = new ByteReader(data);
  const version = r.u8('conf change version');
  if (version !== VERSION) throw new DecodeError(`unsupported conf change version ${version}`);
  const k = r.u8('conf change kind');
  const kind = KINDS[k];
  if (kind === undefined) throw new DecodeError(`unknown conf change kind ${k}`);
  const member = readMemberId(r, 'conf change member');
  r.end('conf change');
  return { kind, member };
}

/**
 * A new leader's noop carries the membership in force at that point: a member that joins with no
 * bootstrap membership (it cannot know the fleet's first one) learns it from the first entry.
 */
export function encodeMembership(m: Membership): Uint8Array {
  const w = new ByteWriter(64);
  w.u8(VERSION);
  writeMembership(w, m);
  return w.finish();
}

export function decodeMembership(data: Uint8Array): Membership {
  const r = new ByteReader(data);
  const version = r.u8('membership version');
  if (version !== VERSION) throw new DecodeError(`unsupported membership version ${version}`);
  const m = readMembership(r);
  r.end('membership');
  return m;
}

/**
 * The membership after `cc`. Each kind sets the member's place outright (learner, voter, absent),
 * whatever it was, so replaying a change that already took effect changes nothing.
 */
export function applyConfChange(m: Membership, cc: ConfChange): Membership {
  const voters = m.voters.filter((v) => v !== cc.member);
  const learners = m.learners.filter((l) => l !== cc.member);
  if (cc.kind === 'add-learner') learners.push(cc.member);
  if (cc.kind === 'promote') voters.push(cc.member);
  return { voters, learners };
}

/** Why `cc` may not be proposed against `m`, or null when it may. */
export function confChangeProblem(m: Membership, cc: ConfChange): string | null {
  const voter = m.voters.includes(cc.member);
  const learner = m.learners.includes(cc.member);
  switch (cc.kind) {
    case 'add-learner':
      return voter || learner ? `${cc.member} is already a ${voter ? 'voter' : 'learner'}` : null;
    case 'promote':
      return learner ? null : `${cc.member} is not a learner: add it as a learner first`;
    case 'remove':
      if (!voter && !learner) return `${cc.member} is not a member`;
      return voter && m.voters.length === 1 ? `${cc.member} is the last voter` : null;
  }
}

export function isVoter(m: Membership, id: MemberId): boolean {
  return m.voters.includes(id);
}

export function isMember(m: Membership, id: MemberId): boolean {
  return m.voters.includes(id) || m.learners.includes(id);
}

export function quorum(m: Membership): number {
  return Math.floor(m.voters.length / 2) + 1;
}

export function sameMembership(a: Membership, b: Membership): boolean {
  const eq = (x: readonly MemberId[], y: readonly MemberId[]) =>
    x.length === y.length && x.every((v, i) => v === y[i]);
  return eq(a.voters, b.voters) && eq(a.learners, b.learners);
}
