// Validates a custom resource the way the API server does, for unit tests and the CLI:
// structural defaulting, the OpenAPI schema (ajv), and every CEL x-kubernetes-validations rule
// (including transition rules against the old object). Messages follow the API server's wording
// so an invalid example can name one expected message for both this validator and a real cluster.
import { Environment } from '@marcbachmann/cel-js';
import { Ajv, type ErrorObject } from 'ajv';
import addFormats from 'ajv-formats';
import type { StructuralSchema } from './schema.ts';

export interface ValidationError {
  /** Field path as the API server prints it, e.g. spec.zones[2]. */
  readonly field: string;
  readonly message: string;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function clone<T>(value: T): T {
  return structuredClone(value);
}

/** Applies schema defaults top-down, recursing into values it just defaulted (as the API server does). */
export function applyDefaults(schema: StructuralSchema, value: unknown): unknown {
  if (Array.isArray(value) && schema.items) {
    return value.map((item) => applyDefaults(schema.items as StructuralSchema, item));
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  const result: Record<string, unknown> = { ...(value as Record<string, unknown>) };
  for (const [name, property] of Object.entries(schema.properties ?? {})) {
    if (result[name] === undefined && property.default !== undefined) result[name] = clone(property.default);
    if (result[name] !== undefined) result[name] = applyDefaults(property, result[name]);
  }
  return result;
}

/** Rewrites the structural schema into one ajv enforces like the API server (strict field validation). */
function toAjvSchema(schema: StructuralSchema): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key.startsWith('x-kubernetes-') || key === 'default' || key === 'description') continue;
    if (key === 'properties') {
      out.properties = Object.fromEntries(
        Object.entries(value as Record<string, StructuralSchema>).map(([k, v]) => [k, toAjvSchema(v)]),
      );
    } else if (key === 'items' || (key === 'additionalProperties' && typeof value === 'object')) {
      out[key] = toAjvSchema(value as StructuralSchema);
    } else if (key === 'anyOf') {
      out.anyOf = (value as StructuralSchema[]).map(toAjvSchema);
    } else {
      out[key] = value;
    }
  }
  if (schema['x-kubernetes-list-type'] === 'set') out.uniqueItems = true;
  const preserves = schema['x-kubernetes-preserve-unknown-fields'] === true;
  if (
    schema.type === 'object' &&
    schema.properties &&
    schema.additionalProperties === undefined &&
    !preserves
  ) {
    out.additionalProperties = false;
  }
  return out;
}

function fieldPath(instancePath: string): string {
  return instancePath
    .split('/')
    .slice(1)
    .map((part) => part.replaceAll('~1', '/').replaceAll('~0', '~'))
    .reduce((path, part) => (/^\d+$/.test(part) ? `${path}[${part}]` : path ? `${path}.${part}` : part), '');
}

function describe(value: unknown): string {
  return JSON.stringify(value) ?? 'null';
}

/** Maps an ajv error to the API server's message for the same violation. */
function apiServerMessage(error: ErrorObject, data: unknown): ValidationError {
  const field = fieldPath(error.instancePath);
  const p = error.params as Record<string, unknown>;
  const inBody = `${field} in body`;
  switch (error.keyword) {
    case 'required': {
      const child = field ? `${field}.${String(p.missingProperty)}` : String(p.missingProperty);
      return { field: child, message: `${child}: Required value` };
    }
    case 'additionalProperties': {
      const child = field ? `${field}.${String(p.additionalProperty)}` : String(p.additionalProperty);
      return { field: child, message: `unknown field "${child}"` };
    }
    case 'minimum':
      return {
        field,
        message: `${field}: Invalid value: ${describe(data)}: ${inBody} should be greater than or equal to ${p.limit}`,
      };
    case 'maximum':
      return {
        field,
        message: `${field}: Invalid value: ${describe(data)}: ${inBody} should be less than or equal to ${p.limit}`,
      };
    case 'minItems':
      return {
        field,
        message: `${field}: Invalid value: ${(data as unknown[]).length}: ${inBody} should have at least ${p.limit} items`,
      };
    case 'maxItems':
      return {
        field,
        message: `${field}: Too many: ${(data as unknown[]).length}: must have at most ${p.limit} items`,
      };
    case 'minLength':
      return {
        field,
        message: `${field}: Invalid value: ${describe(data)}: ${inBody} should be at least ${p.limit} chars long`,
      };
    case 'maxLength':
      return { field, message: `${field}: Too long: may not be more than ${p.limit} bytes` };
    case 'pattern':
      return {
        field,
        message: `${field}: Invalid value: ${describe(data)}: ${inBody} should match '${p.pattern}'`,
      };
    case 'enum': {
      const allowed = (p.allowedValues as unknown[]).map(describe).join(', ');
      return {
        field,
        message: `${field}: Unsupported value: ${describe(data)}: supported values: ${allowed}`,
      };
    }
    case 'uniqueItems': {
      const duplicate = (data as unknown[])[Number(p.j)];
      return {
        field: `${field}[${p.j}]`,
        message: `${field}[${p.j}]: Duplicate value: ${describe(duplicate)}`,
      };
    }
    case 'type':
      return {
        field,
        message: `${field}: Invalid value: ${describe(typeof data)}: ${inBody} must be of type ${p.type}`,
      };
    default:
      return { field, message: `${field}: Invalid value: ${error.message ?? error.keyword}` };
  }
}

