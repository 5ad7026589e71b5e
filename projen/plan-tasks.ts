import type { Project } from "projen";
import { addToolTask } from "./tool-task";
import { PLAN_BUILD_OPTIONS, PLAN_BUNDLE, PLAN_DIR, PLAN_LAUNCHER } from "../scripts/plan/bundle";

/**
 * The plan runs as one esbuild bundle started by a launcher with a V8 code cache (scripts/plan/bundle.ts
 * and launch.ts). The launcher rebuilds the bundle, and itself, only when a source changed; the task
 * builds the launcher only when it is missing (a fresh clone, a cleared cache). An unchanged plan
 * therefore starts without esbuild.
 */
export { PLAN_BUNDLE, PLAN_DIR, PLAN_LAUNCHER };

/** esbuild command-line arguments equal to PLAN_BUILD_OPTIONS (for builds outside the launcher, as in tests). */
export const PLAN_BUNDLE_ARGS: readonly string[] = [
  ...PLAN_BUILD_OPTIONS.entryPoints,
  "--bundle", `--platform=${PLAN_BUILD_OPTIONS.platform}`, `--target=${PLAN_BUILD_OPTIONS.target}`,
  `--log-level=${PLAN_BUILD_OPTIONS.logLevel}`, ...PLAN_BUILD_OPTIONS.external.map((e) => `--external:${e}`),
  `--outdir=${PLAN_DIR}`, `--entry-names=${PLAN_BUILD_OPTIONS.entryNames}`,
];

/** Builds the launcher when it is missing; it then builds the bundle itself. Runs in projen's shell and in npm's sh. */
export const PLAN_BOOTSTRAP = `test -f ${PLAN_LAUNCHER} || esbuild ${PLAN_BUILD_OPTIONS.entryPoints[1]} --bundle `
  + `--platform=${PLAN_BUILD_OPTIONS.platform} --target=${PLAN_BUILD_OPTIONS.target} --log-level=${PLAN_BUILD_OPTIONS.logLevel} `
  + `--outfile=${PLAN_LAUNCHER}`;

/** The offline plan's tasks: `npx projen plan ...` (and `npm run plan -- ...`); each passes its arguments on intact. */
const PLAN_TASKS = [
  {
    name: "plan",
    command: ["node", PLAN_LAUNCHER],
    prepare: PLAN_BOOTSTRAP,
    description: "Offline plan of every stack (or --stack <stage>): resources, future names, findings, rollout and cost estimates; "
      + "no AWS credentials, no Pulumi CLI (plan --help)",
  },
  {
    name: "plan:diff",
    command: ["node", PLAN_LAUNCHER, "diff"],
    prepare: PLAN_BOOTSTRAP,
    description: "Offline diff: create/update/REPLACE per resource against a git revision (--against <rev>) "
      + "or between two stacks (--from qa --to prod)",
  },
  {
    name: "bench:plan",
    command: ["ts-node", "--transpile-only", "scripts/bench/plan-bench.ts"],
    prepare: undefined,
    description: "Benchmark the offline plan: against a Pulumi mock baseline, through `npx projen plan` against npx's own cost, "
      + "and at 10 and 100 endpoints",
  },
] as const;

/** Adds the plan tasks (and their npm scripts) to a project. */
export function addPlanTasks(project: Project): void {
  for (const { name, ...task } of PLAN_TASKS) addToolTask(project, name, task);
}
