import type { Project } from "projen";
import { addToolTask } from "./tool-task";

/** The command-line tools of scripts/ that users run through projen (`npx projen <task> ...`). */
const SCRIPT_TASKS = [
  {
    name: "registry",
    file: "registry",
    description: "Model registry: register, list, approve or reject model versions, or print the newest approved one (registry --help)",
  },
  {
    name: "batch",
    file: "batch",
    description: "Batch transform with a stage's deployed model over an S3 prefix of the stage bucket, with progress and cost: batch run|status --stage <stage> (batch --help)",
  },
  {
    name: "variants",
    file: "variants",
    description: "A/B variants of a stage's endpoint: list them, change their traffic weights in place, compare per-variant CloudWatch metrics, "
      + "promote the winner into the stack file: variants list|weights|metrics|promote --stage <stage> --endpoint <key> (variants --help)",
  },
  {
    name: "models",
    file: "models",
    description: "Models of a stage's multi-model endpoint: copy an approved version's artifact under its prefix of the stage bucket (write-once), list them, remove one: models add|list|remove --stage <stage> --endpoint <key> (models --help)",
  },
  {
    name: "deploy",
    file: "deploy",
    description: "Deploy a registry version to an endpoint with strategy step-functions-canary through its canary state machine and watch it, "
      + "or approve or reject a waiting deployment: deploy --stage <stage> --endpoint <key> [--version <arn>] | --pending; "
      + "deploy watch|approve|reject (deploy --help)",
  },
  {
    name: "retrain",
    file: "retrain",
    description: "The retraining loop of a model (retraining.yaml): data from PostgreSQL, warm-start tuning, evaluation, registration "
      + "pending approval: retrain run --model <model> [--testing] | retrain data|tune|evaluate|register|status (retrain --help)",
  },
  {
    name: "assert-account",
    file: "assert-account",
    description: "Check that the AWS credentials belong to a stage's account: assert-account --stack <stage>",
  },
  {
    name: "promote",
    file: "promote",
    description: "Promote approved model versions and image tags to the next stage's stack file, or the latest approved versions "
      + "to the first stage: promote --from <stage>|registry --to <stage> (promote --help)",
  },
  {
    name: "gen:instance-types",
    file: "gen-instance-types",
    description: "Regenerate components/production-variant-instance-types.ts from the AWS SDK's ProductionVariantInstanceType enum",
  },
] as const;

/** Adds one task (and npm script) per tool; each passes its arguments on to the script intact. */
export function addScriptTasks(project: Project): void {
  for (const task of SCRIPT_TASKS) {
    addToolTask(project, task.name, {
      description: task.description,
      command: ["ts-node", "--transpile-only", `scripts/${task.file}.ts`],
    });
  }
}
