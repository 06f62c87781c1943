// keyfleet verify-fleet: checks a fleet-deployment validation bundle (file or URL) against the keys
// the user trusts, and prints what was verified and what changed since the previous deployment.
// Exit 0 valid, 1 invalid (with reasons), 2 usage. Formats: sdk/src/attestation/FORMAT.md.
import { readFileSync, statSync } from 'node:fs';
import { decodeBundle, MAX_BUNDLE_BYTES } from '../attestation/bundle.ts';
import { AttestationError } from '../attestation/errors.ts';
import { MAX_TRUST_FILE_BYTES, parseAttestationTrust } from '../attestation/trust.ts';
import { type FleetVerification, verifyFleetBundleBytes } from '../attestation/verify.ts';
import { type Command, type CommandContext, requireFlag, UsageError } from './command.ts';

const FETCH_TIMEOUT_MS = 15_000;

function readLimited(file: string, maxBytes: number): Uint8Array {
  const size = statSync(file).size;
  if (size > maxBytes) throw new UsageError(`${file} is larger than ${maxBytes} bytes`);
  return new Uint8Array(readFileSync(file));
}

/** GET `url`, reading at most `maxBytes` of the body (a hostile server cannot make us buffer more). */
async function fetchLimited(url: URL, maxBytes: number): Promise<Uint8Array> {
  const response = await fetch(url, {
    signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
    redirect: 'error',
    headers: { accept: 'application/json' },
  });
  if (!response.ok || response.body === null) throw new Error(`GET ${url}: HTTP ${response.status}`);
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of response.body) {
    total += chunk.length;
    if (total > maxBytes) throw new Error(`GET ${url}: the bundle is larger than ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  return new Uint8Array(Buffer.concat(chunks));
}

async function readBundle(source: string): Promise<Uint8Array> {
  if (/^https?:\/\//.test(source)) {
    if (!URL.canParse(source)) throw new UsageError(`--bundle ${JSON.stringify(source)} is not a URL`);
    return fetchLimited(new URL(source), MAX_BUNDLE_BYTES);
  }
  return readLimited(source, MAX_BUNDLE_BYTES);
}

function print(context: CommandContext, r: FleetVerification): void {
  const p = r.statement?.predicate;
  if (context.json) {
    context.out(
      JSON.stringify(
        {
          valid: r.valid,
          reasons: r.reasons,
          verified: r.verified,
          notes: r.notes,
          envelopeDigest: r.envelopeDigest ?? null,
          directoryEpoch: r.directoryEpoch ?? null,
          fleet: p ? { ...p.fleet, serial: p.serial, generation: p.generation } : null,
          changes: r.changes ?? null,
        },
        null,
        2,
      ),
    );
    return;
  }
  const fleet = p ? ` fleet ${p.fleet.namespace}/${p.fleet.name} serial ${p.serial}` : '';
  context.out(`${r.valid ? 'VALID' : 'INVALID'}${fleet} (${r.envelopeDigest ?? 'no envelope'})`);
  for (const line of r.verified) context.out(`  ok    ${line}`);
  for (const line of r.reasons) context.out(`  FAIL  ${line}`);
  for (const line of r.notes) context.out(`  note  ${line}`);
  if (r.changes !== undefined) {
    context.out(
      r.changes.length === 0
        ? 'no changes since the previous deployment'
        : 'changes since the previous deployment:',
    );
    for (const line of r.changes) context.out(`  ${line}`);
  }
}

export const verifyFleetCommand: Command = {
  name: 'verify-fleet',
  summary: 'verify a fleet-deployment attestation bundle and show what changed',
  usage: [
    'keyfleet verify-fleet --bundle FILE|URL --trust TRUSTFILE [--previous FILE] [--json]',
    '  --bundle    the validation bundle (a file, or an http(s) URL)',
    '  --trust     the trust file: operator, witness, manufacturer CA and directory keys',
    '  --previous  the bundle you accepted last for this fleet (rollback and fork detection, diff)',
    'exit status: 0 valid, 1 invalid, 2 usage',
  ].join('\n'),
  async run(context) {
    if (context.args.length > 0)
      throw new UsageError(`unexpected argument ${JSON.stringify(context.args[0])}`);
    const source = requireFlag(context, 'bundle');
    const trustFile = requireFlag(context, 'trust');
    let trust: ReturnType<typeof parseAttestationTrust>;
    let previous: ReturnType<typeof decodeBundle> | undefined;
    try {
      trust = parseAttestationTrust(readLimited(trustFile, MAX_TRUST_FILE_BYTES));
      const previousFile = context.flags.get('previous');
      if (previousFile === true) throw new UsageError('--previous needs a file');
      if (previousFile !== undefined) previous = decodeBundle(readLimited(previousFile, MAX_BUNDLE_BYTES));
    } catch (e) {
      if (e instanceof AttestationError) throw new UsageError(e.message);
      throw e;
    }
    const bytes = await readBundle(source);
    const result = verifyFleetBundleBytes(bytes, trust, {
      now: Date.now(),
      maxClockSkewMs: trust.maxClockSkewSeconds * 1000,
      ...(previous ? { previous } : {}),
    });
    print(context, result);
    return result.valid ? 0 : 1;
  },
};
