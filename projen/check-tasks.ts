import type { Project } from "projen";

/**
 * `check:template`: the template check (scripts/check-template.ts). In a temporary copy it defines
 * a service unlike the example in every field, then runs projen, the offline plan and the tests
 * there; .ci/run runs it after `npm test`.
 */
export function addTemplateCheckTask(project: Project): void {
  project.addTask("check:template", {
    description: "Check that the template works for a service unlike the example: projen, the plan and the tests in a temporary copy",
    exec: "ts-node --transpile-only scripts/check-template.ts",
  });
}
