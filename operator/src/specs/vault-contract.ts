// What a vault-node container and the operator agree on: ports, paths, environment variable names
// and the user the process runs as. The pod, service and network-policy builders read these, and
// VAULT_CONTRACT.md explains each one for whoever implements the vault side. Change one here and
// the document together.

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

/** Named container ports, so Services and NetworkPolicies refer to a role and not a number. */
export const PortName = {
  client: 'client',
  peer: 'peer',
  admin: 'admin',
  metrics: 'metrics',
} as const;

export const HttpPath = {
  healthz: '/healthz',
  readyz: '/readyz',
  prepareStop: '/v1/admin/prepare-stop',
  metrics: '/metrics',
} as const;

/** Where volumes are mounted inside the vault container. */
export const MountPath = {
  data: '/var/lib/keyfleet',
  sealingKey: '/etc/keyfleet/sealing',
  trust: '/etc/keyfleet/trust',
  tmp: '/tmp',
} as const;

/** Keys inside the Secrets and ConfigMap the pod mounts (also the file names under MountPath). */
export const DataKey = {
  sealingKey: 'sealing-key',
  manufacturerCaSeed: 'manufacturer-ca.ed25519.seed',
  manufacturerCaPublicKey: 'manufacturer-ca.ed25519.pub',
  operatorAdminSeed: 'operator-admin.ed25519.seed',
  operatorAdminPublicKey: 'operator-admin.ed25519.pub',
} as const;

/** The distroless "nonroot" user and group; nothing in the image needs another. */
export const VAULT_UID = 65532;
export const VAULT_GID = 65532;

/** Environment variables the vault node reads (VAULT_CONTRACT.md documents each). */
export const Env = {
  fleetId: 'KEYFLEET_FLEET_ID',
  memberId: 'KEYFLEET_MEMBER_ID',
  zone: 'KEYFLEET_ZONE',
  clusterState: 'KEYFLEET_CLUSTER_STATE',
  initialMembers: 'KEYFLEET_INITIAL_MEMBERS',
  peerUrlTemplate: 'KEYFLEET_PEER_URL_TEMPLATE',
  dataDir: 'KEYFLEET_DATA_DIR',
  sealingKeyFile: 'KEYFLEET_SEALING_KEY_FILE',
  manufacturerCaFile: 'KEYFLEET_MANUFACTURER_CA_FILE',
  operatorAdminKeyFile: 'KEYFLEET_OPERATOR_ADMIN_KEY_FILE',
  guessLimit: 'KEYFLEET_GUESS_LIMIT',
  clientPort: 'KEYFLEET_CLIENT_PORT',
  peerPort: 'KEYFLEET_PEER_PORT',
  adminPort: 'KEYFLEET_ADMIN_PORT',
  metricsPort: 'KEYFLEET_METRICS_PORT',
  tmpDir: 'TMPDIR',
} as const;

/** The placeholder KEYFLEET_PEER_URL_TEMPLATE carries for a member id. */
export const MEMBER_PLACEHOLDER = '{member}';

/**
 * How a member starts on an empty data directory: `new` forms the fleet with KEYFLEET_INITIAL_MEMBERS
 * as its first voters; `existing` waits to be added as a learner by the leader. A member with data
 * ignores it. Once a fleet has formed, the operator only ever creates `existing` members, so members
 * that lost their data can never form a second cluster.
 */
export type ClusterState = 'new' | 'existing';
