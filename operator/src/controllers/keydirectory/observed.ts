// What one pass knows about a directory: its pods (from the informer cache) and what the writer
// and the witnesses answered over HTTP. observe.ts fills it; status.ts turns it into the status.

import type { EpochHeadJson } from '@keyfleet/sdk/directory/wire';

export interface ObservedPod {
  readonly name: string;
  readonly ready: boolean;
  readonly ip?: string;
  /** Being deleted (terminating pods are neither writer nor standby any more). */
  readonly terminating: boolean;
}

export interface ObservedWitness {
  /** The witness pod, or an external witness's name. */
  readonly name: string;
  readonly publicKey?: string;
  /** Undefined while the witness has not answered. */
  readonly lastVerifiedEpoch?: number;
  /** Why the witness refused to go on (fork, bad proof), if it did. */
  readonly halted?: string;
  /** Why it could not be asked (no pod, not Ready, HTTP error). */
  readonly unreachable?: string;
}

export interface DirectoryObservation {
  readonly publishers: readonly ObservedPod[];
  readonly readers: readonly ObservedPod[];
  /** The Ready publisher pod: the one holding the writer Lease. */
  readonly writer?: string;
  /** The newest signed epoch head, as the writer serves it; undefined before the first epoch. */
  readonly head?: EpochHeadJson;
  readonly pendingChanges?: number;
  readonly witnesses: readonly ObservedWitness[];
  /** When the epoch last changed, as this operator saw it (ms); drives Publishing=False/Stalled. */
  readonly epochChangedAtMs?: number;
  /** What went wrong asking the writer, if anything. */
  readonly writerError?: string;
}
