import { Component, github, type Project } from "projen";
import { RETRAIN_WORKFLOW_FILE, retrainPublisher } from "./retrain-publisher";
import type { RetrainingSchedule } from "./service";
import { type AccountRef, REGISTRY_STACK, registryNames, roleArn } from "../components/names";
import { approvedBranch, PULL_REQUEST_FILES } from "../scripts/promote/approved";
import { stackFileName } from "../stacks/config/load";
import { PROMOTE_ENVIRONMENT, type ProjectConfig, registryAccountRef } from "../stacks/config/schema";

/**
 * The workflows of the retraining loop (issue 12, seed 001), generated with projen:
 *
 * - approved.yml: daily and on demand, the first stage follows the registry's approvals
 *   (`promote --from registry --to <first stage>`: each endpoint served from a registry version
 *   gets the latest Approved version of its model), and ONE pull request per stage, on the fixed
 *   branch `approved/<stage>`, carries the change. Every run updates it; when the stage already
 *   serves the latest approved versions there is no pull request, and an open one is closed (its
 *   branch deleted: create-pull-request's `delete-branch`). So approving a version proposes it, and
 *   rejecting the newest proposes the roll back to the approved version before it. It reads the
 *   registry with the registry's reader role in the `promote` environment, as promote.yml does; give
 *   that environment no required reviewers, or the scheduled runs wait for one (the pull request is
 *   the review).
 * - retrain.yml, only when the service definition has `retraining`: on its cadence and on demand
 *   (a model, or all; a testing mode), `npx projen retrain run --model <model> --json` for each
 *   model to retrain, one model at a time (each runs a tuning job of up to 10 parallel training
 *   jobs), as the registry's publisher role, in the GitHub environment a publisher principal of
 *   the definition names (by default `registry-publish`). Never a stage's deployer: retraining
 *   writes to the registry, and a person's approval is the only way a version reaches a stage.
 *   The PostgreSQL password comes from the GitHub secret RETRAIN_DATABASE_PASSWORD_SECRET (an
 *   environment secret of that environment, or a repository secret) as PGPASSWORD, set on the one
 *   step that needs it and masked by GitHub in the log; or leave the secret unset and give the
 *   data step a Secrets Manager ARN in retraining.yaml.
 *
 * workflows.ts adds both (addRetrainWorkflows), lending its pinned actions and shared steps
 * (WorkflowKit), so both follow its rules: OIDC only, `id-token: write` only on jobs that assume a
 * role, actions pinned by commit, and the token that may push never in a job with AWS credentials.
 */

export { RETRAIN_WORKFLOW_FILE } from "./retrain-publisher";

/** The approved-versions workflow's file. */
export const APPROVED_WORKFLOW_FILE = "approved.yml";

/** When approved.yml runs: daily at 05:41 UTC (off the hour, when GitHub delays scheduled runs least). */
export const APPROVED_CRON = "41 5 * * *";

/**
 * The GitHub secret whose value retrain.yml gives the retraining step as PGPASSWORD: the password
 * of the PostgreSQL user that reads the training data. An environment secret of the publisher's
 * environment, or a repository secret.
 */
export const RETRAIN_DATABASE_PASSWORD_SECRET = "RETRAIN_PGPASSWORD";

/** What workflows.ts lends these workflows: its pinned actions, its shared steps, and its workflow factory. */
export interface WorkflowKit {
  /** The service's region. */
  readonly region: string;
  /** Runner labels of every job. */
  readonly runsOn: readonly string[];
  /** A new workflow whose jobs get only what they declare, with each pinned action's version written beside it. */
  newWorkflow(name: string, options?: github.GithubWorkflowOptions): github.GithubWorkflow;
  /** Checkout (no token kept), Node.js and the locked dependencies. */
  setupSteps(): github.workflows.JobStep[];
  /** Short-lived credentials of a role from GitHub's OIDC token, refusing any other account's. */
  assumeStep(accountId: string, roleToAssume: string, session: string): github.workflows.JobStep;
  /** The `uses` of a pinned action. */
  action(name: "checkout" | "uploadArtifact" | "downloadArtifact" | "createPullRequest"): string;
}

