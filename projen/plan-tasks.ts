import type { Project } from "projen";

/**
 * The plan runs as one esbuild bundle (the project's TypeScript, zod and yaml in one file; Pulumi and
 * the AWS SDK stay external): no TypeScript transpiling at start-up and one file to load instead of
 * hundreds, which halves the plan's start-up. A small launcher beside it (scripts/plan/launch.ts) runs
 * the bundle with a V8 code cache. Building both takes about 0.1 s, so each run rebuilds them and they
 * can never be stale.
 */
export const PLAN_DIR = "node_modules/.cache/mlplatform";
export const PLAN_BUNDLE = `${PLAN_DIR}/plan.js`;
export const PLAN_LAUNCHER = `${PLAN_DIR}/launch.js`;

/** esbuild arguments that build the plan bundle and its launcher (the benchmark builds them the same way). */
export const PLAN_BUNDLE_ARGS = [
  "scripts/plan.ts", "scripts/plan/launch.ts", "--bundle", "--platform=node", "--target=node20", "--log-level=warning",
  "--external:@pulumi/*", "--external:@aws-sdk/*", `--outdir=${PLAN_DIR}`, "--entry-names=[name]",
] as const;

const BUILD = `esbuild ${PLAN_BUNDLE_ARGS.join(" ")}`;

/** The offline plan's tasks: `npx projen plan ...` (and `npm run plan -- ...`); each passes its arguments on. */
const PLAN_TASKS = [
  {
    name: "plan",
    steps: [BUILD, `node ${PLAN_LAUNCHER}`],
    description: "Offline plan of every stack (or --stack <stage>): resources, future names, findings, rollout and cost estimates; "
      + "no AWS credentials, no Pulumi CLI (plan --help)",
  },
  {
    name: "plan:diff",
    steps: [BUILD, `node ${PLAN_LAUNCHER} diff`],
    description: "Offline diff: create/update/REPLACE per resource against a git revision (--against <rev>) "
      + "or between two stacks (--from qa --to prod)",
  },
  {
    name: "bench:plan",
    steps: ["ts-node --transpile-only scripts/bench/plan-bench.ts"],
    description: "Benchmark the offline plan against a Pulumi mock baseline and at 10 and 100 endpoints",
  },
] as const;

/** Adds the plan tasks to a project; the last step of each receives the caller's arguments. */
export function addPlanTasks(project: Project): void {
  for (const task of PLAN_TASKS) {
    const created = project.addTask(task.name, { description: task.description });
    task.steps.forEach((exec, i) => created.exec(exec, i === task.steps.length - 1 ? { receiveArgs: true } : {}));
  }
}
