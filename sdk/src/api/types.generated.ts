// Generated from crds/*.yaml by `npm run gen:types` (sdk/src/api/typegen.ts). Do not edit by hand.

import type { ObjectMeta } from './object-meta.ts';

export type { ObjectMeta };

/** Desired state of the fleet. */
export interface VaultFleetSpec {
  /** Datacenter zones, one vault member each, matched against the node label topology.kubernetes.io/zone. An odd number from 3 to 9, so a strict majority exists; no zone twice (a set). On update, at most two zones may differ from the previous list (add two, remove two, or replace one); the operator applies each change as a single Raft membership change. */
  zones: Array<string>;
  /** The vault-node container image. Pin it by digest (image@sha256:...) in production: the digest is the subject of the signed fleet-deployment attestation. */
  image: string;
  /** Pull policy for the vault-node image. */
  imagePullPolicy: 'Always' | 'IfNotPresent' | 'Never';
  /** Wrong password guesses allowed per escrowed record before it locks forever. Immutable: clients were promised this limit when they escrowed their key. */
  guessLimit: number;
  /** Persistent volume for each member's Raft log, snapshots and sealed HSM keys. */
  storage: {
    /** Volume size of each member's PersistentVolumeClaim (a Kubernetes quantity). Immutable. */
    size: string;
    /** StorageClass of the claims; the cluster default when empty. */
    storageClassName?: string;
    /** What happens to the members' claims when the fleet is deleted. Retain keeps the escrowed records recoverable by an administrator; Delete removes them with the fleet. */
    retentionPolicy: 'Retain' | 'Delete';
  };
  /** The KeyDirectory (same namespace) where this fleet's deployment attestations are logged. */
  directoryRef?: {
    /** Name of the KeyDirectory. */
    name: string;
  };
  /** Signed fleet-deployment attestations published for clients. */
  attestation: {
    /** How long an attestation stays valid (a Go duration such as 720h); the operator re-attests before it expires. Between 1h and 8760h. */
    validity: string;
  };
  /** How image and configuration changes roll across the members. */
  updateStrategy: {
    /** Members that may be down at once during a rolling update. The operator never takes down more than the fleet can lose and keep quorum, whatever this says. */
    maxUnavailable: number;
  };
  /** Compute resources of each vault member container. */
  resources?: {
    /** Minimum resources, e.g. cpu: 100m, memory: 128Mi. */
    requests?: Record<string, number | string>;
    /** Maximum resources. */
    limits?: Record<string, number | string>;
  };
  /** When true the operator makes no changes to the fleet (status is still reported). */
  paused: boolean;
}

/** Observed state of the fleet, written by the operator. */
export interface VaultFleetStatus {
  /** The spec generation this status describes. */
  observedGeneration?: number;
  /** A one-word summary; read conditions for the detail. */
  phase?: 'Pending' | 'Bootstrapping' | 'Available' | 'Degraded' | 'Updating' | 'Scaling' | 'Paused';
  /** Zone of the current Raft leader. */
  leader?: string;
  /** Current Raft term. */
  term?: number;
  /** Raft commit index reported by the leader. */
  commitIndex?: number;
  /** Members that are ready and caught up. */
  readyMembers?: number;
  /** Members needed for a majority. */
  quorum?: number;
  /** One entry per zone. */
  members?: Array<{
    /** The member's zone. */
    zone: string;
    /** The member's Pod. */
    pod?: string;
    /** The Node the member runs on. */
    node?: string;
    /** Raft role as the member reports it. */
    role?: 'leader' | 'follower' | 'candidate' | 'pre-candidate' | 'learner' | 'unknown';
    /** Key id (hex SHA-256 prefix) of the member's certified HSM identity key. */
    hsmKeyId?: string;
    /** Highest log index known to be replicated on this member. */
    matchIndex?: number;
    /** Whether the member is ready (in a committed quorum and caught up). */
    ready?: boolean;
  }>;
  /** The current signed fleet-deployment attestation. */
  attestation?: {
    /** Monotonic attestation serial. */
    serial?: number;
    /** sha256:<hex> of the DSSE envelope. */
    digest?: string;
    /** KeyDirectory epoch that logged the digest. */
    directoryEpoch?: number;
    /** ConfigMap holding the validation bundle. */
    configMap?: string;
    /** When the attestation expires. */
    expiresAt?: string;
  };
  /** Available, Progressing, Degraded, QuorumHealthy, Attested. */
  conditions?: Array<{
    /** Condition type. */
    type: string;
    /** True, False or Unknown. */
    status: 'True' | 'False' | 'Unknown';
    /** CamelCase reason for the last transition. */
    reason: string;
    /** Human-readable detail. */
    message: string;
    /** Spec generation the condition was computed for. */
    observedGeneration?: number;
    /** When the status last changed. */
    lastTransitionTime: string;
  }>;
}

/** VaultFleet runs a fleet of software-HSM vault members, one per datacenter zone, that replicate escrowed backup-key records with Raft majority consensus. Clients escrow a 256-bit backup key behind a password with OPAQUE; every guess is counted through consensus before it is evaluated and a record locks forever at spec.guessLimit wrong guesses. */
export interface VaultFleet {
  apiVersion: 'keyfleet.dev/v1alpha1';
  kind: 'VaultFleet';
  metadata: ObjectMeta;
  spec: VaultFleetSpec;
  status?: VaultFleetStatus;
}

