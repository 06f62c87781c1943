// A publisher that kills itself with SIGKILL at one point of an epoch (for crash tests).
//   CRASH_AT = nodes | values | epoch | queue (inside the epoch transaction, after that step)
//            | after-commit (committed, audit blob not yet stored) | never
// Other settings come from the environment, as for directory-node's main.
import { jsonLog } from '../../../directory-node/src/log.ts';
import { startPublisher } from '../../../directory-node/src/roles.ts';

const crashAt = process.env.CRASH_AT ?? 'never';
const env = (k: string) => {
  const v = process.env[k];
  if (v === undefined) throw new Error(`missing ${k}`);
  return v;
};
const die = () => process.kill(process.pid, 'SIGKILL');

await startPublisher(
  {
    namespace: env('KEYFLEET_NAMESPACE'),
    listen: { host: '127.0.0.1', port: 0 },
    dataDir: env('KEYFLEET_DATA_DIR'),
    auditDir: env('KEYFLEET_AUDIT_DIR'),
    vrfKeyFile: env('KEYFLEET_VRF_KEY_FILE'),
    signingKeyFile: env('KEYFLEET_SIGNING_KEY_FILE'),
    epochIntervalMs: 50,
    maxBatchSize: 1000,
    maxQueueDepth: 10_000,
    labelThreads: 1,
    serveReads: true,
    hooks: {
      onCommitStep: (step) => {
        if (step === crashAt) die();
      },
      afterCommit: () => {
        if (crashAt === 'after-commit') die();
      },
    },
  },
  jsonLog('crash-publisher'),
);
