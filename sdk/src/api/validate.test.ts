import { describe, expect, it } from 'vitest';
import { type KeyfleetKind, loadCrd } from './crds.ts';
import { invalidExamples, validExamples, validUpdateExamples } from './examples.ts';
import { storageSchema } from './schema.ts';
import { defaultViolations, resourceValidator } from './validate.ts';

const validators = {
  VaultFleet: resourceValidator(storageSchema(loadCrd('VaultFleet'))),
  KeyDirectory: resourceValidator(storageSchema(loadCrd('KeyDirectory'))),
};

function validatorFor(object: Record<string, unknown>) {
  return validators[object.kind as KeyfleetKind];
}

describe('crds/examples', () => {
  it.each(validExamples().map((e) => [e.file, e] as const))('%s is accepted', (_, example) => {
    expect(validatorFor(example.object).validate(example.object).errors).toEqual([]);
  });

  it.each(validUpdateExamples().map((e) => [e.file, e] as const))(
    '%s is an accepted update',
    (_, example) => {
      const validator = validatorFor(example.object);
      expect(example.updateOf).toBeDefined();
      expect(validator.validate(example.object, example.updateOf?.object).errors).toEqual([]);
    },
  );

  it.each(invalidExamples().map((e) => [e.file, e] as const))(
    '%s is rejected with its message',
    (_, example) => {
      const validator = validatorFor(example.object);
      expect(example.expectError, 'every invalid example names its expected error').toBeTruthy();
      if (example.updateOf) {
        // The object it updates must itself be valid, or the example proves nothing.
        expect(validator.validate(example.updateOf.object).errors).toEqual([]);
        // ...and the same object must be accepted on create, so only the transition rule rejects it.
        expect(validator.validate(example.object).errors).toEqual([]);
      }
      const messages = validator
        .validate(example.object, example.updateOf?.object)
        .errors.map((e) => e.message);
      expect(messages.join('\n')).toContain(example.expectError);
    },
  );

  it('has an invalid example for every CEL rule message', () => {
    const expected = invalidExamples().map((e) => e.expectError ?? '');
    for (const kind of ['VaultFleet', 'KeyDirectory'] as const) {
      const text = JSON.stringify(storageSchema(loadCrd(kind)));
      const messages = [...text.matchAll(/"message":"([^"]+)"/g)].map((m) => m[1] as string);
      expect(messages.length).toBeGreaterThan(0);
      for (const message of messages) {
        expect(
          expected.some((e) => message.includes(e.slice(0, 30))),
          `no invalid example for: ${message}`,
        ).toBe(true);
      }
    }
  });
});

describe('the CRDs themselves', () => {
  it.each(['VaultFleet', 'KeyDirectory'] as const)(
    '%s: every default satisfies its own CEL rules, as written',
    (kind) => {
      expect(defaultViolations(storageSchema(loadCrd(kind)))).toEqual([]);
    },
  );

  it('catches a default that breaks its rule (the check can fail)', () => {
    const schema = {
      type: 'object' as const,
      properties: {
        storage: {
          type: 'object' as const,
          default: {},
          properties: { type: { type: 'string' as const, default: 'embedded' } },
          'x-kubernetes-validations': [{ rule: "self.type != 'postgres'", message: 'm' }],
        },
      },
    };
    expect(defaultViolations(schema).map((e) => e.field)).toEqual(['storage']);
  });
});

describe('defaulting', () => {
  it('fills nested defaults of a defaulted parent, like the API server', () => {
    const { object } = validators.VaultFleet.validate({
      apiVersion: 'keyfleet.dev/v1alpha1',
      kind: 'VaultFleet',
      metadata: { name: 'x' },
      spec: { image: 'i' },
    });
    const spec = (object as { spec: Record<string, unknown> }).spec;
    expect(spec.zones).toEqual(['dc1', 'dc2', 'dc3', 'dc4', 'dc5', 'dc6', 'dc7']);
    expect(spec.guessLimit).toBe(10);
    expect(spec.storage).toEqual({ size: '1Gi', retentionPolicy: 'Retain' });
    expect(spec.updateStrategy).toEqual({ maxUnavailable: 1 });
  });

  it('reports every violation, with the field path', () => {
    const { errors } = validators.VaultFleet.validate({
      apiVersion: 'keyfleet.dev/v1alpha1',
      kind: 'VaultFleet',
      metadata: { name: 'x' },
      spec: { image: '', guessLimit: 900, zones: ['dc1', 'Bad', 'dc3'] },
    });
    expect(errors.map((e) => e.field).sort()).toEqual(['spec.guessLimit', 'spec.image', 'spec.zones[1]']);
  });
});
