// The kubelet's HTTPS endpoint for `kubectl logs`: the apiserver connects to a node's InternalIP
// (its bridge address) on port 10250 with its kubelet-client certificate; we serve
// /containerLogs/<ns>/<pod>/<container> (tailLines, previous, follow, limitBytes) from the log files.
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:https';
import { nodes, ports } from '../config.ts';
import { pki } from '../pki.ts';
import type { NodeAgent } from './main.ts';

export function startKubeletServers(agent: NodeAgent, log: (m: string) => void): void {
  const opts = {
    ca: readFileSync(pki.ca.cert),
    cert: readFileSync(pki.cert('kubelet').cert),
    key: readFileSync(pki.cert('kubelet').key),
    requestCert: true,
    rejectUnauthorized: true,
  };
  for (const n of nodes) {
    const server = createServer(opts, (req, res) => {
      const url = new URL(req.url ?? '/', 'https://kubelet');
      const m = /^\/containerLogs\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(url.pathname);
      if (url.pathname === '/healthz') {
        res.end('ok');
        return;
      }
      if (!m) {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            error: { code: 'not_found', message: `the keyfleet node agent does not serve ${url.pathname}` },
          }),
        );
        return;
      }
      const [, ns, pod, container] = m as unknown as [string, string, string, string];
      const r = agent.findRunner(decodeURIComponent(ns), decodeURIComponent(pod));
      if (!r?.containerNames().includes(container)) {
        res.writeHead(404);
        res.end(`container ${container} of pod ${ns}/${pod} is not on this node`);
        return;
      }
      const current = r.restartCounts()[container] ?? 0;
      const file = r.logFile(container, url.searchParams.get('previous') === 'true' ? current - 1 : current);
      if (!existsSync(file)) {
        res.writeHead(400);
        res.end(
          `no logs for container ${container}${url.searchParams.get('previous') === 'true' ? ' (previous)' : ''}`,
        );
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain' });
      const tail = Number(url.searchParams.get('tailLines') ?? '-1');
      const limit = Number(url.searchParams.get('limitBytes') ?? '0');
      let text = readFileSync(file, 'utf8');
      if (tail >= 0)
        text = text
          .split('\n')
          .slice(-(tail + 1))
          .join('\n');
      if (limit > 0) text = text.slice(0, limit);
      res.write(text);
      if (url.searchParams.get('follow') !== 'true') {
        res.end();
        return;
      }
      let offset = statSync(file).size;
      const timer = setInterval(() => {
        // Follow ends when this container instance ends, as the kubelet's does.
        if (!agent.findRunner(ns, pod) || (r.restartCounts()[container] ?? 0) !== current) {
          clearInterval(timer);
          res.end();
          return;
        }
        const size = existsSync(file) ? statSync(file).size : offset;
        if (size > offset) {
          createReadStream(file, { start: offset, end: size - 1 }).pipe(res, { end: false });
          offset = size;
        }
      }, 500);
      req.on('close', () => clearInterval(timer));
    });
    server.on('error', (e) => log(`kubelet endpoint ${n.gateway}: ${e.message}`));
    server.listen(ports.kubelet, n.gateway);
  }
}