/**
 * The service definition's retraining schedule, attached to the project (as `github.GitHub.of`
 * finds GitHub), for addRetrainWorkflows to find. MlServiceProject attaches it when the definition
 * has `retraining`.
 */
export class Retraining extends Component {
  /** The schedule attached to `project`, if any. */
  public static of(project: Project): Retraining | undefined {
    return project.components.find((c): c is Retraining => c instanceof Retraining);
  }

  /** When retrain.yml runs, and for which models. */
  public readonly schedule: RetrainingSchedule;

  constructor(project: Project, schedule: RetrainingSchedule) {
    super(project);
    this.schedule = schedule;
  }
}

const READ = github.workflows.JobPermission.READ;
const WRITE = github.workflows.JobPermission.WRITE;

/** Adds approved.yml, and retrain.yml when the project has a retraining schedule (Retraining.of). */
export function addRetrainWorkflows(project: Project, config: ProjectConfig, kit: WorkflowKit): void {
  const registry = registryAccountRef(config, kit.region);
  approvedWorkflow(config, registry, kit);
  const retraining = Retraining.of(project);
  if (retraining !== undefined) retrainWorkflow(config, registry, retraining.schedule, kit);
}

/** Where approved.yml keeps the pull request's title and body between its jobs (never committed). */
const PULL_REQUEST_DIR = "approved-pull-request";

function approvedWorkflow(config: ProjectConfig, registry: AccountRef, kit: WorkflowKit): void {
  const stage = config.stages[0].name;
  const file = stackFileName(stage);
  const reader = roleArn(registry, registryNames(config.serviceName, registry).readerRole);
  const workflow = kit.newWorkflow(APPROVED_WORKFLOW_FILE.replace(/\.yml$/, ""), {
    limitConcurrency: true, concurrencyOptions: { group: "approved", cancelInProgress: false },
  });
  workflow.on({ schedule: [{ cron: APPROVED_CRON }], workflowDispatch: {} });
  const artifact = "approved-versions";
  workflow.addJob("follow", {
    name: `Follow the registry's approvals in ${stage}`,
    runsOn: [...kit.runsOn],
    // The registry's reader role trusts this environment; it may change nothing in the registry.
    environment: PROMOTE_ENVIRONMENT,
    permissions: { contents: READ, idToken: WRITE },
    timeoutMinutes: 15,
    steps: [
      ...kit.setupSteps(),
      kit.assumeStep(registry.accountId, reader, "approved"),
      {
        name: `Set each registry version of ${file} to the latest approved one`,
        run: `npx projen promote --from ${REGISTRY_STACK} --to ${stage} --pull-request-dir ${PULL_REQUEST_DIR}`,
      },
      {
        name: "Keep the stack file and the pull request",
        uses: kit.action("uploadArtifact"),
        with: { "name": artifact, "path": `${file}\n${PULL_REQUEST_DIR}/`, "if-no-files-found": "error", "retention-days": 1 },
      },
    ],
  });
  const title = `${PULL_REQUEST_DIR}/${PULL_REQUEST_FILES.title}`;
  // A job of its own: the token that may push and open pull requests never sees AWS credentials.
  workflow.addJob("pull-request", {
    name: `Open, update or close the pull request of ${stage}`,
    needs: ["follow"],
    runsOn: [...kit.runsOn],
    permissions: { contents: WRITE, pullRequests: WRITE },
    timeoutMinutes: 10,
    steps: [
      { name: "Check out", uses: kit.action("checkout"), with: { "persist-credentials": false } },
      { name: "Fetch the stack file and the pull request", uses: kit.action("downloadArtifact"), with: { name: artifact, path: "." } },
      { id: "content", name: "Read the pull request's title", run: `echo "title=$(head -n 1 ${title})" >> "$GITHUB_OUTPUT"` },
      {
        name: "Open or update the pull request (none, and an open one closed, without a change)",
        uses: kit.action("createPullRequest"),
        with: {
          "branch": approvedBranch(stage),
          "add-paths": file,
          "commit-message": "${{ steps.content.outputs.title }}",
          "title": "${{ steps.content.outputs.title }}",
          "body-path": `${PULL_REQUEST_DIR}/${PULL_REQUEST_FILES.body}`,
          "delete-branch": true,
        },
      },
    ],
  });
}

