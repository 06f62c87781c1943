// Reads crds/examples: valid objects, valid updates and invalid objects with the error each must produce.
// Used by the unit validator tests and by the cluster tier against a real API server.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parse } from 'yaml';
import { crdDirectory } from './crds.ts';

export interface CrExample {
  /** Path relative to the repository's crds/ directory. */
  readonly file: string;
  readonly object: Record<string, unknown>;
  /** When set, the example is applied as an update of this (valid) object. */
  readonly updateOf?: { readonly file: string; readonly object: Record<string, unknown> };
  /** For invalid examples: a substring of the error message the API server must return. */
  readonly expectError?: string;
}

function header(text: string, key: string): string | undefined {
  const match = new RegExp(`^# ${key}: (.+)$`, 'm').exec(text);
  return match?.[1]?.trim();
}

function readExample(directory: string, name: string): CrExample {
  const path = join(directory, name);
  const text = readFileSync(path, 'utf8');
  const updateOfPath = header(text, 'update-of');
  const expectError = header(text, 'expect-error');
  const relative = (p: string) => p.slice(crdDirectory.length);
  const example: CrExample = {
    file: relative(path),
    object: parse(text) as Record<string, unknown>,
    ...(expectError ? { expectError } : {}),
  };
  if (!updateOfPath) return example;
  const oldPath = resolve(dirname(path), updateOfPath);
  return {
    ...example,
    updateOf: {
      file: relative(oldPath),
      object: parse(readFileSync(oldPath, 'utf8')) as Record<string, unknown>,
    },
  };
}

function readDirectory(sub: string): CrExample[] {
  const directory = join(crdDirectory, sub);
  return readdirSync(directory)
    .filter((name) => name.endsWith('.yaml'))
    .sort()
    .map((name) => readExample(directory, name));
}

export const validExamples = (): CrExample[] => readDirectory('examples');
export const validUpdateExamples = (): CrExample[] => readDirectory('examples/updates');
export const invalidExamples = (): CrExample[] => readDirectory('examples/invalid');
