import type { Project } from "projen";

/** The offline plan's tasks: `npx projen plan ...` (and `npm run plan -- ...`); each passes its arguments on. */
const PLAN_TASKS = [
  {
    name: "plan",
    exec: "ts-node --transpile-only scripts/plan.ts",
    description: "Offline plan of every stack (or --stack <stage>): resources, future names, findings, rollout and cost estimates; "
      + "no AWS credentials, no Pulumi CLI (plan --help)",
  },
  {
    name: "plan:diff",
    exec: "ts-node --transpile-only scripts/plan.ts diff",
    description: "Offline diff: create/update/REPLACE per resource against a git revision (--against <rev>) "
      + "or between two stacks (--from qa --to prod)",
  },
  {
    name: "bench:plan",
    exec: "ts-node --transpile-only scripts/bench/plan-bench.ts",
    description: "Benchmark the offline plan against a Pulumi mock baseline and at 10 and 100 endpoints",
  },
] as const;

/** Adds the plan tasks to a project. */
export function addPlanTasks(project: Project): void {
  for (const task of PLAN_TASKS) {
    project.addTask(task.name, { description: task.description, exec: task.exec, receiveArgs: true });
  }
}
