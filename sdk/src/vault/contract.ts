// The contract between a vault-node process and whoever runs it (the operator's Pod, or a local
// launcher): environment variable names, ports, paths, mounted file names. Both sides import these
// constants; operator/src/specs/VAULT_CONTRACT.md explains each one.

/** Ports of a vault member. Plain HTTP inside the cluster: see VAULT_CONTRACT.md ("Why HTTP"). */
export const Port = {
  /** The escrow API (`/v1/...`), behind the client Service. */
  client: 8080,
  /** Raft and fleet-secret distribution between members, behind the headless peer Service. */
  peer: 7000,
  /** Probes, the preStop hook and the operator's signed admin calls. Never behind a Service. */
  admin: 8081,
  /** Prometheus `/metrics`. */
  metrics: 9090,
} as const;

export const HttpPath = {
  healthz: '/healthz',
  readyz: '/readyz',
  prepareStop: '/v1/admin/prepare-stop',
  adminStatus: '/v1/admin/status',
  adminMembership: '/v1/admin/membership',
  adminTransferLeadership: '/v1/admin/transfer-leadership',
  identityRequest: '/v1/admin/identity/request',
  identityCertificate: '/v1/admin/identity/certificate',
  /** Peer port: this member's HSM certificate, so peers can authenticate its Raft messages. */
  peerIdentity: '/v1/fleet/identity',
  /** Peer port: the fleet secret sealed to the requesting member's certified agreement key. */
  peerFleetSecret: '/v1/fleet/secret',
  /**
   * Peer port: a client request a follower forwards to the leader, signed by the follower's HSM
   * identity and carrying the client's address (vault-node/src/server/forwarded-request.ts).
   */
  peerForward: '/v1/fleet/forward',
  /** Client port: the fleet's validation bundle (sdk/src/attestation/FORMAT.md), verbatim. */
  attestation: '/v1/attestation',
  metrics: '/metrics',
} as const;

/** Environment variables the vault node reads. */
export const Env = {
  fleetId: 'KEYFLEET_FLEET_ID',
  memberId: 'KEYFLEET_MEMBER_ID',
  zone: 'KEYFLEET_ZONE',
  clusterState: 'KEYFLEET_CLUSTER_STATE',
  initialMembers: 'KEYFLEET_INITIAL_MEMBERS',
  peerUrlTemplate: 'KEYFLEET_PEER_URL_TEMPLATE',
  /** Optional `id=url,...`: explicit peer addresses that win over the template (local fleets, tests). */
  peerUrls: 'KEYFLEET_PEER_URLS',
  dataDir: 'KEYFLEET_DATA_DIR',
  sealingKeyFile: 'KEYFLEET_SEALING_KEY_FILE',
  manufacturerCaFile: 'KEYFLEET_MANUFACTURER_CA_FILE',
  operatorAdminKeyFile: 'KEYFLEET_OPERATOR_ADMIN_KEY_FILE',
  guessLimit: 'KEYFLEET_GUESS_LIMIT',
  /**
   * Optional: the validation bundle file served at GET /v1/attestation (the operator mounts the
   * ConfigMap `<fleet>-attestation`, key `bundle.json`, at ATTESTATION_BUNDLE_FILE). Unset: 404.
   */
  attestationBundleFile: 'KEYFLEET_ATTESTATION_BUNDLE_FILE',
  clientPort: 'KEYFLEET_CLIENT_PORT',
  peerPort: 'KEYFLEET_PEER_PORT',
  adminPort: 'KEYFLEET_ADMIN_PORT',
  metricsPort: 'KEYFLEET_METRICS_PORT',
  /** Address to listen on (default 0.0.0.0); a local launcher binds each member to its own loopback address. */
  listenHost: 'KEYFLEET_LISTEN_HOST',
  /** Raft tick in milliseconds (default 100); tests shorten it. */
  tickMs: 'KEYFLEET_RAFT_TICK_MS',
  logLevel: 'KEYFLEET_LOG_LEVEL',
  /** OPAQUE worker threads: 0..16 or `auto` (default 0; vault-node/src/hsm/opaque-login-pool.ts says why). */
  opaqueThreads: 'KEYFLEET_OPAQUE_THREADS',
  tmpDir: 'TMPDIR',
} as const;

/** Where the operator's Pod mounts the fleet's validation bundle (ConfigMap `<fleet>-attestation`). */
export const ATTESTATION_BUNDLE_FILE = '/etc/keyfleet/attestation/bundle.json';

/** The placeholder KEYFLEET_PEER_URL_TEMPLATE carries for a member id. */
export const MEMBER_PLACEHOLDER = '{member}';

/**
 * How a member starts on an empty data directory: `new` forms the fleet with KEYFLEET_INITIAL_MEMBERS
 * as its first voters; `existing` waits to be added as a learner by the leader. A member with data
 * ignores it.
 */
export type ClusterState = 'new' | 'existing';

/** Signature scheme of the operator's admin calls (see admin-signature.ts). */
export const ADMIN_AUTH_SCHEME = 'Keyfleet-Ed25519';
export const ADMIN_TIMESTAMP_HEADER = 'x-keyfleet-timestamp';
export const ADMIN_NONCE_HEADER = 'x-keyfleet-nonce';

export type MembershipChangeKind = 'add-learner' | 'promote' | 'remove';

/** A Raft membership change appended but not yet committed and applied. */
export interface PendingMembershipChange {
  readonly kind: MembershipChangeKind;
  readonly member: string;
}

/** What `GET /v1/admin/status` answers (vault-node/src/server/admin-api.ts). */
export interface AdminStatus {
  readonly member: string;
  readonly zone: string;
  readonly role: string;
  readonly leader: string | null;
  readonly term: number;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly membership: { readonly voters: readonly string[]; readonly learners: readonly string[] };
  /**
   * The membership change this member, as leader, has in flight (from the operator's call until
   * it is committed and applied here), else null. Ask the leader; other members report null.
   */
  readonly pendingChange: PendingMembershipChange | null;
  /** Leader only. */
  readonly progress: Readonly<Record<string, { readonly matchIndex: number }>> | null;
  readonly hsmKeyId: string | null;
  readonly ready: boolean;
  /**
   * Hex public key of the fleet's OPAQUE server setup held in this member's HSM (what clients pin
   * and the fleet attestation states), or null before the member has the fleet secret.
   */
  readonly opaqueServerPublicKey: string | null;
}
