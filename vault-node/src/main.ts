// vault-node: one member of a VaultFleet. Configured by the environment the operator's Pod sets
// (sdk/src/vault/contract.ts; operator/src/specs/VAULT_CONTRACT.md); `--help` lists it.
import { Env } from '@keyfleet/sdk/vault/contract';
import { ConfigError, readConfig } from './config.ts';
import { VaultMember } from './server/vault-member.ts';

if (process.argv.includes('--help')) {
  console.log(`usage: node vault-node/src/main.ts   (configured by the environment)

${Object.values(Env)
  .map((name) => `  ${name}`)
  .join('\n')}

See operator/src/specs/VAULT_CONTRACT.md for what each one means.`);
  process.exit(0);
}

let config: ReturnType<typeof readConfig>;
try {
  config = readConfig(process.env);
} catch (e) {
  if (e instanceof ConfigError) {
    console.error(e.message);
    process.exit(2);
  }
  throw e;
}

let member: VaultMember;
try {
  member = await VaultMember.start(config);
} catch (e) {
  // One JSON line a person can act on (e.g. an HSM key file sealed for another member), no stack.
  process.stderr.write(
    `${JSON.stringify({ time: new Date().toISOString(), level: 'error', component: `vault/${config.memberId}`, msg: 'refusing to start', error: e instanceof Error ? e.message : String(e) })}\n`,
  );
  process.exit(1);
}
let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    member.log('info', 'stopping', { signal });
    // Grace: the kubelet allows terminationGracePeriodSeconds after preStop; stop well within it.
    const force = setTimeout(() => process.exit(1), 9000);
    force.unref();
    void member.stop().then(() => process.exit(process.exitCode ?? 0));
  });
}
