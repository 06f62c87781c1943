// One vault member process: the HSM, the four HTTP surfaces, Raft once the HSM is certified, and
// the escrow service once the fleet secret is in the HSM. Start order (and why):
//   1. open the HSM, make sure identity keys exist            — nothing works without them
//   2. listen: admin (probes, provisioning), peer, client, metrics
//   3. wait for the identity certificate (operator, signed call) — peers only trust certified keys
//   4. start Raft (bootstrap voters only for a new fleet on empty storage)
//   5. get the fleet secret (generate in the first voter of a new fleet, else fetch it sealed)
//   6. serve escrow; /readyz turns 200 once this member is a caught-up voter
import { existsSync, readdirSync } from 'node:fs';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { AdminVerifier } from '@keyfleet/sdk/vault/admin-signature';
import type { Express } from 'express';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { peerUrl, type VaultConfig } from '../config.ts';
import { EscrowService } from '../escrow/index.ts';
import { HsmAuthenticator, type SoftwareHsm } from '../hsm/index.ts';
import { jsonLogger, type Logger } from '../raft/node/logger.ts';
import { RaftNode } from '../raft/node/raft-node.ts';
import type { MemberId } from '../raft/types.ts';
import { adminApi } from './admin-api.ts';
import { attestationApi, BundleFile } from './attestation-api.ts';
import { clientApi, clientRateLimiter } from './client-api.ts';
import { EscrowMetrics, ObservedEscrowStateMachine } from './escrow-metrics.ts';
import { ensureFleetSecret } from './fleet-secret-sync.ts';
import { newApp } from './http.ts';
import { JoiningPeers } from './joining-peers.ts';
import { LeaderForwarding } from './leader-forwarding.ts';
import { readiness } from './member-health.ts';
import { hasFleetSecret, openMemberHsm, readHexKey } from './member-hsm.ts';
import { peerApi } from './peer-api.ts';
import { PeerAuthenticator } from './peer-authenticator.ts';

function listen(app: Express, host: string, port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = app.listen(port, host, (error?: Error) => (error ? reject(error) : resolve(server)));
  });
}

export class VaultMember {
  readonly config: VaultConfig;
  readonly hsm: SoftwareHsm;
  readonly registry: Registry;
  readonly log: Logger;
  #node: RaftNode | null = null;
  #escrow: EscrowService | null = null;
  #forwarding: LeaderForwarding | null = null;
  #servers: Server[] = [];
  #stopped = false;
  #joining: Promise<void> | null = null;
  #peerWatch: NodeJS.Timeout | undefined;

  private constructor(config: VaultConfig, hsm: SoftwareHsm, log: Logger) {
    this.config = config;
    this.hsm = hsm;
    this.log = log;
    this.registry = new Registry();
    collectDefaultMetrics({ register: this.registry, prefix: 'keyfleet_vault_process_' });
  }

  static async start(
    config: VaultConfig,
    log = jsonLogger(`vault/${config.memberId}`, config.logLevel),
  ): Promise<VaultMember> {
    const hsm = await openMemberHsm(config);
    const member = new VaultMember(config, hsm, log);
    await member.#listen();
    if (hsm.certificate()) member.#joinRaft();
    else log('info', 'waiting for the HSM identity certificate (the operator installs it)');
    return member;
  }

  get node(): RaftNode | null {
    return this.#node;
  }

  peerUrlOf = (member: MemberId): string => peerUrl(this.config, member);

  clientUrlOf = (member: MemberId): string => {
    const url = new URL(this.peerUrlOf(member));
    url.port = String(this.config.ports.client);
    return url.origin;
  };

