import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from './log.ts';
import { type OperatorConfig, parseConfig, parseDuration, startOperator, UsageError } from './main.ts';
import type { Lease } from './runtime/leaderelection.ts';
import { builtin } from './runtime/resource.ts';
import { FakeApiServer } from './runtime/testing/fake-apiserver.ts';
import { type ServedFake, serveOverHttp } from './runtime/testing/serve-http.ts';
import { waitFor } from './runtime/testing/wait.ts';

describe('parseConfig', () => {
  it('has defaults, reads the environment, and lets flags win', () => {
    const d = parseConfig([], {}) as OperatorConfig;
    expect(d).toMatchObject({
      namespaces: [],
      leaderElect: true,
      leaderElectionId: 'keyfleet-operator',
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
      metricsAddress: ':8080',
      logLevel: 'info',
      images: {},
    });
    expect(d.identity).toMatch(/_[0-9a-f]{8}$/);
    const env = {
      WATCH_NAMESPACES: 'vaults, dirs',
      POD_NAMESPACE: 'ops',
      POD_NAME: 'op-0',
      LOG_LEVEL: 'debug',
      KUBECONFIG: '/k',
      VAULT_NODE_IMAGE: 'v:1',
    };
    expect(parseConfig([], env)).toMatchObject({
      namespaces: ['vaults', 'dirs'],
      leaderElectionNamespace: 'ops',
      logLevel: 'debug',
      kubeconfig: '/k',
      images: { vaultNode: 'v:1' },
    });
    expect((parseConfig([], env) as OperatorConfig).identity).toMatch(/^op-0_/);
    const f = parseConfig(['--namespace', 'x', '--no-leader-elect', '--metrics-addr', '127.0.0.1:9'], env);
    expect(f).toMatchObject({ namespaces: ['x'], leaderElect: false, metricsAddress: '127.0.0.1:9' });
    expect(parseConfig(['--help'], {})).toBe('help');
  });

  it('takes the arguments the Helm chart passes', () => {
    const cfg = parseConfig(
      [
        '--metrics-address=:8080',
        '--leader-elect=false',
        '--leader-election-namespace=keyfleet-system',
        '--lease-duration=30s',
        '--renew-deadline=20s',
        '--retry-period=1500ms',
        '--log-level=warn',
        '--watch-namespaces=a,b,a',
        '--vault-node-image=ghcr.io/keyfleet/vault-node:0.1.0',
        '--directory-node-image=ghcr.io/keyfleet/directory-node:0.1.0',
      ],
      {},
    );
    expect(cfg).toMatchObject({
      metricsAddress: ':8080',
      leaderElect: false,
      leaderElectionNamespace: 'keyfleet-system',
      leaseDurationMs: 30_000,
      renewDeadlineMs: 20_000,
      retryPeriodMs: 1_500,
      logLevel: 'warn',
      namespaces: ['a', 'b'],
      images: {
        vaultNode: 'ghcr.io/keyfleet/vault-node:0.1.0',
        directoryNode: 'ghcr.io/keyfleet/directory-node:0.1.0',
      },
    });
    expect(parseConfig(['--leader-elect=true'], {})).toMatchObject({ leaderElect: true });
  });

  it('parses Go-style durations', () => {
    expect(parseDuration('1m30s')).toBe(90_000);
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('1.5s')).toBe(1_500);
    for (const bad of ['', '15', '15 s', 's', '1d'])
      expect(() => parseDuration(bad)).toThrow(/not a duration/);
  });

  it('explains bad flags', () => {
    expect(() => parseConfig(['--bogus'], {})).toThrow(UsageError);
    expect(() => parseConfig(['--log-level', 'loud'], {})).toThrow(/--log-level/);
    expect(() => parseConfig(['--metrics-address', 'nowhere'], {})).toThrow(/--metrics-address/);
    expect(() => parseConfig(['--renew-deadline', '20s'], {})).toThrow(/renewDeadline must be shorter/);
    expect(() => parseConfig(['--retry-period', 'soon'], {})).toThrow(/--retry-period/);
  });
});

describe('the operator process against a fake API server over HTTP', () => {
  let served: ServedFake | undefined;
  afterEach(async () => {
    await served?.close();
    served = undefined;
  });

  async function fakeCluster() {
    const api = new FakeApiServer([builtin.lease, builtin.event]);
    served = await serveOverHttp(api);
    const dir = mkdtempSync(join(tmpdir(), 'keyfleet-main-'));
    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(kubeconfig, served.kubeconfig);
    return { api, kubeconfig };
  }

  const lease = (api: FakeApiServer) => api.object<Lease>(builtin.lease, 'ops', 'keyfleet-operator');

  it('serves health, readiness and metrics, leads, and releases the lease on stop', async () => {
    const { api, kubeconfig } = await fakeCluster();
    const cfg = parseConfig(
      ['--kubeconfig', kubeconfig, '--metrics-address', '127.0.0.1:0', '--leader-election-namespace', 'ops'],
      {},
    ) as OperatorConfig;
    const lines: string[] = [];
    // No controllers: this fake serves only leases and events, and readiness waits for every
    // registered controller's informers (the VaultFleet controller's kinds are tested in its own tests).
    const op = await startOperator(cfg, {
      logger: createLogger({ write: (l) => lines.push(l) }),
      controllers: [],
    });
    const url = `http://127.0.0.1:${op.address.port}`;
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    await waitFor('leading', () => lease(api)?.spec?.holderIdentity === cfg.identity);
    await waitFor('ready as leader', () => op.manager.readiness().role === 'leader');
    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ role: 'leader', leader: cfg.identity });
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toContain('keyfleet_leader_election_is_leader{lease="keyfleet-operator"} 1');
    expect(metrics).toContain('process_cpu_user_seconds_total');
    await op.stop();
    expect(lease(api)?.spec?.holderIdentity).toBeUndefined();
    for (const l of lines) expect(() => JSON.parse(l)).not.toThrow();
    expect(lines.map((l) => JSON.parse(l).msg)).toContain('operator starting');
  });

  it('as a real process: JSON logs on stdout, and SIGTERM hands the lease over and exits 0', async () => {
    const { api, kubeconfig } = await fakeCluster();
    const main = fileURLToPath(new URL('./main.ts', import.meta.url));
    const child = spawn(
      process.execPath,
      [
        main,
        '--kubeconfig',
        kubeconfig,
        '--metrics-addr',
        '127.0.0.1:0',
        '--leader-election-namespace',
        'ops',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, POD_NAME: 'keyfleet-operator-0' } },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await waitFor(
        'the child to take the lease',
        () => !!lease(api)?.spec?.holderIdentity?.startsWith('keyfleet-operator-0_'),
        20_000,
      );
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
    expect(stderr).toBe('');
    expect(lease(api)?.spec?.holderIdentity).toBeUndefined();
    const records = stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const msgs = records.map((r) => r['msg']);
    expect(msgs).toEqual(
      expect.arrayContaining([
        'operator starting',
        'became leader',
        'released the lease',
        'shut down cleanly',
      ]),
    );
    for (const r of records) expect(Object.keys(r).slice(0, 3)).toEqual(['time', 'level', 'msg']);
    expect(stdout).not.toContain('test-token');
  }, 30_000);
});
