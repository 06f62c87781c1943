// `npm run cluster -- up|down|status|kubeconfig` (or `npm exec -- node test/cluster/src/cli.ts ...`).
import { down, status, up } from './cluster.ts';
import { paths } from './config.ts';

const usage = `usage: cluster <command>
  up            build nothing, start etcd, apiserver, controller-manager, scheduler, the node agent
                (7 zone nodes), kube-proxy and CoreDNS; prints the kubeconfig path
  down [--purge] stop everything, remove namespaces, routes, nft rules, mount points (--purge: and logs)
  status        what runs, pids, log files, pods with their IPs, active faults
  kubeconfig    print the kubeconfig path (export KUBECONFIG=$(npm run -s cluster -- kubeconfig))
Binaries come from test/cluster/build.sh (cached in ~/.cache/keyfleet/bin).`;

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  const say = (m: string) => process.stderr.write(`cluster: ${m}\n`);
  switch (cmd) {
    case 'up': {
      const r = await up(say);
      say(`up in ${r.seconds.toFixed(1)}s`);
      process.stdout.write(`KUBECONFIG=${r.kubeconfig}\n`);
      return 0;
    }
    case 'down':
      await down({ purge: rest.includes('--purge') }, say);
      say('down');
      return 0;
    case 'status':
      process.stdout.write(`${JSON.stringify(await status(), null, 2)}\n`);
      return 0;
    case 'kubeconfig':
      process.stdout.write(`${paths.kubeconfig}\n`);
      return 0;
    case '--help':
    case '-h':
    case 'help':
      process.stdout.write(`${usage}\n`);
      return 0;
    default:
      process.stderr.write(`${usage}\n`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: Error) => {
    process.stderr.write(`cluster: ${e.message}\n`);
    process.exit(1);
  },
);