  async #listen(): Promise<void> {
    const { config, hsm, log } = this;
    const metrics = new EscrowMetrics(this.registry);
    this.#metrics = metrics;
    // One bucket per client address, whether it reaches the leader directly or through a follower.
    const escrowEndpoint = {
      memberId: config.memberId,
      node: () => this.#node,
      escrow: () => this.#escrow,
      forwarding: () => this.#forwarding,
      rateLimiter: clientRateLimiter(),
      metrics,
      log,
    };
    const metricsApp = newApp();
    metricsApp.get('/metrics', async (_req, res) => {
      res.type(this.registry.contentType).send(await this.registry.metrics());
    });
    const apps: [Express, number][] = [
      [
        adminApi({
          hsm,
          zone: config.zone,
          node: () => this.#node,
          readiness: () => this.readiness(),
          verifier: new AdminVerifier(readHexKey(config.operatorAdminKeyFile, 'the operator admin key')),
          peerUrlOf: this.peerUrlOf,
          onCertificate: () => this.#joinRaft(),
        }),
        config.ports.admin,
      ],
      [
        peerApi({ hsm, raft: () => this.#node?.transport.router ?? null, log, forwarded: escrowEndpoint }),
        config.ports.peer,
      ],
      [newApp().use(this.#attestationApi(), clientApi(escrowEndpoint)), config.ports.client],
      [metricsApp, config.ports.metrics],
    ];
    for (const [app, port] of apps) this.#servers.push(await listen(app, config.listenHost, port));
    log('info', 'listening', { host: config.listenHost, ...config.ports });
  }

  #metrics: EscrowMetrics | undefined;

  /** GET /v1/attestation, in front of the escrow API on the client port. */
  #attestationApi() {
    const file = this.config.attestationBundleFile;
    return attestationApi(file ? new BundleFile(file, { log: this.log }) : null, { log: this.log });
  }

  readiness() {
    return readiness({
      certified: this.hsm.certificate() !== null,
      hasFleetSecret: hasFleetSecret(this.hsm),
      node: this.#node,
    });
  }

  #joinRaft(): void {
    this.#joining ??= this.#startRaft().catch((e: unknown) => {
      this.log('error', 'could not start Raft', { error: e instanceof Error ? e.message : String(e) });
      process.exitCode = 1;
      void this.stop();
    });
  }

  async #startRaft(): Promise<void> {
    const { config, hsm, log } = this;
    const raftDir = join(config.dataDir, 'raft');
    const fresh = !existsSync(raftDir) || readdirSync(raftDir).length === 0;
    const bootstrapping = config.clusterState === 'new' && fresh;
    const authenticator = new PeerAuthenticator(new HsmAuthenticator(hsm), this.peerUrlOf, log);
    this.#forwarding = new LeaderForwarding({
      memberId: config.memberId,
      authenticator,
      peerUrlOf: this.peerUrlOf,
      legacyClientUrlOf: this.clientUrlOf,
      isMember: (m) => {
        const membership = this.#node?.status().membership;
        return membership !== undefined && (membership.voters.includes(m) || membership.learners.includes(m));
      },
    });
    const known = new Set<MemberId>([config.memberId, ...config.initialMembers]);
    const joiningPeers = new JoiningPeers({
      joining: () => {
        const membership = this.#node?.status().membership;
        return membership !== undefined && membership.voters.length + membership.learners.length === 0;
      },
      learn: (m) => authenticator.learn(m),
      addPeer: (m) => {
        known.add(m);
        this.#node?.setPeerUrl(m, this.peerUrlOf(m));
        log('info', 'joining: accepting the leader this member was not configured with', { peer: m });
      },
    });
    const node = await RaftNode.start({
      id: config.memberId,
      peers: new Map([...known].map((m) => [m, this.peerUrlOf(m)])),
      dataDir: raftDir,
      // Granted attempts go to this member's HSM as they apply: the OPRF runs only for those.
      stateMachine: new ObservedEscrowStateMachine(this.#metrics as EscrowMetrics, {
        onAttemptGranted: (attempt) => hsm.recordCommittedAttempt(attempt),
      }),
      authenticator,
      registry: this.registry,
      bootstrap: bootstrapping
        ? { voters: [...config.initialMembers], learners: [] }
        : { voters: [], learners: [] },
      tickMs: config.tickMs,
      logger: log,
      onUnknownSender: (from) => joiningPeers.unknownSender(from),
      onFatal: (e) => {
        log('error', 'Raft stopped on an unrecoverable error', { error: e.message });
        process.exitCode = 1;
        void this.stop();
      },
    });
    this.#node = node;
    // Members added after this process started get their peer address from the template, and
    // their certificates are fetched ahead of their first message.
    this.#peerWatch = setInterval(() => {
      const { voters, learners } = node.status().membership;
      for (const m of [...voters, ...learners]) {
        if (!known.has(m)) {
          known.add(m);
          node.setPeerUrl(m, this.peerUrlOf(m));
        }
        if (m !== config.memberId && !authenticator.isTrusted(m)) void authenticator.learn(m);
      }
    }, 500);
    log('info', 'Raft started', { bootstrapping, voters: node.status().membership.voters });
    await ensureFleetSecret({
      hsm,
      generates: bootstrapping && config.initialMembers[0] === config.memberId,
      members: () => [...known],
      urlOf: this.peerUrlOf,
      log,
      stopped: () => this.#stopped,
    });
    if (this.#stopped) return;
    this.#escrow = new EscrowService({
      hsm,
      propose: (command) => node.propose(command),
      guessLimit: config.guessLimit,
    });
    log('info', 'escrow service ready');
  }

  /** Stops taking requests, lets in-flight ones finish, stops Raft (fsync), closes the HSM. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#peerWatch);
    await Promise.all(
      this.#servers.map(
        (s) =>
          new Promise<void>((resolve) => {
            s.close(() => resolve());
            s.closeIdleConnections();
          }),
      ),
    );
    await this.#node?.stop();
    await this.hsm.close();
  }
}
