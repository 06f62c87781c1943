import { describe, expect, it } from 'vitest';
import { JoiningPeers } from './joining-peers.ts';

function harness(o: { joining?: boolean; trusted?: boolean } = {}) {
  const state = { joining: o.joining ?? true, learnt: [] as string[], added: [] as string[] };
  let finish: (ok: boolean) => void = () => {};
  const peers = new JoiningPeers({
    joining: () => state.joining,
    learn: (m) => {
      state.learnt.push(m);
      return new Promise<boolean>((resolve) => {
        finish = resolve;
      });
    },
    addPeer: (m) => state.added.push(m),
  });
  const settle = async (ok = o.trusted ?? true) => {
    finish(ok);
    await new Promise((r) => setImmediate(r));
  };
  return { peers, state, settle };
}

describe('JoiningPeers', () => {
  it('adds an unknown sender as a peer once its certificate verifies, while the member has no membership', async () => {
    const { peers, state, settle } = harness();
    peers.unknownSender('backups-dc3');
    await settle(true);
    expect(state.learnt).toEqual(['backups-dc3']);
    expect(state.added).toEqual(['backups-dc3']);
  });

  it('does not add a sender whose certificate does not verify', async () => {
    const { peers, state, settle } = harness();
    peers.unknownSender('backups-dc3');
    await settle(false);
    expect(state.added).toEqual([]);
  });

  it('ignores unknown senders once the log has told the member its group (a removed member stays out)', async () => {
    const { peers, state } = harness({ joining: false });
    peers.unknownSender('backups-dc3');
    expect(state.learnt).toEqual([]);
  });

  it('does not add the sender if the member got its membership while the check ran', async () => {
    const { peers, state, settle } = harness();
    peers.unknownSender('backups-dc3');
    state.joining = false;
    await settle(true);
    expect(state.added).toEqual([]);
  });

  it('refuses names that are not member ids without a fetch', () => {
    const { peers, state } = harness();
    for (const name of ['', 'UPPER', '../etc', 'a'.repeat(70), 'x.evil.example:80/'])
      peers.unknownSender(name);
    expect(state.learnt).toEqual([]);
  });

  it('checks one sender at a time, so a flood of names costs one certificate fetch', async () => {
    const { peers, state, settle } = harness();
    for (let i = 0; i < 100; i++) peers.unknownSender(`backups-dc${i}`);
    expect(state.learnt).toEqual(['backups-dc0']);
    await settle(false);
    peers.unknownSender('backups-dc3');
    expect(state.learnt).toEqual(['backups-dc0', 'backups-dc3']);
  });
});
