// The cluster's PKI, made with Debian's `openssl` CLI (node:crypto makes keys but not X.509
// certificates): one CA, the apiserver's serving certificate with IP SANs, client certificates
// for each component, the kubelet serving certificate, and the service-account signing key pair.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { net, nodes, paths } from './config.ts';

export interface CertFiles {
  cert: string;
  key: string;
}

export const pki = {
  ca: { cert: join(paths.pki, 'ca.crt'), key: join(paths.pki, 'ca.key') },
  saKey: join(paths.pki, 'sa.key'),
  saPub: join(paths.pki, 'sa.pub'),
  cert(name: string): CertFiles {
    return { cert: join(paths.pki, `${name}.crt`), key: join(paths.pki, `${name}.key`) };
  },
};

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

interface LeafSpec {
  name: string;
  cn: string;
  org?: string;
  usage: 'server' | 'client' | 'both';
  dns?: string[];
  ips?: string[];
}

function issue(spec: LeafSpec): void {
  const { cert, key } = pki.cert(spec.name);
  const csr = join(paths.pki, `${spec.name}.csr`);
  const ext = join(paths.pki, `${spec.name}.ext`);
  const subj = `${spec.org ? `/O=${spec.org}` : ''}/CN=${spec.cn}`;
  openssl(
    ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'].concat([
      '-keyout',
      key,
      '-out',
      csr,
      '-subj',
      subj,
    ]),
  );
  const eku =
    spec.usage === 'server' ? 'serverAuth' : spec.usage === 'client' ? 'clientAuth' : 'serverAuth,clientAuth';
  const sans = [...(spec.dns ?? []).map((d) => `DNS:${d}`), ...(spec.ips ?? []).map((i) => `IP:${i}`)];
  const lines = [
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    `extendedKeyUsage=${eku}`,
  ];
  if (sans.length) lines.push(`subjectAltName=${sans.join(',')}`);
  writeFileSync(ext, `${lines.join('\n')}\n`);
  openssl(
    ['x509', '-req', '-in', csr, '-CA', pki.ca.cert, '-CAkey', pki.ca.key, '-CAcreateserial'].concat([
      '-days',
      '30',
      '-sha256',
      '-extfile',
      ext,
      '-out',
      cert,
    ]),
  );
  rmSync(csr);
  rmSync(ext);
}

/** The client identities the harness issues (CN = user, O = group, as the apiserver reads them). */
export const identities = {
  admin: { cn: 'keyfleet-admin', org: 'system:masters' },
  controllerManager: { cn: 'system:kube-controller-manager' },
  scheduler: { cn: 'system:kube-scheduler' },
  proxy: { cn: 'system:kube-proxy' },
  // One agent plays the kubelet of all seven nodes, so it cannot be one system:node:<name>.
  agent: { cn: 'keyfleet-node-agent', org: 'system:masters' },
  coredns: { cn: 'system:coredns' },
  kubeletClient: { cn: 'kube-apiserver-kubelet-client', org: 'system:masters' },
} as const;

/** Creates the whole PKI unless it exists (a warm restart keeps its certificates). */
export function ensurePki(): void {
  if (existsSync(pki.saPub)) return;
  mkdirSync(paths.pki, { recursive: true, mode: 0o700 });
  openssl(
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
      .concat(['-keyout', pki.ca.key, '-out', pki.ca.cert, '-days', '30', '-subj', '/CN=keyfleet-test-ca'])
      .concat([
        '-addext',
        'basicConstraints=critical,CA:TRUE',
        '-addext',
        'keyUsage=critical,keyCertSign,cRLSign',
      ]),
  );
  issue({
    name: 'apiserver',
    cn: 'kube-apiserver',
    usage: 'server',
    dns: [
      'kubernetes',
      'kubernetes.default',
      'kubernetes.default.svc',
      `kubernetes.default.svc.${net.clusterDomain}`,
      'localhost',
    ],
    ips: [net.controlPlaneIp, net.kubernetesServiceIp, '127.0.0.1'],
  });
  issue({
    name: 'kubelet',
    cn: 'keyfleet-kubelet',
    usage: 'server',
    ips: nodes.map((n) => n.gateway),
    dns: nodes.map((n) => n.name),
  });
  for (const [name, id] of Object.entries(identities)) issue({ name, usage: 'client', ...id });
  openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', pki.saKey]);
  openssl(['pkey', '-in', pki.saKey, '-pubout', '-out', pki.saPub]);
}
