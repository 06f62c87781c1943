// The CRDs of crds/ against the real API server: every valid example is admitted, every invalid
// one (crds/examples/invalid/*.yaml) is rejected with the message its `# expect-error:` comment
// names; `# update-of: <path>` applies that valid example first and the file as an update.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { repoRoot } from '../src/config.ts';
import { ApiError, ensureNamespace, Kube, type Obj, until, yamlDocs } from './helpers.ts';

// KEYFLEET_CRDS_DIR proves another copy of crds/ (e.g. a fix under review) against the same server.
const crdDir = process.env['KEYFLEET_CRDS_DIR'] ?? join(repoRoot, 'crds');
const exampleDir = join(crdDir, 'examples');
const yamlIn = (dir: string) =>
  existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => f.endsWith('.yaml'))
        .sort()
        .map((f) => join(dir, f))
    : [];
const crdFiles = yamlIn(crdDir);
const valid = yamlIn(exampleDir);
const updates = yamlIn(join(exampleDir, 'updates'));
const invalid = yamlIn(join(exampleDir, 'invalid'));

interface Directives {
  expectError?: string;
  updateOf?: string;
}

function directives(file: string): Directives {
  const out: Directives = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.startsWith('#')) break;
    const e = /^#\s*expect-error:\s*(.+?)\s*$/.exec(line);
    if (e) out.expectError = e[1];
    const u = /^#\s*update-of:\s*(.+?)\s*$/.exec(line);
    if (u) {
      // relative to the file's directory; else to the repository root
      const local = resolve(dirname(file), u[1]!);
      out.updateOf = existsSync(local) ? local : resolve(repoRoot, u[1]!);
    }
  }
  return out;
}

const kube = new Kube();
const plurals = new Map<string, string>(); // group/Kind -> plural

function objPath(obj: Obj, named = false): string {
  const [group, version] = obj.apiVersion!.split('/') as [string, string];
  const plural = plurals.get(`${group}/${obj.kind}`);
  if (!plural) throw new Error(`no CRD in crds/ serves ${obj.apiVersion} ${obj.kind}`);
  const base = `/apis/${group}/${version}/namespaces/${obj.metadata.namespace ?? 'default'}/${plural}`;
  return named ? `${base}/${obj.metadata.name}` : base;
}

const strict = '?fieldValidation=Strict';

async function remove(obj: Obj): Promise<void> {
  await kube.delete(objPath(obj, true));
  await until(
    `${obj.kind} ${obj.metadata.name} gone`,
    async () => !(await kube.getOrUndefined(objPath(obj, true))),
    30_000,
  );
}

async function createFresh(obj: Obj): Promise<Obj> {
  await ensureNamespace(kube, obj.metadata.namespace ?? 'default');
  await remove(obj);
  return kube.call('POST', `${objPath(obj)}${strict}`, obj);
}

async function update(base: Obj, next: Obj): Promise<Obj> {
  const current = await kube.get(objPath(base, true));
  const body = { ...next, metadata: { ...next.metadata, resourceVersion: current.metadata.resourceVersion } };
  return kube.call('PUT', `${objPath(next, true)}${strict}`, body);
}

/** Applies a file (create, or update after its update-of base) and returns the API error, if any. */
async function applyCase(file: string): Promise<ApiError | undefined> {
  const d = directives(file);
  const [obj] = yamlDocs(file);
  if (!obj) throw new Error(`${file} holds no object`);
  const notInstalled = kindErrors.get(`${obj.apiVersion!.split('/')[0]}/${obj.kind}`);
  if (notInstalled) throw new Error(`cannot prove ${file}: ${notInstalled}`);
  try {
    if (d.updateOf) {
      const [base] = yamlDocs(d.updateOf);
      await createFresh(base!);
      await update(base!, obj);
    } else {
      await createFresh(obj);
    }
    return undefined;
  } catch (e) {
    if (e instanceof ApiError) return e;
    throw e;
  } finally {
    await remove(obj);
  }
}

// CRD file -> the API server's error installing it (absent when it was admitted and Established).
const crdErrors = new Map<string, string>();
const kindErrors = new Map<string, string>(); // group/Kind -> why its CRD is not installed

beforeAll(async () => {
  for (const file of crdFiles) {
    for (const crd of yamlDocs(file)) {
      if (crd.kind !== 'CustomResourceDefinition') continue;
      const spec = crd['spec'] as { group: string; names: { kind: string; plural: string } };
      const kind = `${spec.group}/${spec.names.kind}`;
      plurals.set(kind, spec.names.plural);
      try {
        await kube.apply(`/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}`, crd);
        await until(`CRD ${crd.metadata.name} Established`, async () => {
          const c = await kube.get<Obj & { status?: { conditions?: { type: string; status: string }[] } }>(
            `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}`,
          );
          return c.status?.conditions?.some((x) => x.type === 'Established' && x.status === 'True');
        });
      } catch (e) {
        crdErrors.set(file, (e as Error).message);
        kindErrors.set(kind, `its CRD ${crd.metadata.name} was not admitted: ${(e as Error).message}`);
      }
    }
  }
});
afterAll(() => kube.close());

describe('CRDs of crds/ on the real API server', () => {
  test('crds/ has CRDs and examples to prove', () => {
    expect(crdFiles.length).toBeGreaterThan(0);
    expect(valid.length).toBeGreaterThan(0);
    expect(invalid.length).toBeGreaterThan(0);
  });

  test.each(crdFiles.map((f) => [f.slice(repoRoot.length + 1), f]))(
    'the API server admits the CRD %s',
    (_name, file) => {
      expect(crdErrors.get(file)).toBeUndefined();
    },
  );

  test.each(valid.map((f) => [f.slice(repoRoot.length + 1), f]))('admits %s', async (_name, file) => {
    expect(directives(file).expectError).toBeUndefined();
    const err = await applyCase(file);
    expect(err?.message).toBeUndefined();
  });

  test.each(updates.map((f) => [f.slice(repoRoot.length + 1), f]))(
    'admits the update %s',
    async (_name, file) => {
      expect(directives(file).updateOf, 'an update example needs # update-of:').toBeDefined();
      const err = await applyCase(file);
      expect(err?.message).toBeUndefined();
    },
  );

  test.each(invalid.map((f) => [f.slice(repoRoot.length + 1), f]))(
    'rejects %s with its expected message',
    async (_name, file) => {
      const want = directives(file).expectError;
      expect(want, `${file} needs a leading '# expect-error: <message>' comment`).toBeDefined();
      const err = await applyCase(file);
      expect(err, 'the API server admitted it').toBeInstanceOf(ApiError);
      expect([400, 422]).toContain(err!.status);
      expect(err!.message).toContain(want);
    },
  );
});
