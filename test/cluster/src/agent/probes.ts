// Probe and lifecycle-hook actions: httpGet and tcpSocket from the node (the host, as the kubelet
// does), exec inside the container's namespaces.
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import type { Container, Handler } from './types.ts';

export type ExecFn = (
  argv: string[],
  timeoutMs: number,
) => Promise<{ code: number; stdout: string; stderr: string }>;

export function resolvePort(c: Container, port: number | string): number {
  if (typeof port === 'number') return port;
  if (/^\d+$/.test(port)) return Number(port);
  const p = c.ports?.find((x) => x.name === port);
  if (!p) throw new Error(`container ${c.name} has no port named ${port}`);
  return p.containerPort;
}

/** Runs one probe/hook action; resolves true on success (HTTP 200..399, TCP connect, exit 0). */
export async function runAction(
  h: Handler,
  c: Container,
  podIp: string,
  timeoutMs: number,
  exec: ExecFn,
): Promise<boolean> {
  if (h.exec) return (await exec(h.exec.command, timeoutMs)).code === 0;
  if (h.httpGet) {
    const g = h.httpGet;
    const port = resolvePort(c, g.port);
    const headers: Record<string, string> = { 'user-agent': 'kube-probe/1.33' };
    for (const x of g.httpHeaders ?? []) headers[x.name] = x.value;
    const req = g.scheme === 'HTTPS' ? httpsRequest : httpRequest;
    return new Promise((resolve) => {
      const r = req(
        {
          host: g.host ?? podIp,
          port,
          path: g.path ?? '/',
          method: 'GET',
          headers,
          timeout: timeoutMs,
          rejectUnauthorized: false,
        },
        (res) => {
          res.resume();
          const s = res.statusCode ?? 0;
          resolve(s >= 200 && s < 400);
        },
      );
      r.on('timeout', () => r.destroy());
      r.on('error', () => resolve(false));
      r.end();
    });
  }
  if (h.tcpSocket || h.grpc) {
    // grpc probes are approximated by a TCP connect (no gRPC health client in the agent).
    const port = h.tcpSocket ? resolvePort(c, h.tcpSocket.port) : h.grpc!.port;
    const host = h.tcpSocket?.host ?? podIp;
    return new Promise((resolve) => {
      const s = connect({ host, port, timeout: timeoutMs });
      s.on('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.on('timeout', () => {
        s.destroy();
        resolve(false);
      });
      s.on('error', () => resolve(false));
    });
  }
  if (h.sleep) {
    await new Promise((r) => setTimeout(r, h.sleep!.seconds * 1000));
    return true;
  }
  return false;
}
