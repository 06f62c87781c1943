// keyfleet history: fetches a user's key history with its akd key-history proof and verifies
// it against the signed head's root (all versions, or the most recent N): every version's
// value, that each older version was marked stale when the next was published, the past
// markers, and that no future version exists. Prints every verified version, newest first.
import { headJson, headLines, keysLines, valueJson, valueLines } from '../directory/report.ts';
import { historyParams, verifyHistoryResponse } from '../directory/verify.ts';
import { parseHistoryResponse } from '../directory/wire.ts';
import { type Command, UsageError } from './command.ts';
import {
  directoryOptions,
  fetchUserProof,
  integerFlag,
  RESPONSE_LIMITS,
  reportFailure,
  TRUST_USAGE,
  userFlag,
} from './directory-client.ts';

/** The most versions a directory reader proves in one history (directory-node's limit). */
export const MAX_HISTORY_VERSIONS = 1000;

export const historyCommand: Command = {
  name: 'history',
  summary: "fetch a user's key history from a key directory and verify its history proof",
  usage: [
    'keyfleet history --url URL --user NAME (--vrf-key HEX --signing-key HEX | --trust FILE) [--most-recent N] [--epoch N] [--json]',
    '  --user NAME          the username (UTF-8)',
    `  --most-recent N      only the N newest versions (1..${MAX_HISTORY_VERSIONS}); default: the complete history`,
    '  --epoch N            require the proof at epoch N or later (the last epoch you saw)',
    TRUST_USAGE,
  ].join('\n'),
  async run(context) {
    if (context.args.length > 0)
      throw new UsageError(`unexpected argument ${JSON.stringify(context.args[0])}`);
    const options = directoryOptions(context);
    const user = userFlag(context);
    const mostRecent = integerFlag(context, 'most-recent', 1, MAX_HISTORY_VERSIONS);
    const minEpoch = integerFlag(context, 'epoch', 1, Number.MAX_SAFE_INTEGER) ?? 0;
    const params = historyParams(mostRecent);
    try {
      const query = `username=${encodeURIComponent(user)}${mostRecent === undefined ? '' : `&mostRecent=${mostRecent}`}`;
      const { head, response } = await fetchUserProof(
        options,
        { path: `v1/history?${query}`, maxBytes: RESPONSE_LIMITS.history, parse: parseHistoryResponse },
        user,
        minEpoch,
      );
      const result = verifyHistoryResponse(options.trust, head, response, user, params);
      const scope = params.kind === 'complete' ? 'complete history' : `the ${params.n} most recent versions`;
      if (context.json) {
        context.out(
          JSON.stringify(
            {
              verified: true,
              kind: 'history',
              username: user,
              params,
              head: headJson(head),
              versions: result.versions.map(valueJson),
            },
            null,
            2,
          ),
        );
      } else {
        context.out(
          [
            `VERIFIED key history of ${JSON.stringify(user)} (${scope}): ${result.versions.length} version(s), newest first`,
            ...headLines(head),
            ...keysLines(options.trust.signingPublicKey, options.trust.vrfPublicKey),
            ...result.versions.flatMap((v) => ['', ...valueLines(v, '    ')]),
            '',
            '  checked        the epoch head signature; the proof is at the latest epoch or newer; each version',
            '                 exists with its value, each older one became stale when the next was published,',
            '                 the past markers exist, no future version exists; all labels are VRF outputs',
          ].join('\n'),
        );
      }
      return 0;
    } catch (e) {
      return reportFailure(context, 'history', e);
    }
  },
};
