// The backup client's memory of the last fleet deployment it accepted, per fleet: one file per
// fleet holding that validation bundle byte for byte (so `keyfleet verify-fleet --previous FILE`
// reads it too). It only moves forward: a bundle replaces the record only if its serial is not
// lower, so two clients sharing a directory cannot walk it back. Written atomically (temporary
// file, fsync, rename), readable by its owner only.
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { decodeBundle, MAX_BUNDLE_BYTES } from '../attestation/bundle.ts';
import { envelopePayload } from '../attestation/dsse.ts';
import { AttestationError } from '../attestation/errors.ts';
import { decodeStatement } from '../attestation/statement.ts';
import type { AcceptedFleet } from './fleet-attestation.ts';

const FLEET = /^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)\/([a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?)$/;

/** `<namespace>/<name>` as Kubernetes spells them (the attested fleet identity). */
export function isAttestedFleetId(fleetId: string): boolean {
  return FLEET.test(fleetId);
}

export class AcceptedBundleStore {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  /** The record of `fleetId` (`_` appears in neither a namespace nor a name: no two fleets share a file). */
  fileFor(fleetId: string): string {
    if (!isAttestedFleetId(fleetId))
      throw new TypeError(`fleet ${JSON.stringify(fleetId)} is not <namespace>/<name>`);
    return join(this.dir, `${fleetId.replace('/', '_')}.last-accepted-bundle.json`);
  }

  /** The last accepted bundle of `fleetId`, or undefined when this client never accepted one. */
  load(fleetId: string): Uint8Array | undefined {
    const file = this.fileFor(fleetId);
    let size: number;
    try {
      size = statSync(file).size;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    if (size > MAX_BUNDLE_BYTES) throw new Error(`${file} is larger than ${MAX_BUNDLE_BYTES} bytes`);
    return new Uint8Array(readFileSync(file));
  }

  /** Records `accepted` unless the record already holds a later serial (then it is kept). */
  save(accepted: AcceptedFleet): void {
    const current = this.load(accepted.fleetId);
    if (current !== undefined && Buffer.from(current).equals(accepted.bundle)) return;
    const recorded = current === undefined ? undefined : recordedSerial(current);
    if (recorded !== undefined && recorded > accepted.serial) return;
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const file = this.fileFor(accepted.fleetId);
    const temporary = `${file}.${process.pid}.${Date.now()}.tmp`;
    const fd = openSync(temporary, 'wx', 0o600);
    try {
      writeSync(fd, accepted.bundle);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, file);
  }
}

/** The serial of a recorded bundle (our own file: read, not verified), or undefined if unreadable. */
function recordedSerial(bytes: Uint8Array): number | undefined {
  try {
    return decodeStatement(envelopePayload(decodeBundle(bytes).envelope)).predicate.serial;
  } catch (e) {
    // The client refuses a fleet while its record is unreadable (acceptFleetBundle, 'bad-state');
    // a person who removed or repaired it gets a fresh record here.
    if (e instanceof AttestationError) return undefined;
    throw e;
  }
}
