// keyfleet lookup: fetches a user's current key from a directory reader with its lookup proof
// and verifies it: the signed epoch head (Ed25519, directory signing key), that the proof's
// head is not older than the latest one, and the akd lookup proof against that head's root
// with the directory VRF key. Prints what was verified, or the check that failed (exit 1).
import { headJson, headLines, keysLines, valueJson, valueLines } from '../directory/report.ts';
import { verifyLookupResponse } from '../directory/verify.ts';
import { parseLookupResponse } from '../directory/wire.ts';
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

export const lookupCommand: Command = {
  name: 'lookup',
  summary: "fetch a user's current key from a key directory and verify its lookup proof",
  usage: [
    'keyfleet lookup --url URL --user NAME (--vrf-key HEX --signing-key HEX | --trust FILE) [--epoch N] [--json]',
    '  --user NAME          the username (UTF-8)',
    '  --epoch N            require the proof at epoch N or later (the last epoch you saw)',
    TRUST_USAGE,
  ].join('\n'),
  async run(context) {
    if (context.args.length > 0)
      throw new UsageError(`unexpected argument ${JSON.stringify(context.args[0])}`);
    const options = directoryOptions(context);
    const user = userFlag(context);
    const minEpoch = integerFlag(context, 'epoch', 1, Number.MAX_SAFE_INTEGER) ?? 0;
    try {
      const { latest, head, response } = await fetchUserProof(
        options,
        {
          path: `v1/lookup?username=${encodeURIComponent(user)}`,
          maxBytes: RESPONSE_LIMITS.lookup,
          parse: parseLookupResponse,
        },
        user,
        minEpoch,
      );
      const result = verifyLookupResponse(options.trust, head, response, user);
      if (context.json) {
        context.out(
          JSON.stringify(
            { verified: true, kind: 'lookup', username: user, head: headJson(head), ...valueJson(result) },
            null,
            2,
          ),
        );
      } else {
        context.out(
          [
            `VERIFIED lookup of ${JSON.stringify(user)}`,
            ...headLines(head),
            ...valueLines(result),
            ...keysLines(options.trust.signingPublicKey, options.trust.vrfPublicKey),
            `  checked        the epoch head signature; the proof is at the latest epoch (${latest.epoch}) or newer;`,
            `                 version ${result.version} exists with this value, its marker exists, it is not stale;`,
            '                 the three labels are VRF outputs of the user under the VRF key',
          ].join('\n'),
        );
      }
      return 0;
    } catch (e) {
      return reportFailure(context, 'lookup', e);
    }
  },
};
