// keyfleet backup register|recover: the whole OPAQUE flow against a fleet. The password is read
// from a file or standard input (never from the command line, where other users can see it). The
// fleet is trusted only through its signed deployment attestation, verified here before any escrow
// message is sent (sdk/src/vault/attested-client.ts); skipping that takes a flag that says it is
// insecure and a warning on every run.
import { readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { MAX_BUNDLE_BYTES } from '../attestation/bundle.ts';
import { AttestationError } from '../attestation/errors.ts';
import { MAX_TRUST_FILE_BYTES, parseAttestationTrust } from '../attestation/trust.ts';
import { BackupClient, BackupError, httpTransport } from '../backup/client.ts';
import { AcceptedBundleStore, isAttestedFleetId } from '../vault/accepted-bundles.ts';
import { connectAttestedFleet } from '../vault/attested-client.ts';
import { type AcceptedFleet, describeAccepted, FleetRefusedError } from '../vault/fleet-attestation.ts';
import { type FleetTrust, readFleetTrust, trustedMembers } from '../vault/trust-file.ts';
import { type Command, type CommandContext, requireFlag, UsageError } from './command.ts';

/** Exit status when the fleet is refused (its attestation or the member that answered). */
export const EXIT_FLEET_REFUSED = 4;
export const SKIP_ATTESTATION_FLAG = 'insecure-skip-attestation';

async function readPassword(context: CommandContext): Promise<string> {
  const file = context.flags.get('password-file');
  let text: string;
  if (typeof file === 'string') text = readFileSync(file, 'utf8');
  else if (context.flags.get('password-stdin') === true) {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    text = Buffer.concat(chunks).toString('utf8');
  } else throw new UsageError('give the password with --password-file FILE or --password-stdin');
  const password = text.replace(/\r?\n$/, '');
  if (password === '' || password.length > 1024)
    throw new UsageError('the password must be 1 to 1024 characters');
  return password;
}

function readLimited(file: string, maxBytes: number, what: string): Uint8Array {
  if (statSync(file).size > maxBytes)
    throw new UsageError(`${what} ${file} is larger than ${maxBytes} bytes`);
  return new Uint8Array(readFileSync(file));
}

function optionalFlag(context: CommandContext, name: string): string | undefined {
  const value = context.flags.get(name);
  if (value === true || value === '') throw new UsageError(`--${name} needs a value`);
  return value;
}

interface Connection {
  readonly client: BackupClient;
  readonly accepted: AcceptedFleet | null;
}

/** The old way: members pinned by the certificates of a --trust file, no attestation at all. */
function unattested(context: CommandContext, fleetTrust: FleetTrust | undefined, url: string): Connection {
  if (!fleetTrust)
    throw new UsageError(`--${SKIP_ATTESTATION_FLAG} needs --trust FILE (the member certificates)`);
  context.err(
    `WARNING: --${SKIP_ATTESTATION_FLAG}: the fleet's signed deployment attestation is NOT checked. ` +
      'Its members are trusted from the certificates in --trust alone: no operator signature, witness, ' +
      'transparency log, expiry or rollback check protects this run.',
  );
  return {
    client: new BackupClient({
      fleetId: fleetTrust.fleetId,
      trustedMembers: trustedMembers(fleetTrust),
      transport: httpTransport(url),
    }),
    accepted: null,
  };
}

async function connect(context: CommandContext): Promise<Connection> {
  const trustFile = optionalFlag(context, 'trust');
  const fleetTrust = trustFile === undefined ? undefined : readFleetTrust(trustFile);
  const url = optionalFlag(context, 'url') ?? fleetTrust?.url;
  if (!url) throw new UsageError('--url is required when no --trust file names the url');
  if (context.flags.has(SKIP_ATTESTATION_FLAG)) return unattested(context, fleetTrust, url);

  const attestationTrustFile = optionalFlag(context, 'attestation-trust');
  if (attestationTrustFile === undefined) {
    throw new UsageError(
      `--attestation-trust FILE is required: the fleet is verified through its signed deployment attestation (or pass --${SKIP_ATTESTATION_FLAG} with --trust, insecurely)`,
    );
  }
  const fleetId = optionalFlag(context, 'fleet') ?? fleetTrust?.fleetId;
  if (fleetId === undefined)
    throw new UsageError('--fleet NAMESPACE/NAME is required when no --trust file names the fleet');
  if (!isAttestedFleetId(fleetId))
    throw new UsageError(`--fleet ${JSON.stringify(fleetId)} is not NAMESPACE/NAME`);
  let trust: ReturnType<typeof parseAttestationTrust>;
  try {
    trust = parseAttestationTrust(
      readLimited(attestationTrustFile, MAX_TRUST_FILE_BYTES, 'attestation trust file'),
    );
  } catch (e) {
    if (e instanceof AttestationError) throw new UsageError(`${attestationTrustFile}: ${e.message}`);
    throw e;
  }
  const bundleFile = optionalFlag(context, 'bundle');
  const store = new AcceptedBundleStore(
    optionalFlag(context, 'state-dir') ?? join(dirname(attestationTrustFile), 'accepted-bundles'),
  );
  return connectAttestedFleet({
    url,
    fleetId,
    trust,
    store,
    ...(bundleFile === undefined ? {} : { bundle: readLimited(bundleFile, MAX_BUNDLE_BYTES, 'bundle') }),
  });
}

function readBackupKey(context: CommandContext): Uint8Array {
  const file = context.flags.get('key-file');
  if (typeof file !== 'string') return crypto.getRandomValues(new Uint8Array(32));
  const text = readFileSync(file, 'utf8').trim();
  const key = /^[0-9a-f]{64}$/.test(text) ? Buffer.from(text, 'hex') : Buffer.from(text, 'base64url');
  if (key.length !== 32) throw new UsageError('--key-file must hold 32 bytes as hex or base64url');
  return new Uint8Array(key);
}

function attestationJson(accepted: AcceptedFleet) {
  return {
    fleet: accepted.fleetId,
    serial: accepted.serial,
    envelopeDigest: accepted.envelopeDigest,
    directoryEpoch: accepted.directoryEpoch,
    changes: accepted.verification.changes ?? [],
    notes: accepted.verification.notes,
  };
}

const usage = `keyfleet backup register|recover --user ID (--password-file FILE | --password-stdin)
                --attestation-trust FILE (--fleet NAMESPACE/NAME | --trust FILE) (--url URL | --trust FILE)
                [--bundle FILE] [--state-dir DIR] [--key-file FILE] [--json]
  register  escrows a backup key (from --key-file, or a new random one) and prints it
  recover   recovers the backup key; every call is one counted guess

  Before any escrow message the fleet's deployment attestation is verified (as keyfleet
  verify-fleet does): operator signature, witness countersignature, freshness, transparency-log
  inclusion, every member's HSM certificate chain, and no rollback or fork against the bundle
  accepted last. Then only the attested members are trusted: every signed response must come from
  one of their HSM identity keys, and the attested OPAQUE server key is pinned.
  --attestation-trust FILE  operator, witness, manufacturer CA and directory keys (verify-fleet --trust)
  --fleet NS/NAME           the fleet you mean (default: fleetId of --trust); another fleet is refused
  --url URL                 the fleet's client API (default: url of --trust)
  --trust FILE              optional: a fleet trust file, for its fleetId and url
  --bundle FILE             use this validation bundle instead of GET <url>/v1/attestation
  --state-dir DIR           where the last accepted bundle of each fleet is kept, for rollback
                            detection (default: accepted-bundles/ beside --attestation-trust)
  --${SKIP_ATTESTATION_FLAG}
                            INSECURE: trust the member certificates of --trust without any
                            attestation (prints a warning on every run)
exit status: 0 done, 1 error, 2 usage, 3 wrong password or locked, ${EXIT_FLEET_REFUSED} fleet refused (attestation)`;

export const backupCommand: Command = {
  name: 'backup',
  summary: 'escrow a backup key behind a password (OPAQUE) or recover it, from a verified fleet',
  usage,
  async run(context) {
    const [action] = context.args;
    if (action !== 'register' && action !== 'recover') throw new UsageError('say register or recover');
    const user = requireFlag(context, 'user');
    const password = await readPassword(context);
    const fail = (code: string, message: string, extra: object = {}) => {
      if (context.json) context.out(JSON.stringify({ user, action, error: { code, message, ...extra } }));
      else context.err(`keyfleet backup ${action}: ${code}: ${message}`);
    };
    let accepted: AcceptedFleet | null = null;
    try {
      const fleet = await connect(context);
      accepted = fleet.accepted;
      if (accepted && !context.json) {
        context.err(`verified ${describeAccepted(accepted)}`);
        const { changes = [], notes } = accepted.verification;
        for (const line of [...changes.map((c) => `change since the previous deployment: ${c}`), ...notes])
          context.err(`  ${line}`);
      }
      let key: Uint8Array;
      if (action === 'register') {
        key = readBackupKey(context);
        await fleet.client.register(user, password, key);
      } else key = await fleet.client.recover(user, password);
      const hex = Buffer.from(key).toString('hex');
      if (context.json)
        context.out(
          JSON.stringify({
            user,
            action,
            backupKey: hex,
            ...(accepted ? { attestation: attestationJson(accepted) } : {}),
          }),
        );
      else context.out(`${action === 'register' ? 'escrowed' : 'recovered'} backup key for ${user}: ${hex}`);
      return 0;
    } catch (e) {
      if (e instanceof FleetRefusedError) {
        fail(`fleet-refused:${e.code}`, e.message, { reasons: e.reasons });
        return EXIT_FLEET_REFUSED;
      }
      if (!(e instanceof BackupError)) throw e;
      fail(e.code, e.message);
      return e.code === 'wrong-password' || e.code === 'locked' ? 3 : 1;
    }
  },
};
