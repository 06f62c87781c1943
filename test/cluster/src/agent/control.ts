// The agent's control API for the harness: HTTP+JSON on a unix socket (.state/agent.sock), only
// reachable by root on this machine. Fault injection, exec into pods, and a status listing.
import { existsSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { nodeLayout, paths } from '../config.ts';
import type { NodeAgent } from './main.ts';

const MAX_BODY = 1024 * 1024;

function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString();
      if (body.length > MAX_BODY) req.destroy(new Error('body too large'));
    });
    req.on('end', () => {
      try {
        resolve(body ? (JSON.parse(body) as Record<string, unknown>) : {});
      } catch {
        reject(new HttpError(400, 'bad_json', 'request body is not JSON'));
      }
    });
    req.on('error', reject);
  });
}

class HttpError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function str(body: Record<string, unknown>, key: string): string {
  const v = body[key];
  if (typeof v !== 'string' || !v) throw new HttpError(400, 'bad_request', `"${key}" (string) is required`);
  return v;
}

export async function handle(
  agent: NodeAgent,
  method: string,
  path: string,
  body: Record<string, unknown>,
): Promise<unknown> {
  const runner = () => {
    const r = agent.findRunner(str(body, 'namespace'), str(body, 'pod'));
    if (!r)
      throw new HttpError(
        404,
        'not_found',
        `pod ${body['namespace']}/${body['pod']} is not running on any node`,
      );
    return r;
  };
  const zoneNode = () => nodeLayout(str(body, 'zone')).name;
  switch (`${method} ${path}`) {
    case 'GET /status':
      return {
        nodes: agentNodes(agent),
        faults: agent.faults.describe(),
        pods: [...agent.runners.values()].map((r) => ({
          namespace: r.pod.metadata.namespace,
          name: r.pod.metadata.name,
          uid: r.uid,
          node: r.node.name,
          ip: r.ip,
          netns: r.netns,
          pids: r.pids(),
          logs: Object.fromEntries(r.containerNames().map((c) => [c, r.logFile(c)])),
        })),
      };
    case 'POST /faults/partition':
      agent.faults.partitionZone(str(body, 'zone'));
      return agent.faults.describe();
    case 'POST /faults/heal':
      if (typeof body['zone'] === 'string') agent.faults.healZone(body['zone']);
      else agent.faults.healAll();
      return agent.faults.describe();
    case 'POST /faults/isolate':
      agent.faults.isolateIp(runner().ip);
      return agent.faults.describe();
    case 'POST /faults/unisolate':
      agent.faults.unisolateIp(runner().ip);
      return agent.faults.describe();
    case 'POST /pods/kill':
      runner().crashContainers();
      return { killed: true };
    case 'POST /nodes/stop':
      await agent.stopNode(zoneNode());
      return { stopped: zoneNode() };
    case 'POST /nodes/start':
      await agent.restartNode(zoneNode());
      return { started: zoneNode() };
    case 'POST /exec': {
      const argv = body['argv'];
      if (!Array.isArray(argv) || !argv.every((a) => typeof a === 'string') || argv.length === 0) {
        throw new HttpError(400, 'bad_request', '"argv" must be a non-empty list of strings');
      }
      const timeout = typeof body['timeoutMs'] === 'number' ? Math.min(body['timeoutMs'], 120_000) : 30_000;
      const c = typeof body['container'] === 'string' ? body['container'] : undefined;
      return runner().exec(c, argv as string[], timeout);
    }
    default:
      throw new HttpError(404, 'not_found', `no route ${method} ${path}`);
  }
}

function agentNodes(agent: NodeAgent): { name: string; stopped: boolean }[] {
  return ['dc1', 'dc2', 'dc3', 'dc4', 'dc5', 'dc6', 'dc7'].map((z) => {
    const name = nodeLayout(z).name;
    return { name, stopped: agent.stoppedNodes.has(name) };
  });
}

export function startControlServer(agent: NodeAgent, log: (m: string) => void): Promise<void> {
  if (existsSync(paths.agentSocket)) rmSync(paths.agentSocket);
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const reply = (status: number, obj: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(obj));
    };
    readJson(req)
      .then((body) => handle(agent, req.method ?? 'GET', (req.url ?? '/').split('?')[0]!, body))
      .then((out) => reply(200, out))
      .catch((e: Error) => {
        const status = e instanceof HttpError ? e.status : 500;
        const code = e instanceof HttpError ? e.code : 'internal';
        if (status >= 500) log(`control ${req.method} ${req.url}: ${e.message}`);
        reply(status, { error: { code, message: e.message } });
      });
  });
  return new Promise((resolve) => server.listen(paths.agentSocket, () => resolve()));
}