/** CEL sees integers as int (BigInt), the way the API server types integer fields. */
function toCel(value: unknown): unknown {
  if (typeof value === 'number' && Number.isInteger(value)) return BigInt(value);
  if (Array.isArray(value)) return value.map(toCel);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toCel(v)]));
  }
  return value;
}

function celTypeName(value: unknown): string {
  if (Array.isArray(value)) return 'array';
  if (value === null) return 'null';
  return typeof value === 'number' ? (Number.isInteger(value) ? 'integer' : 'number') : typeof value;
}

const celEnvironment = new Environment({ unlistedVariablesAreDyn: true });

function evaluateRules(
  schema: StructuralSchema,
  value: unknown,
  old: unknown,
  path: string,
  errors: ValidationError[],
): void {
  if (value === undefined) return;
  for (const rule of schema['x-kubernetes-validations'] ?? []) {
    const isTransition = /\boldSelf\b/.test(rule.rule);
    if (isTransition && old === undefined) continue;
    let ok: unknown;
    try {
      ok = celEnvironment.evaluate(rule.rule, { self: toCel(value), oldSelf: toCel(old) });
    } catch (error) {
      errors.push({
        field: path,
        message: `${path}: Invalid value: rule "${rule.rule}" failed: ${String(error)}`,
      });
      continue;
    }
    if (ok !== true) {
      const field = rule.fieldPath ? `${path}${rule.fieldPath}` : path;
      const message = rule.message ?? `failed rule: ${rule.rule}`;
      errors.push({ field, message: `${field}: Invalid value: "${celTypeName(value)}": ${message}` });
    }
  }
  if (Array.isArray(value) && schema.items) {
    // Kubernetes correlates old list items only for list-type map; keyfleet puts no transition rule in a list.
    for (const [i, item] of value.entries()) {
      evaluateRules(schema.items, item, undefined, `${path}[${i}]`, errors);
    }
  } else if (value !== null && typeof value === 'object') {
    const oldObject = old !== null && typeof old === 'object' ? (old as Record<string, unknown>) : undefined;
    for (const [name, property] of Object.entries(schema.properties ?? {})) {
      const child = (value as Record<string, unknown>)[name];
      evaluateRules(property, child, oldObject?.[name], path ? `${path}.${name}` : name, errors);
    }
  }
}

/**
 * The API server refuses a CRD whose defaults break their own rules: it evaluates each node's CEL
 * rules against that node's default exactly as written (nested defaults not applied). Returns
 * the violations, so a test can hold the CRDs to it.
 */
export function defaultViolations(schema: StructuralSchema, path = ''): ValidationError[] {
  const errors: ValidationError[] = [];
  if (schema.default !== undefined) {
    const transitionFree = {
      ...schema,
      'x-kubernetes-validations': (schema['x-kubernetes-validations'] ?? []).filter(
        (r) => !/\boldSelf\b/.test(r.rule),
      ),
    };
    evaluateRules(transitionFree, schema.default, undefined, path, errors);
  }
  for (const [name, property] of Object.entries(schema.properties ?? {})) {
    errors.push(...defaultViolations(property, path ? `${path}.${name}` : name));
  }
  if (schema.items) errors.push(...defaultViolations(schema.items, `${path}[]`));
  return errors;
}

export interface ResourceValidator {
  /** Validates a create (old absent) or an update; returns the defaulted object and all errors. */
  validate(
    object: unknown,
    old?: unknown,
  ): { readonly object: unknown; readonly errors: readonly ValidationError[] };
}

export function resourceValidator(schema: StructuralSchema): ResourceValidator {
  const ajv = new Ajv({ allErrors: true, strict: false });
  addFormats.default(ajv);
  const check = ajv.compile(toAjvSchema(schema));
  return {
    validate(object: unknown, old?: unknown) {
      const defaulted = applyDefaults(schema, object) as Json;
      const oldDefaulted = old === undefined ? undefined : applyDefaults(schema, old);
      const errors: ValidationError[] = [];
      if (!check(defaulted)) {
        for (const error of check.errors ?? []) {
          errors.push(apiServerMessage(error, valueAt(defaulted, error.instancePath)));
        }
      }
      // The API server evaluates CEL only on schema-valid values of the right type; we do the same per field.
      if (errors.length === 0) evaluateRules(schema, defaulted, oldDefaulted, '', errors);
      return { object: defaulted, errors };
    },
  };
}

function valueAt(root: unknown, instancePath: string): unknown {
  return instancePath
    .split('/')
    .slice(1)
    .reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], root);
}
