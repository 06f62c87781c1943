// keyfleet audit: does a witness's job as a client. Fetches the signed heads of epochs
// FROM..TO and the audit blob of every transition between them, and verifies epoch by epoch
// that each head is signed, extends the previous verified root, and that the append-only
// proof takes the previous root to the new one (nothing changed or removed, only inserted).
// --from 0 starts from akd's empty tree, so the whole history is checked.
import { bytesToHex } from '@noble/hashes/utils.js';
import { headJson } from '../directory/report.ts';
import {
  checkProofHead,
  GENESIS_ROOT_HASH,
  type VerifiedHead,
  type VerifiedTransition,
  verifyAuditTransition,
} from '../directory/verify.ts';
import { parseAuditResponse } from '../directory/wire.ts';
import { type Command, UsageError } from './command.ts';
import {
  directoryOptions,
  FetchError,
  fetchVerifiedHead,
  getJson,
  integerFlag,
  RESPONSE_LIMITS,
  reportFailure,
  TRUST_USAGE,
} from './directory-client.ts';

/** Most epochs one run audits (each is a few requests; a long range is better done in parts). */
export const MAX_AUDIT_EPOCHS = 100_000;

export const auditCommand: Command = {
  name: 'audit',
  summary: "verify a key directory's append-only proofs epoch by epoch (a witness's check)",
  usage: [
    'keyfleet audit --url URL (--vrf-key HEX --signing-key HEX | --trust FILE) [--from A] [--to B] [--json]',
    '  --from A             first epoch whose root is checked (default 0: the empty tree before epoch 1)',
    '  --to B               last epoch (default: the latest signed epoch)',
    `  (at most ${MAX_AUDIT_EPOCHS} epochs per run; audits need no VRF key: --vrf-key is optional)`,
    TRUST_USAGE,
  ].join('\n'),
  async run(context) {
    if (context.args.length > 0)
      throw new UsageError(`unexpected argument ${JSON.stringify(context.args[0])}`);
    const options = directoryOptions(context, false);
    const from = integerFlag(context, 'from', 0, Number.MAX_SAFE_INTEGER) ?? 0;
    const requestedTo = integerFlag(context, 'to', 1, Number.MAX_SAFE_INTEGER);
    if (requestedTo !== undefined && requestedTo <= from)
      throw new UsageError('--to must be greater than --from');
    const transitions: VerifiedTransition[] = [];
    const heads: VerifiedHead[] = [];
    let to = requestedTo;
    try {
      const latest = await fetchVerifiedHead(options, 'latest');
      to ??= latest.epoch;
      if (to > latest.epoch) {
        throw new FetchError(`epoch ${to} is not published yet: the latest signed epoch is ${latest.epoch}`);
      }
      if (to <= from) throw new FetchError(`nothing to audit: the latest signed epoch is ${latest.epoch}`);
      if (to - from > MAX_AUDIT_EPOCHS)
        throw new UsageError(`audit at most ${MAX_AUDIT_EPOCHS} epochs per run`);
      const namespace = latest.namespace;
      let previousRoot = from === 0 ? GENESIS_ROOT_HASH : (await headOf(from)).rootHash;
      for (let epoch = from + 1; epoch <= to; epoch++) {
        const head = await headOf(epoch);
        const raw = await getJson(options, `v1/audit/${epoch}`, RESPONSE_LIMITS.audit);
        if (raw === undefined)
          throw new FetchError(`the directory serves no audit blob for epoch ${epoch} (HTTP 404)`);
        const transition = verifyAuditTransition(
          previousRoot,
          head,
          parseAuditResponse(raw, RESPONSE_LIMITS.audit),
        );
        transitions.push(transition);
        if (!context.json) context.out(transitionLine(transition));
        previousRoot = head.rootHash;
      }
      // when auditing up to the latest epoch its head was fetched twice: both must be the same
      if (to === latest.epoch) checkProofHead(latest, heads[heads.length - 1] as VerifiedHead);

      async function headOf(epoch: number): Promise<VerifiedHead> {
        const head = await fetchVerifiedHead(options, epoch);
        if (head.namespace !== namespace) {
          throw new FetchError(
            `epoch ${epoch} is signed for namespace ${JSON.stringify(head.namespace)}, not ${JSON.stringify(namespace)}`,
          );
        }
        heads.push(head);
        return head;
      }
    } catch (e) {
      if (transitions.length > 0 && !context.json) {
        context.err(
          `keyfleet audit: epochs ${from}..${from + transitions.length} verified before the failure`,
        );
      }
      return reportFailure(context, 'audit', e);
    }
    const last = heads[heads.length - 1] as VerifiedHead;
    if (context.json) {
      context.out(
        JSON.stringify(
          {
            verified: true,
            kind: 'audit',
            from,
            to,
            head: headJson(last),
            epochs: transitions.map((t) => ({
              epoch: t.epoch,
              previousRootHash: bytesToHex(t.previousRootHash),
              rootHash: bytesToHex(t.rootHash),
              inserted: t.inserted,
              unchangedSubtrees: t.unchanged,
            })),
          },
          null,
          2,
        ),
      );
    } else {
      context.out(
        [
          `VERIFIED append-only from epoch ${from} to epoch ${to} (${transitions.length} transitions) in namespace ${JSON.stringify(last.namespace)}`,
          `  root of epoch ${from}  ${bytesToHex(transitions[0]?.previousRootHash ?? last.rootHash)}${from === 0 ? ' (the empty tree)' : ''}`,
          `  root of epoch ${to}  ${bytesToHex(last.rootHash)}`,
          `  signing key    ${bytesToHex(options.trust.signingPublicKey)}`,
          '  checked        every head signed, each extends the previous root, one audit blob per epoch',
          '                 named for both roots, and its append-only proof takes one root to the next',
        ].join('\n'),
      );
    }
    return 0;
  },
};

function transitionLine(t: VerifiedTransition): string {
  return `epoch ${t.epoch}: append-only from ${bytesToHex(t.previousRootHash).slice(0, 16)}… to ${bytesToHex(t.rootHash).slice(0, 16)}… verified (${t.inserted} inserted, ${t.unchanged} unchanged subtrees)`;
}
