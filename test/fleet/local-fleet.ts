// A VaultFleet of real vault-node processes on this machine, each on its own loopback address
// (127.<n>.<m>.<member>), provisioned the way the operator does it: a manufacturer CA certifies
// each member's HSM identity through signed admin calls, the first voter generates the fleet secret,
// the others fetch it sealed. Used by the integration tests, the benchmarks and `npm run main`.
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CertificateAuthority } from '@keyfleet/sdk/hsm/ca';
import { decodeCertificate } from '@keyfleet/sdk/hsm/certificate';
import { VaultAdminClient } from '@keyfleet/sdk/vault/admin-client';
import { Env, HttpPath } from '@keyfleet/sdk/vault/contract';
import { ed25519 } from '@noble/curves/ed25519.js';

const vaultMain = fileURLToPath(new URL('../../vault-node/src/main.ts', import.meta.url));
const PORTS = { client: 8080, peer: 7000, admin: 8081, metrics: 9090 };

export interface LocalMember {
  readonly id: string;
  readonly zone: string;
  readonly host: string;
  readonly clientUrl: string;
  readonly adminUrl: string;
  readonly metricsUrl: string;
  readonly dataDir: string;
  readonly logFile: string;
  process: ChildProcess | null;
  certificate: Uint8Array | null;
}

export interface LocalFleetOptions {
  readonly size?: number;
  /**
   * Members beyond `size` that every member can address but that are neither initial members nor
   * started: a test starts one with `startJoining` to grow the fleet as the operator does.
   */
  readonly spares?: number;
  readonly fleetId?: string;
  readonly guessLimit?: number;
  /** Raft tick; the default 100 ms is production's. */
  readonly tickMs?: number;
  /** Second and third octet of the members' 127.x.y.z addresses (default: from the process id). */
  readonly subnet?: readonly [number, number];
  readonly root?: string;
}

export interface MemberStatus {
  readonly member: string;
  readonly role: string;
  readonly leader: string | null;
  readonly term: number;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly membership: { voters: string[]; learners: string[] };
  readonly ready: boolean;
}

export class LocalFleet {
  readonly fleetId: string;
  readonly root: string;
  readonly members: LocalMember[];
  readonly ca: CertificateAuthority;
  readonly caPublicKey: Uint8Array;
  readonly #adminSecret: Uint8Array;
  readonly #env: Record<string, string>;
  readonly initialCount: number;

