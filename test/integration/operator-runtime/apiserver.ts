// A bare Kubernetes API server for the operator runtime's integration tests, in the manner of
// controller-runtime's envtest: etcd and kube-apiserver only (no nodes, no controllers), built
// by test/cluster/build.sh, on free loopback ports, in a temporary directory, with a static
// admin token. It is separate from the full test cluster (test/cluster) so it can run beside
// it: that one has fixed ports and one state directory per machine.
import { type ChildProcess, spawn } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { binPath } from '../../cluster/src/versions.ts';

export interface TestApiServer {
  url: string;
  token: string;
  /** A kubeconfig (YAML) for the admin token; the serving certificate is self-signed. */
  kubeconfig: string;
  stop(): Promise<void>;
}

export function missingBinaries(): string[] {
  return (['etcd', 'kube-apiserver'] as const).filter((c) => !existsSync(binPath(c)));
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function launch(cmd: string, args: string[], log: string): ChildProcess {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let tail = '';
  const keep = (d: Buffer) => {
    tail = (tail + d.toString()).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  child.on('exit', (code, sig) => {
    if (code !== 0 && sig === null) writeFileSync(log, tail);
  });
  return child;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

export async function startTestApiServer(timeoutMs = 90_000): Promise<TestApiServer> {
  const missing = missingBinaries();
  if (missing.length)
    throw new Error(`not built: ${missing.join(', ')}; run test/cluster/build.sh etcd kube-apiserver`);
  const dir = mkdtempSync(join(tmpdir(), 'keyfleet-apiserver-'));
  const [etcdClient, etcdPeer, securePort] = [await freePort(), await freePort(), await freePort()];
  const token = randomBytes(16).toString('hex');
  writeFileSync(join(dir, 'tokens.csv'), `${token},keyfleet-test-admin,1,"system:masters"\n`, {
    mode: 0o600,
  });
  const sa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  writeFileSync(join(dir, 'sa.key'), sa.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  writeFileSync(join(dir, 'sa.pub'), sa.publicKey.export({ type: 'spki', format: 'pem' }));
  mkdirSync(join(dir, 'certs'));

  const client = `http://127.0.0.1:${etcdClient}`;
  const peer = `http://127.0.0.1:${etcdPeer}`;
  const etcd = launch(
    binPath('etcd'),
    [
      '--name=test',
      `--data-dir=${join(dir, 'etcd')}`,
      `--listen-client-urls=${client}`,
      `--advertise-client-urls=${client}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=test=${peer}`,
      '--unsafe-no-fsync',
      '--log-level=error',
    ],
    join(dir, 'etcd.log'),
  );
  const apiserver = launch(
    binPath('kube-apiserver'),
    [
      `--etcd-servers=${client}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${securePort}`,
      `--cert-dir=${join(dir, 'certs')}`,
      `--token-auth-file=${join(dir, 'tokens.csv')}`,
      '--authorization-mode=RBAC',
      '--service-account-issuer=https://kubernetes.default.svc',
      `--service-account-key-file=${join(dir, 'sa.pub')}`,
      `--service-account-signing-key-file=${join(dir, 'sa.key')}`,
      // Only configuration: with no nodes or proxies, nothing is ever sent to this range.
      '--service-cluster-ip-range=10.97.0.0/24',
      '--disable-admission-plugins=ServiceAccount',
      '--profiling=false',
      '--v=0',
    ],
    join(dir, 'apiserver.log'),
  );
  const url = `https://127.0.0.1:${securePort}`;
  const stop = async () => {
    await stopChild(apiserver);
    await stopChild(etcd);
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + timeoutMs;
  try {
    while (true) {
      if (apiserver.exitCode !== null || etcd.exitCode !== null) {
        throw new Error(`the test API server exited early; logs in ${dir}`);
      }
      if (Date.now() > deadline) throw new Error(`the test API server was not ready in ${timeoutMs} ms`);
      if (await ready(url, token)) break;
      await new Promise((r) => setTimeout(r, 250));
    }
  } catch (err) {
    await stop();
    throw err;
  }
  const kubeconfig = [
    'apiVersion: v1',
    'kind: Config',
    `clusters: [{name: test, cluster: {server: "${url}", insecure-skip-tls-verify: true}}]`,
    `users: [{name: admin, user: {token: "${token}"}}]`,
    'contexts: [{name: test, context: {cluster: test, user: admin}}]',
    'current-context: test',
    '',
  ].join('\n');
  return { url, token, kubeconfig, stop };
}

function ready(url: string, token: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(
      `${url}/readyz`,
      { headers: { authorization: `Bearer ${token}` }, rejectUnauthorized: false, timeout: 2000 },
      (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      },
    );
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
    req.end();
  });
}