/** A GitHub job runs at most 6 hours; tuning and a batch transform fit in that, the loop resumes otherwise. */
const RETRAIN_TIMEOUT_MINUTES = 360;

function retrainWorkflow(config: ProjectConfig, registry: AccountRef, schedule: RetrainingSchedule, kit: WorkflowKit): void {
  const context = retrainPublisher(config);
  if (context === undefined) {
    throw new Error(`addRetrainWorkflows: no principal in publishers admits ${RETRAIN_WORKFLOW_FILE}, so it could not assume the publisher role; `
      + "check the service definition with parseServiceDefinition");
  }
  const publisher = roleArn(registry, registryNames(config.serviceName, registry).publisherRole);
  const workflow = kit.newWorkflow(RETRAIN_WORKFLOW_FILE.replace(/\.yml$/, ""), {
    limitConcurrency: true, concurrencyOptions: { group: "retrain", cancelInProgress: false },
  });
  workflow.on({
    schedule: [{ cron: schedule.cron }],
    workflowDispatch: {
      inputs: {
        "model": { description: "The model to retrain", required: true, type: "choice", options: ["all", ...schedule.models], default: "all" },
        "testing": { description: "Testing mode: a single tuning job, to check the loop end to end", required: false, type: "boolean" },
        // A run outlives the publisher's one-hour credentials when its jobs take longer: it resumes where it stopped.
        "run-id": { description: "Resume this run (npx projen retrain status lists them); pick its model", required: false, type: "string" },
      },
    },
  });
  // The models of this run: the one chosen on demand, else all (a scheduled run has no inputs).
  const models = `\${{ fromJSON(inputs.model && inputs.model != 'all' && format('["{0}"]', inputs.model) || '${JSON.stringify(schedule.models)}') }}`;
  workflow.addJob("retrain", {
    name: "Retrain ${{ matrix.model }}",
    runsOn: [...kit.runsOn],
    // The publisher role trusts this environment (or this branch): see retrainPublisher.
    environment: context.environment,
    if: context.branch === undefined ? undefined : `github.ref == 'refs/heads/${context.branch}'`,
    permissions: { contents: READ, idToken: WRITE },
    timeoutMinutes: RETRAIN_TIMEOUT_MINUTES,
    // One model at a time: each runs up to 10 training jobs in parallel; one model's failure does not stop the others.
    strategy: { failFast: false, maxParallel: 1, matrix: { domain: { model: models } } },
    steps: [
      ...kit.setupSteps(),
      kit.assumeStep(registry.accountId, publisher, "retrain"),
      {
        name: "Run the retraining loop",
        // Values reach the shell as environment variables, never spliced into the script.
        env: {
          MODEL: "${{ matrix.model }}",
          TESTING: "${{ inputs.testing }}",
          RUN_ID: "${{ inputs.run-id }}",
          PGPASSWORD: `\${{ secrets.${RETRAIN_DATABASE_PASSWORD_SECRET} }}`,
        },
        run: [
          "set -euo pipefail",
          "args=(--model \"$MODEL\" --json)",
          "if [ \"$TESTING\" = \"true\" ]; then args+=(--testing); fi",
          "if [ -n \"${RUN_ID:-}\" ]; then args+=(--run-id \"$RUN_ID\"); fi",
          "npx projen retrain run \"${args[@]}\"",
        ].join("\n"),
      },
    ],
  });
}
