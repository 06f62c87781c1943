// npm run main — the end-to-end path that exists today, described honestly as it runs.
// It grows with the project into: local cluster up, chart installed, fleet + directory Available,
// a backup key escrowed and recovered, a lockout shown, the attestation and a lookup proof verified.
import {
  type KeyfleetKind,
  loadCrd,
  resourceValidator,
  storageSchema,
  validExamples,
} from '@keyfleet/sdk/api/index';

if (process.argv.includes('--help')) {
  console.log(`usage: npm run main

Runs keyfleet's end-to-end path on this machine and says what each step proved.
Today: validates the example VaultFleet and KeyDirectory against the CRD schemas and CEL rules.`);
  process.exit(0);
}

const step = (text: string) => console.log(`\n== ${text}`);

step('API: validating crds/examples against the CRD schemas and CEL rules');
const validators = {
  VaultFleet: resourceValidator(storageSchema(loadCrd('VaultFleet'))),
  KeyDirectory: resourceValidator(storageSchema(loadCrd('KeyDirectory'))),
};
let failures = 0;
for (const example of validExamples()) {
  const { errors } = validators[example.object.kind as KeyfleetKind].validate(example.object);
  console.log(`${errors.length === 0 ? 'ok  ' : 'FAIL'} ${example.file}`);
  for (const error of errors) console.log(`     ${error.message}`);
  failures += errors.length;
}
process.exit(failures === 0 ? 0 : 1);