  private constructor(o: LocalFleetOptions) {
    const size = o.size ?? 7;
    this.initialCount = size;
    this.fleetId = o.fleetId ?? 'vaults/backups';
    this.root = o.root ?? mkdtempSync(join(tmpdir(), 'keyfleet-fleet-'));
    const [b, c] = o.subnet ?? [100 + (process.pid % 100), Math.floor(process.pid / 100) % 250];
    this.ca = CertificateAuthority.generate().ca;
    this.caPublicKey = this.ca.publicKey;
    this.#adminSecret = ed25519.utils.randomSecretKey();
    const trust = join(this.root, 'trust');
    mkdirSync(trust, { recursive: true });
    writeFileSync(join(trust, 'ca.pub'), Buffer.from(this.caPublicKey).toString('hex'));
    writeFileSync(
      join(trust, 'admin.pub'),
      Buffer.from(ed25519.getPublicKey(this.#adminSecret)).toString('hex'),
    );
    const name = this.fleetId.split('/')[1] ?? 'fleet';
    this.members = Array.from({ length: size + (o.spares ?? 0) }, (_, i) => {
      const zone = `dc${i + 1}`;
      const host = `127.${b}.${c}.${i + 1}`;
      const dataDir = join(this.root, zone);
      return {
        id: `${name}-${zone}`,
        zone,
        host,
        clientUrl: `http://${host}:${PORTS.client}`,
        adminUrl: `http://${host}:${PORTS.admin}`,
        metricsUrl: `http://${host}:${PORTS.metrics}`,
        dataDir,
        logFile: join(this.root, `${zone}.log`),
        process: null,
        certificate: null,
      };
    });
    this.#env = {
      [Env.fleetId]: this.fleetId,
      [Env.clusterState]: 'new',
      [Env.initialMembers]: this.initial.map((m) => m.id).join(','),
      [Env.peerUrlTemplate]: 'http://{member}.invalid:7000',
      [Env.peerUrls]: this.members.map((m) => `${m.id}=http://${m.host}:${PORTS.peer}`).join(','),
      [Env.manufacturerCaFile]: join(trust, 'ca.pub'),
      [Env.operatorAdminKeyFile]: join(trust, 'admin.pub'),
      [Env.guessLimit]: String(o.guessLimit ?? 10),
      [Env.tickMs]: String(o.tickMs ?? 100),
    };
  }

  /** Starts every member, certifies each HSM, and waits until all are ready. */
  static async start(o: LocalFleetOptions = {}, readyTimeoutMs = 60_000): Promise<LocalFleet> {
    const fleet = new LocalFleet(o);
    try {
      for (const m of fleet.initial) {
        fleet.prepare(m);
        fleet.spawn(m);
      }
      await Promise.all(fleet.initial.map((m) => fleet.provision(m)));
      await fleet.waitAllReady(readyTimeoutMs, fleet.initial);
      return fleet;
    } catch (e) {
      await fleet.stop();
      throw e;
    }
  }

  /** The members the fleet was formed with (the spares excluded). */
  get initial(): LocalMember[] {
    return this.members.slice(0, this.initialCount);
  }

  /** Creates the member's data dir and sealing key, as the operator's claim and Secret would. */
  prepare(m: LocalMember): void {
    mkdirSync(m.dataDir, { recursive: true });
    writeFileSync(sealingKeyFile(m), crypto.getRandomValues(new Uint8Array(32)), { mode: 0o600 });
  }

  /**
   * Starts spare `m` as the operator starts a member joining the running fleet (cluster state
   * `existing`) with `peers` as its configured members, and certifies its HSM. The leader must
   * then add it as a learner.
   */
  async startJoining(m: LocalMember, peers: readonly LocalMember[]): Promise<void> {
    this.prepare(m);
    m.process = spawnVaultNode(
      {
        ...this.memberEnv(m),
        [Env.clusterState]: 'existing',
        [Env.initialMembers]: [...peers, m].map((p) => p.id).join(','),
      },
      m.logFile,
    );
    await this.provision(m);
  }

  admin(m: LocalMember): VaultAdminClient {
    return new VaultAdminClient(m.adminUrl, this.#adminSecret);
  }

  /** The environment `spawn` gives member `m` (tests derive impostors and variants from it). */
  memberEnv(m: LocalMember): Record<string, string> {
    return {
      PATH: process.env.PATH ?? '',
      ...this.#env,
      [Env.memberId]: m.id,
      [Env.zone]: m.zone,
      [Env.dataDir]: m.dataDir,
      [Env.sealingKeyFile]: sealingKeyFile(m),
      [Env.listenHost]: m.host,
    };
  }

  spawn(m: LocalMember): void {
    m.process = spawnVaultNode(this.memberEnv(m), m.logFile);
  }

  /** What the operator does for a new member: have the CA certify its HSM's identity request. */
  async provision(m: LocalMember, timeoutMs = 30_000): Promise<void> {
    const admin = this.admin(m);
    const request = await retry(
      () => admin.call<{ request: string }>('GET', HttpPath.identityRequest),
      timeoutMs,
    );
    const now = Math.floor(Date.now() / 1000);
    const certificate = this.ca.issue(new Uint8Array(Buffer.from(request.request, 'base64url')), {
      expect: { fleet: this.fleetId, member: m.id, zone: m.zone },
      notBefore: now - 60,
      notAfter: now + 30 * 24 * 3600,
    });
    await admin.call('POST', HttpPath.identityCertificate, {
      certificate: Buffer.from(certificate).toString('base64url'),
    });
    m.certificate = certificate;
  }

  /** The members' identity keys, as a client pins them (from the certificates the CA issued). */
  trustedMembers(): Map<string, Uint8Array> {
    return new Map(
      this.members
        .filter((m) => m.certificate)
        .map((m) => [m.id, decodeCertificate(m.certificate as Uint8Array).identityPublicKey]),
    );
  }

  /** The trust file a backup client uses (sdk/src/vault/trust-file.ts). */
  trustFile(url = this.members[0]?.clientUrl): string {
    return JSON.stringify(
      {
        fleetId: this.fleetId,
        manufacturerCa: Buffer.from(this.caPublicKey).toString('hex'),
        certificates: this.members
          .filter((m) => m.certificate)
          .map((m) => Buffer.from(m.certificate as Uint8Array).toString('base64url')),
        url,
      },
      null,
      2,
    );
  }

  async status(m: LocalMember): Promise<MemberStatus> {
    return this.admin(m).call<MemberStatus>('GET', HttpPath.adminStatus);
  }

  async isReady(m: LocalMember): Promise<boolean> {
    try {
      const res = await fetch(m.adminUrl + HttpPath.readyz, { signal: AbortSignal.timeout(2000) });
      return res.ok;
    } catch {
      return false;
    }
  }

  async waitAllReady(timeoutMs: number, members = this.members): Promise<void> {
    await retry(async () => {
      const ready = await Promise.all(members.map((m) => this.isReady(m)));
      const waiting = members.filter((_, i) => !ready[i]).map((m) => m.id);
      if (waiting.length > 0) throw new Error(`not ready: ${waiting.join(', ')} (logs in ${this.root})`);
    }, timeoutMs);
  }

  /** The member every running member agrees leads, once one does. */
  async leader(timeoutMs = 15_000): Promise<LocalMember> {
    return retry(async () => {
      const running = this.members.filter(
        (m) => m.process && m.process.exitCode === null && !m.process.killed,
      );
      const statuses = await Promise.all(running.map((m) => this.status(m).catch(() => null)));
      const leader = statuses.find((s) => s?.role === 'leader');
      const member = this.members.find((m) => m.id === leader?.member);
      if (!member) throw new Error('no leader yet');
      return member;
    }, timeoutMs);
  }

  async kill(m: LocalMember, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = m.process;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    await exited;
    m.process = null;
  }

  async restart(m: LocalMember): Promise<void> {
    await this.kill(m);
    this.spawn(m);
  }

  async stop(): Promise<void> {
    await Promise.all(this.members.map((m) => this.kill(m, 'SIGKILL')));
  }

  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.root, { recursive: true, force: true });
  }
}

/** Where a member's HSM wrapping key lives (beside its data dir, as a Secret volume would be). */
export function sealingKeyFile(m: Pick<LocalMember, 'dataDir' | 'zone'>): string {
  return join(m.dataDir, '..', `${m.zone}.sealing-key`);
}

/** Starts a vault-node process with exactly `env`, appending its output to `logFile`. */
export function spawnVaultNode(env: Record<string, string>, logFile: string): ChildProcess {
  const log = openSync(logFile, 'a');
  const child = spawn(process.execPath, [vaultMain], { env, stdio: ['ignore', log, log] });
  closeSync(log);
  return child;
}

export async function retry<T>(fn: () => Promise<T>, timeoutMs: number, intervalMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  }
}
