// What a vault-node container and the operator agree on. The names both sides read (ports, paths,
// environment variables) live in the sdk, which the vault imports too; the rest (port names, mount
// paths, Secret keys, the user) only the operator's pod spec uses. VAULT_CONTRACT.md explains it all
// for whoever implements the vault side; change it together with these.

export {
  type ClusterState,
  Env,
  HttpPath,
  MEMBER_PLACEHOLDER,
  Port,
} from '@keyfleet/sdk/vault/contract';

/** Named container ports, so Services and NetworkPolicies refer to a role and not a number. */
export const PortName = {
  client: 'client',
  peer: 'peer',
  admin: 'admin',
  metrics: 'metrics',
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
