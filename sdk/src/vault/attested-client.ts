// A backup client that trusts a fleet only through its verified deployment attestation: it gets
// the fleet's validation bundle (GET /v1/attestation, or one the caller supplies), accepts it with
// acceptFleetBundle() against the client's attestation trust and its last accepted bundle, records
// it as the new last accepted one, and only then talks escrow, with:
//   - the attested members' HSM identity keys as the only keys whose signed responses count (the
//     escrow responses are signed by the answering member's HSM identity key over transcripts that
//     include this client's fresh OPAQUE message, so a member cannot be impersonated or replayed);
//   - the attested OPAQUE server key pinned;
//   - every response naming a member the bundle does not list refused as 'member-not-in-bundle'.
import { MAX_BUNDLE_BYTES } from '../attestation/bundle.ts';
import type { AttestationTrustFile } from '../attestation/trust.ts';
import { BackupClient, httpTransport, type KeyStretching, type Transport } from '../backup/client.ts';
import type { AcceptedBundleStore } from './accepted-bundles.ts';
import { HttpPath } from './contract.ts';
import { type AcceptedFleet, acceptFleetBundle, FleetRefusedError } from './fleet-attestation.ts';

const FETCH_TIMEOUT_MS = 15_000;

/** GET `<baseUrl>/v1/attestation`, at most MAX_BUNDLE_BYTES, no redirects. */
export async function fetchFleetBundle(
  baseUrl: string,
  o: { fetch?: typeof fetch; timeoutMs?: number } = {},
): Promise<Uint8Array> {
  const url = `${baseUrl.replace(/\/+$/, '')}${HttpPath.attestation}`;
  let response: Response;
  try {
    response = await (o.fetch ?? fetch)(url, {
      redirect: 'error',
      headers: { accept: 'application/json' },
      signal: AbortSignal.timeout(o.timeoutMs ?? FETCH_TIMEOUT_MS),
    });
  } catch (e) {
    throw new FleetRefusedError(
      'no-bundle',
      `could not fetch the fleet's attestation from ${url}: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  if (!response.ok || response.body === null) {
    const detail = response.status === 404 ? 'the fleet has published no attestation' : 'no bundle';
    await response.body?.cancel();
    throw new FleetRefusedError('no-bundle', `GET ${url}: HTTP ${response.status}: ${detail}`);
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of response.body) {
    total += chunk.length;
    if (total > MAX_BUNDLE_BYTES) {
      throw new FleetRefusedError('invalid-bundle', `GET ${url}: larger than ${MAX_BUNDLE_BYTES} bytes`);
    }
    chunks.push(chunk);
  }
  return new Uint8Array(Buffer.concat(chunks));
}

/** Refuses any successful response that names a member the accepted bundle does not list. */
export function attestedTransport(inner: Transport, accepted: AcceptedFleet): Transport {
  return async (path, body) => {
    const r = await inner(path, body);
    const member = (r.body as { member?: unknown } | null)?.member;
    if (r.status >= 200 && r.status <= 299 && typeof member === 'string' && !accepted.members.has(member)) {
      throw new FleetRefusedError(
        'member-not-in-bundle',
        `member ${JSON.stringify(member.slice(0, 64))} answered ${path}, but the fleet's attestation (serial ${accepted.serial}, ${accepted.envelopeDigest}) lists only ${[...accepted.members.keys()].join(', ')}`,
      );
    }
    return r;
  };
}

export interface AttestedFleetOptions {
  /** The fleet's client API, e.g. http://backups.vaults.svc:8080. */
  readonly url: string;
  /** The fleet meant, `<namespace>/<name>`. */
  readonly fleetId: string;
  readonly trust: AttestationTrustFile;
  readonly store: AcceptedBundleStore;
  /** A bundle obtained by the caller; otherwise it is fetched from the fleet. */
  readonly bundle?: Uint8Array;
  /** Escrow transport (default: HTTP to `url`). */
  readonly transport?: Transport;
  readonly fetch?: typeof fetch;
  readonly now?: () => number;
  readonly keyStretching?: KeyStretching;
}

/**
 * Verifies and records the fleet's attestation, then returns a BackupClient that trusts exactly
 * the attested deployment. Throws FleetRefusedError (code and reasons) when the fleet is refused.
 */
export async function connectAttestedFleet(
  o: AttestedFleetOptions,
): Promise<{ client: BackupClient; accepted: AcceptedFleet }> {
  const bundle = o.bundle ?? (await fetchFleetBundle(o.url, o.fetch ? { fetch: o.fetch } : {}));
  let lastAccepted: Uint8Array | undefined;
  try {
    lastAccepted = o.store.load(o.fleetId);
  } catch (e) {
    throw new FleetRefusedError(
      'bad-state',
      `cannot read the last accepted bundle: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  const accepted = acceptFleetBundle(bundle, {
    trust: o.trust,
    fleetId: o.fleetId,
    lastAccepted,
    now: (o.now ?? Date.now)(),
  });
  o.store.save(accepted);
  const client = new BackupClient({
    fleetId: accepted.fleetId,
    trustedMembers: accepted.members,
    opaqueServerPublicKey: accepted.opaqueServerPublicKey,
    transport: attestedTransport(o.transport ?? httpTransport(o.url), accepted),
    ...(o.keyStretching ? { keyStretching: o.keyStretching } : {}),
  });
  return { client, accepted };
}
