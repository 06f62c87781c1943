// npm run gen:types — regenerates sdk/src/api/types.generated.ts from crds/*.yaml.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadCrd } from '../sdk/src/api/crds.ts';
import { generateApiTypes } from '../sdk/src/api/typegen.ts';

if (process.argv.includes('--help')) {
  console.log('usage: npm run gen:types\nRegenerates sdk/src/api/types.generated.ts from the CRDs in crds/.');
  process.exit(0);
}
const target = fileURLToPath(new URL('../sdk/src/api/types.generated.ts', import.meta.url));
writeFileSync(target, generateApiTypes([loadCrd('VaultFleet'), loadCrd('KeyDirectory')]));
console.log(`wrote ${target}`);