/** Desired state of the directory. */
export interface KeyDirectorySpec {
  /** The directory-node container image (publisher, readers and witnesses run it). */
  image: string;
  /** Pull policy for the directory-node image. */
  imagePullPolicy: 'Always' | 'IfNotPresent' | 'Never';
  /** How often the publisher cuts an epoch when changes are pending (a Go duration, 1s to 24h). An epoch is also cut as soon as maxBatchSize changes are queued. */
  epochInterval: string;
  /** Most changes applied in one epoch. */
  maxBatchSize: number;
  /** Reader replicas serving lookup and history proofs from published epochs. */
  readers: number;
  /** Witness pods the operator runs; each verifies every audit proof and countersigns epochs. */
  witnesses: number;
  /** Witnesses run by other parties, trusted by their Ed25519 public key. */
  externalWitnesses?: Array<{
    /** A short name for the witness. */
    name: string;
    /** Base URL of the witness API. */
    url: string;
    /** The witness's Ed25519 public key, 64 hex characters. */
    publicKey: string;
  }>;
  /** Where the directory's tree and queue are stored. */
  storage: {
    /** embedded (a crash-safe embedded database on a PersistentVolume) or postgres. */
    type: 'embedded' | 'postgres';
    /** Volume size for embedded storage (a Kubernetes quantity). Immutable. */
    size: string;
    /** StorageClass for embedded storage; the cluster default when empty. */
    storageClassName?: string;
    /** PostgreSQL connection, from a Secret with key `uri` (postgres://...). */
    postgres?: {
      /** The Secret (same namespace) holding the connection URI. */
      secretRef: {
        /** Secret name. */
        name: string;
      };
    };
  };
  /** Where audit proof blobs are published, one per epoch, named EPOCH/hex(prev_root)/hex(new_root). Exactly one of filesystem (a volume served over HTTP) or s3. */
  auditStorage: {
    /** A PersistentVolume served read-only over HTTP by the readers. */
    filesystem?: {
      /** Volume size (a Kubernetes quantity). */
      size: string;
      /** StorageClass; the cluster default when empty. */
      storageClassName?: string;
    };
    /** An S3-compatible bucket. */
    s3?: {
      /** Endpoint URL of an S3-compatible service; AWS when empty. */
      endpoint?: string;
      /** Bucket region. */
      region?: string;
      /** Bucket name. */
      bucket: string;
      /** Key prefix inside the bucket (S3's safe characters only). */
      prefix?: string;
      /** Secret with keys accessKeyId and secretAccessKey. */
      secretRef: {
        /** Secret name. */
        name: string;
      };
    };
  };
  /** When true the operator makes no changes to the directory (status is still reported). */
  paused: boolean;
}

/** Observed state of the directory, written by the operator. */
export interface KeyDirectoryStatus {
  /** The spec generation this status describes. */
  observedGeneration?: number;
  /** A one-word summary; read conditions for the detail. */
  phase?: 'Pending' | 'Available' | 'Degraded' | 'Paused';
  /** Latest published epoch. */
  currentEpoch?: number;
  /** Hex root hash of the latest published epoch. */
  rootHash?: string;
  /** When the latest epoch was published. */
  lastPublished?: string;
  /** Changes accepted and not yet published. */
  pendingChanges?: number;
  /** Latest epoch countersigned by a witness. */
  witnessedEpoch?: number;
  /** Reader replicas ready. */
  readyReaders?: number;
  /** The Pod currently holding the publisher Lease. */
  publisher?: string;
  /** Hex VRF public key that clients verify labels with. */
  vrfPublicKey?: string;
  /** Hex Ed25519 key that signs epoch heads. */
  signingPublicKey?: string;
  /** The witnesses this directory's operator runs and the external ones of spec.externalWitnesses, with the Ed25519 keys their countersignatures verify under and the last epoch each countersigned. */
  witnesses?: Array<{
    /** The witness Pod, or the name of an external witness. */
    name: string;
    /** Hex Ed25519 public key of the witness. */
    publicKey?: string;
    /** Newest epoch the witness has verified and countersigned. */
    lastCountersignedEpoch?: number;
    /** Why the witness refused to go on (a fork or a bad audit proof), if it did. */
    halted?: string;
  }>;
  /** Available, Publishing, Witnessed, Degraded. */
  conditions?: Array<{
    /** Condition type. */
    type: string;
    /** True, False or Unknown. */
    status: 'True' | 'False' | 'Unknown';
    /** CamelCase reason for the last transition. */
    reason: string;
    /** Human-readable detail. */
    message: string;
    /** Spec generation the condition was computed for. */
    observedGeneration?: number;
    /** When the status last changed. */
    lastTransitionTime: string;
  }>;
}

/** KeyDirectory runs an auditable key directory (AKD): an append-only, VRF-labelled Merkle directory of public keys. One publisher drains queued changes into signed epochs and publishes an audit (append-only) proof per epoch; readers serve lookup and key-history proofs; witnesses verify every audit proof and countersign the epoch root. */
export interface KeyDirectory {
  apiVersion: 'keyfleet.dev/v1alpha1';
  kind: 'KeyDirectory';
  metadata: ObjectMeta;
  spec: KeyDirectorySpec;
  status?: KeyDirectoryStatus;
}
