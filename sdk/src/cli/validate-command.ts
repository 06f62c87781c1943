// keyfleet validate FILE...: checks VaultFleet/KeyDirectory manifests offline against the CRD
// schemas and CEL rules, with the messages the API server would give.
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { crdFiles, type KeyfleetKind, loadCrd } from '../api/crds.ts';
import { storageSchema } from '../api/schema.ts';
import { resourceValidator } from '../api/validate.ts';
import { type Command, UsageError } from './command.ts';

const maxManifestBytes = 1 << 20;

export const validateCommand: Command = {
  name: 'validate',
  summary: 'check VaultFleet and KeyDirectory manifests against the API (schemas and CEL rules)',
  usage:
    'keyfleet validate FILE... [--old FILE] [--json]\n  --old FILE  validate as an update of the object in FILE (transition rules)',
  async run(context) {
    if (context.args.length === 0) throw new UsageError('name at least one manifest file');
    const oldFile = context.flags.get('old');
    const old = typeof oldFile === 'string' ? parseAllDocuments(read(oldFile))[0]?.toJS() : undefined;
    const results: { file: string; kind: string; name: string; errors: string[] }[] = [];
    for (const file of context.args) {
      for (const document of parseAllDocuments(read(file))) {
        const object = document.toJS() as Record<string, unknown> | null;
        if (!object) continue;
        const kind = String(object.kind);
        const name = String((object.metadata as { name?: unknown } | undefined)?.name ?? '');
        if (!(kind in crdFiles)) {
          results.push({
            file,
            kind,
            name,
            errors: [`kind ${JSON.stringify(kind)} is not a keyfleet.dev kind`],
          });
          continue;
        }
        const validator = resourceValidator(storageSchema(loadCrd(kind as KeyfleetKind)));
        const { errors } = validator.validate(object, old);
        results.push({ file, kind, name, errors: errors.map((e) => e.message) });
      }
    }
    if (context.json) context.out(JSON.stringify(results, null, 2));
    else {
      for (const r of results) {
        context.out(`${r.errors.length === 0 ? 'valid  ' : 'INVALID'} ${r.kind}/${r.name} (${r.file})`);
        for (const e of r.errors) context.out(`        ${e}`);
      }
    }
    return results.every((r) => r.errors.length === 0) ? 0 : 1;
  },
};

function read(file: string): string {
  const text = readFileSync(file);
  if (text.length > maxManifestBytes)
    throw new UsageError(`${file} is larger than ${maxManifestBytes} bytes`);
  return text.toString('utf8');
}
