// Runs the cluster test files in file-name order (00-... first, 99-teardown last): they share one
// cluster and the last one tears it down.
import { BaseSequencer, type TestSpecification } from 'vitest/node';

export class ByFileName extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    return [...files].sort((a, b) => a.moduleId.localeCompare(b.moduleId));
  }
}
