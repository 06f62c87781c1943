export { crdDirectory, crdFiles, type KeyfleetKind, loadCrd } from './crds.ts';
export { type CrExample, invalidExamples, validExamples, validUpdateExamples } from './examples.ts';
export type { ObjectMeta, OwnerReference } from './object-meta.ts';
export type { CelRule, CustomResourceDefinition, StructuralSchema } from './schema.ts';
export { storageSchema } from './schema.ts';
export type * from './types.generated.ts';
export {
  applyDefaults,
  type ResourceValidator,
  resourceValidator,
  type ValidationError,
} from './validate.ts';
