// Generates TypeScript types from the CRD schemas, so the types cannot drift from crds/*.yaml:
// types.generated.ts is this function's output, and typegen.test.ts fails when it is stale.
// Types describe objects as the API server returns them: a field with a schema default is present.
import type { CustomResourceDefinition, StructuralSchema } from './schema.ts';
import { storageSchema } from './schema.ts';

function docComment(text: string | undefined, indent: string): string {
  if (!text) return '';
  const words = text.replace(/\s+/g, ' ').trim().replaceAll('*/', '*\\/');
  return `${indent}/** ${words} */\n`;
}

function literal(value: unknown): string {
  return typeof value === 'string' ? `'${value.replaceAll("'", "\\'")}'` : String(value);
}

function typeExpression(schema: StructuralSchema, indent: string): string {
  if (schema.enum) return schema.enum.map(literal).join(' | ');
  if (schema['x-kubernetes-int-or-string']) return 'number | string';
  switch (schema.type) {
    case 'string':
      return 'string';
    case 'integer':
    case 'number':
      return 'number';
    case 'boolean':
      return 'boolean';
    case 'array':
      if (!schema.items) throw new Error('array schema without items');
      return `Array<${typeExpression(schema.items, indent)}>`;
    case 'object':
      return objectType(schema, indent);
    default:
      return 'unknown';
  }
}

function objectType(schema: StructuralSchema, indent: string): string {
  const properties = schema.properties ?? {};
  const names = Object.keys(properties);
  if (names.length === 0) {
    const extra = schema.additionalProperties;
    if (typeof extra === 'object') return `Record<string, ${typeExpression(extra, indent)}>`;
    return 'Record<string, unknown>';
  }
  const inner = `${indent}  `;
  const required = new Set(schema.required ?? []);
  const lines = names.map((name) => {
    const property = properties[name] as StructuralSchema;
    const optional = required.has(name) || property.default !== undefined ? '' : '?';
    return `${docComment(property.description, inner)}${inner}${name}${optional}: ${typeExpression(property, inner)};\n`;
  });
  return `{\n${lines.join('')}${indent}}`;
}

function resourceTypes(crd: CustomResourceDefinition): string {
  const kind = crd.spec.names.kind;
  const root = storageSchema(crd);
  const spec = root.properties?.spec;
  const status = root.properties?.status;
  if (!spec || !status) throw new Error(`CRD ${crd.metadata.name} lacks spec or status`);
  const apiVersion = `${crd.spec.group}/${storageVersion(crd)}`;
  return [
    `${docComment(spec.description, '')}export interface ${kind}Spec ${typeExpression(spec, '')}\n`,
    `${docComment(status.description, '')}export interface ${kind}Status ${typeExpression(status, '')}\n`,
    `${docComment(root.description, '')}export interface ${kind} {\n` +
      `  apiVersion: '${apiVersion}';\n  kind: '${kind}';\n  metadata: ObjectMeta;\n` +
      `  spec: ${kind}Spec;\n  status?: ${kind}Status;\n}\n`,
  ].join('\n');
}

function storageVersion(crd: CustomResourceDefinition): string {
  const version = crd.spec.versions.find((v) => v.storage);
  if (!version) throw new Error(`CRD ${crd.metadata.name} has no storage version`);
  return version.name;
}

const objectMeta = "import type { ObjectMeta } from './object-meta.ts';\n\nexport type { ObjectMeta };\n";

export function generateApiTypes(crds: readonly CustomResourceDefinition[]): string {
  const header =
    '// Generated from crds/*.yaml by `npm run gen:types` (sdk/src/api/typegen.ts). Do not edit by hand.\n\n';
  return header + [objectMeta, ...crds.map(resourceTypes)].join('\n');
}
