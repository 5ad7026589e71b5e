import type { Project, Task } from "projen";

/**
 * Adds `promote`: `npx projen promote --from sandbox --to qa [--model NAME] [--dry-run]` copies
 * approved model versions (and image tags) to the next stage's stack file (scripts/promote.ts).
 */
export function addPromoteTasks(project: Project): Task {
  return project.addTask("promote", {
    description: "Promote approved model versions and image tags to the next stage's stack file: promote --from <stage> --to <stage> (promote --help)",
    exec: "ts-node --transpile-only scripts/promote.ts",
    receiveArgs: true,
  });
}
