// The vault member's configuration, read from the environment the operator's Pod sets
// (sdk/src/vault/contract.ts names the variables; VAULT_CONTRACT.md explains them). Pure: the
// environment in, a checked configuration or every problem found out.
import { FLEET_ID_PATTERN, MEMBER_ID_PATTERN, ZONE_PATTERN } from '@keyfleet/sdk/hsm/ids';
import { type ClusterState, Env, MEMBER_PLACEHOLDER, Port } from '@keyfleet/sdk/vault/contract';

export interface VaultConfig {
  readonly fleetId: string;
  readonly memberId: string;
  readonly zone: string;
  readonly clusterState: ClusterState;
  readonly initialMembers: readonly string[];
  readonly peerUrlTemplate: string;
  /** Explicit peer addresses that win over the template (local fleets and tests). */
  readonly peerUrls: ReadonlyMap<string, string>;
  readonly dataDir: string;
  readonly sealingKeyFile: string;
  readonly manufacturerCaFile: string;
  readonly operatorAdminKeyFile: string;
  readonly guessLimit: number;
  /** The validation bundle served at GET /v1/attestation; undefined: none is published here. */
  readonly attestationBundleFile?: string | undefined;
  readonly listenHost: string;
  readonly ports: {
    readonly client: number;
    readonly peer: number;
    readonly admin: number;
    readonly metrics: number;
  };
  readonly tickMs: number;
  readonly logLevel: 'debug' | 'info' | 'warn' | 'error';
}

export class ConfigError extends Error {
  override name = 'ConfigError';
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
    this.problems = problems;
  }
}

type Environment = Readonly<Record<string, string | undefined>>;

/** A member's peer base URL: its explicit address if configured, else the template's. */
export function peerUrl(config: Pick<VaultConfig, 'peerUrlTemplate' | 'peerUrls'>, member: string): string {
  return config.peerUrls.get(member) ?? config.peerUrlTemplate.replaceAll(MEMBER_PLACEHOLDER, member);
}

export function readConfig(env: Environment): VaultConfig {
  const problems: string[] = [];
  const text = (name: string, fallback?: string): string => {
    const value = env[name] ?? fallback;
    if (value === undefined || value === '') {
      problems.push(`${name} is required`);
      return '';
    }
    return value;
  };
  const matching = (name: string, pattern: RegExp, what: string): string => {
    const value = text(name);
    if (value && !pattern.test(value))
      problems.push(`${name}=${JSON.stringify(value)} is not a valid ${what}`);
    return value;
  };
  const integer = (name: string, fallback: number, min: number, max: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      problems.push(`${name}=${JSON.stringify(raw)} must be an integer from ${min} to ${max}`);
      return fallback;
    }
    return value;
  };
  const port = (name: string, fallback: number) => integer(name, fallback, 1, 65535);

  const fleetId = matching(Env.fleetId, FLEET_ID_PATTERN, 'fleet id (namespace/name)');
  const memberId = matching(Env.memberId, MEMBER_ID_PATTERN, 'member id (a DNS label)');
  const zone = matching(Env.zone, ZONE_PATTERN, 'zone name');
  const clusterState = text(Env.clusterState, 'existing');
  if (clusterState && clusterState !== 'new' && clusterState !== 'existing') {
    problems.push(`${Env.clusterState} must be "new" or "existing", not ${JSON.stringify(clusterState)}`);
  }
  const initialMembers = (env[Env.initialMembers] ?? '')
    .split(',')
    .map((m) => m.trim())
    .filter((m) => m !== '');
  for (const m of initialMembers) {
    if (!MEMBER_ID_PATTERN.test(m))
      problems.push(`${Env.initialMembers} names an invalid member id ${JSON.stringify(m)}`);
  }
  if (new Set(initialMembers).size !== initialMembers.length)
    problems.push(`${Env.initialMembers} repeats a member`);
  if (clusterState === 'new' && memberId && !initialMembers.includes(memberId)) {
    problems.push(
      `${Env.clusterState}=new but ${Env.initialMembers} does not include this member (${memberId})`,
    );
  }
  const peerUrlTemplate = text(Env.peerUrlTemplate);
  if (peerUrlTemplate && !peerUrlTemplate.includes(MEMBER_PLACEHOLDER)) {
    problems.push(`${Env.peerUrlTemplate} must contain ${MEMBER_PLACEHOLDER}`);
  } else if (peerUrlTemplate && !URL.canParse(peerUrlTemplate.replaceAll(MEMBER_PLACEHOLDER, 'member'))) {
    problems.push(`${Env.peerUrlTemplate} does not make a URL`);
  }
  const peerUrls = new Map<string, string>();
  for (const part of (env[Env.peerUrls] ?? '').split(',').filter((p) => p.trim() !== '')) {
    const [id, url] = part.split('=', 2).map((s) => s.trim());
    if (!id || !url || !MEMBER_ID_PATTERN.test(id) || !/^https?:\/\//.test(url) || !URL.canParse(url)) {
      problems.push(`${Env.peerUrls} has a bad entry ${JSON.stringify(part)} (want member=http://host:port)`);
    } else peerUrls.set(id, url.replace(/\/+$/, ''));
  }
  const attestationBundleFile = env[Env.attestationBundleFile] || undefined;
  if (attestationBundleFile !== undefined && !attestationBundleFile.startsWith('/')) {
    problems.push(`${Env.attestationBundleFile} must be an absolute path`);
  }
  const logLevel = env[Env.logLevel] ?? 'info';
  if (!['debug', 'info', 'warn', 'error'].includes(logLevel)) {
    problems.push(`${Env.logLevel} must be debug, info, warn or error`);
  }
  // Read by the HSM's OPAQUE pool (opaque-login-pool.ts); checked here so a typo fails at start.
  const opaqueThreads = env[Env.opaqueThreads];
  if (opaqueThreads !== undefined && !/^(auto|\d|1[0-6])$/.test(opaqueThreads)) {
    problems.push(`${Env.opaqueThreads} must be a number of threads from 0 to 16, or auto`);
  }
  const config: VaultConfig = {
    fleetId,
    memberId,
    zone,
    clusterState: clusterState as ClusterState,
    initialMembers,
    peerUrlTemplate,
    peerUrls,
    dataDir: text(Env.dataDir),
    sealingKeyFile: text(Env.sealingKeyFile),
    manufacturerCaFile: text(Env.manufacturerCaFile),
    operatorAdminKeyFile: text(Env.operatorAdminKeyFile),
    guessLimit: integer(Env.guessLimit, 10, 1, 255),
    attestationBundleFile,
    listenHost: env[Env.listenHost] ?? '0.0.0.0',
    ports: {
      client: port(Env.clientPort, Port.client),
      peer: port(Env.peerPort, Port.peer),
      admin: port(Env.adminPort, Port.admin),
      metrics: port(Env.metricsPort, Port.metrics),
    },
    tickMs: integer(Env.tickMs, 100, 5, 10_000),
    logLevel: logLevel as VaultConfig['logLevel'],
  };
  const ports = Object.values(config.ports);
  if (new Set(ports).size !== ports.length)
    problems.push('the client, peer, admin and metrics ports must differ');
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}
