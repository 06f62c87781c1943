// Loads the CRDs from the repository's crds/ directory, the source of truth for the API.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import type { CustomResourceDefinition } from './schema.ts';

export const crdDirectory: string = fileURLToPath(new URL('../../../crds/', import.meta.url));

export const crdFiles = {
  VaultFleet: 'vaultfleets.keyfleet.dev.yaml',
  KeyDirectory: 'keydirectories.keyfleet.dev.yaml',
} as const;

export type KeyfleetKind = keyof typeof crdFiles;

export function loadCrd(kind: KeyfleetKind): CustomResourceDefinition {
  return parse(readFileSync(crdDirectory + crdFiles[kind], 'utf8')) as CustomResourceDefinition;
}
