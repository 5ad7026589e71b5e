import { github, type javascript } from "projen";
import { roleArn, stageNames } from "../components/names";
import type { ProjectConfig } from "../stacks/config/schema";

/**
 * The GitHub workflows of an ML service repository, generated with projen:
 *
 * - pull-request.yml: type-check, tests and the offline plan of every stack, then one
 *   `pulumi preview` per stage with that stage's read-only previewer role;
 * - deploy.yml: on every push to main, `pulumi up` stage after stage in the stage order, each in
 *   its GitHub environment (where approvals live) with that stage's deployer role;
 * - promote.yml: run by hand, promotes model versions from one stage to the next and opens a pull
 *   request with the change.
 *
 * AWS access is GitHub OIDC only, no stored AWS keys: a job that assumes a role gets
 * `id-token: write`, every other job reads the repository and nothing more. The role names and
 * the subjects they trust come from components/names.ts and components/policies.ts
 * (`ciTrustPolicy`): deployers trust the GitHub environment named after their stage, previewers
 * trust pull requests.
 */

/**
 * Actions, pinned to major versions: the majors projen itself uses (projen's `github.ActionRefs`),
 * and the current major of pulumi/actions.
 */
const ACTIONS = {
  checkout: "actions/checkout@v7",
  setupNode: "actions/setup-node@v7",
  uploadArtifact: "actions/upload-artifact@v7",
  downloadArtifact: "actions/download-artifact@v8",
  configureAwsCredentials: "aws-actions/configure-aws-credentials@v6",
  pulumi: "pulumi/actions@v7",
  createPullRequest: "peter-evans/create-pull-request@v8",
} as const;

/** Node.js version of the CI jobs: what @pulumi/pulumi and the AWS SDK require from 2027 on. */
const NODE_VERSION = "22";
/** Runner labels of every job. */
const RUNS_ON = ["ubuntu-latest"];
/** Branch whose pushes deploy. */
const MAIN_BRANCH = "main";

/** The roles CI assumes in one stage's account. */
interface StageCiRoles {
  readonly stage: string;
  readonly accountId: string;
  /** Read-only, trusted by pull requests: `pulumi preview`. */
  readonly previewerRoleArn: string;
  /** Trusted by the GitHub environment named after the stage: `pulumi up`. */
  readonly deployerRoleArn: string;
}

/** Every stage's CI roles, in stage order. */
function stageCiRoles(project: ProjectConfig, region: string): StageCiRoles[] {
  return project.stages.map((stage) => {
    const account = { accountId: stage.accountId, region };
    const names = stageNames(project.serviceName, stage.name, account);
    return {
      stage: stage.name,
      accountId: stage.accountId,
      previewerRoleArn: roleArn(account, names.previewerRole),
      deployerRoleArn: roleArn(account, names.deployerRole),
    };
  });
}

const READ = github.workflows.JobPermission.READ;
const WRITE = github.workflows.JobPermission.WRITE;

/** Pulumi's state backend and the passphrase of its secrets provider (not AWS credentials). */
const PULUMI_ENV = {
  PULUMI_BACKEND_URL: "${{ vars.PULUMI_BACKEND_URL }}",
  PULUMI_CONFIG_PASSPHRASE: "${{ secrets.PULUMI_CONFIG_PASSPHRASE }}",
};

/**
 * Adds pull-request.yml, deploy.yml and promote.yml to a project with GitHub enabled
 * (`github: true`), for a validated service definition (parseServiceDefinition). Its CI principal
 * must be GitHub OIDC: that is what the stage roles trust.
 */
export function addWorkflows(project: javascript.NodeProject, config: ProjectConfig, region: string): void {
  const gh = github.GitHub.of(project);
  if (gh === undefined) throw new Error("addWorkflows: the project has no GitHub component; construct it with github: true");
  if (config.ciPrincipal.type !== "github-oidc") {
    throw new Error(`addWorkflows: ciPrincipal is "${config.ciPrincipal.type}", so the stage roles trust ${config.ciPrincipal.roleArn}, `
      + "not GitHub; set ciPrincipal { type: \"github-oidc\", repository: \"owner/repo\" } to generate GitHub workflows");
  }
  const ctx: Context = { roles: stageCiRoles(config, region), region };
  pullRequestWorkflow(gh, ctx);
  deployWorkflow(gh, ctx);
  promoteWorkflow(gh, ctx, config);
}

interface Context {
  readonly roles: readonly StageCiRoles[];
  readonly region: string;
}

/** A workflow whose jobs get only what they declare: the top-level token can read contents, no more. */
function newWorkflow(gh: github.GitHub, name: string, options: github.GithubWorkflowOptions = {}): github.GithubWorkflow {
  const workflow = new github.GithubWorkflow(gh, name, options);
  workflow.file?.addOverride("permissions", { contents: "read" });
  return workflow;
}

/** Checkout, Node.js with the npm cache, and the locked dependencies. */
function setupSteps(): github.workflows.JobStep[] {
  return [
    { name: "Check out", uses: ACTIONS.checkout },
    { name: "Set up Node.js", uses: ACTIONS.setupNode, with: { "node-version": NODE_VERSION, "cache": "npm" } },
    { name: "Install dependencies", run: "npm ci" },
  ];
}

/** Short-lived credentials of `roleArn` from GitHub's OIDC token. */
function assumeRoleStep(ctx: Context, roleArnToAssume: string, session: string): github.workflows.JobStep {
  return {
    name: "Assume the role via GitHub OIDC",
    uses: ACTIONS.configureAwsCredentials,
    with: {
      "role-to-assume": roleArnToAssume,
      "aws-region": ctx.region,
      "role-session-name": `${session}-\${{ github.run_id }}`,
    },
  };
}

function pulumiStep(command: "preview" | "up", stage: string): github.workflows.JobStep {
  return {
    name: `pulumi ${command} (${stage})`,
    uses: ACTIONS.pulumi,
    with: { "command": command, "stack-name": stage, "cloud-url": "${{ vars.PULUMI_BACKEND_URL }}" },
  };
}

function pullRequestWorkflow(gh: github.GitHub, ctx: Context): void {
  const workflow = newWorkflow(gh, "pull-request", {
    limitConcurrency: true,
    concurrencyOptions: { group: "${{ github.workflow }}-${{ github.ref }}", cancelInProgress: true },
  });
  workflow.on({ pullRequest: {} });
  workflow.addJob("check", {
    name: "Type-check, test and plan every stack offline",
    runsOn: RUNS_ON,
    permissions: { contents: READ },
    timeoutMinutes: 30,
    steps: [
      ...setupSteps(),
      { name: "Type-check", run: "npx tsc --noEmit -p tsconfig.dev.json" },
      { name: "Test", run: "npx jest" },
      { name: "Lint", run: "npx projen eslint" },
      { name: "Offline plan of every stack", run: "npx projen plan --stack all" },
    ],
  });
  for (const role of ctx.roles) {
    workflow.addJob(`preview-${role.stage}`, {
      name: `Preview ${role.stage} (account ${role.accountId})`,
      needs: ["check"],
      runsOn: RUNS_ON,
      permissions: { contents: READ, idToken: WRITE },
      timeoutMinutes: 30,
      env: PULUMI_ENV,
      steps: [
        ...setupSteps(),
        assumeRoleStep(ctx, role.previewerRoleArn, `preview-${role.stage}`),
        pulumiStep("preview", role.stage),
      ],
    });
  }
}

function deployWorkflow(gh: github.GitHub, ctx: Context): void {
  // One deployment at a time, and never cancel one half-way through a stage.
  const workflow = newWorkflow(gh, "deploy", { limitConcurrency: true, concurrencyOptions: { group: "deploy", cancelInProgress: false } });
  workflow.on({ push: { branches: [MAIN_BRANCH] } });
  ctx.roles.forEach((role, i) => {
    workflow.addJob(`up-${role.stage}`, {
      name: `Deploy ${role.stage} (account ${role.accountId})`,
      needs: i === 0 ? undefined : [`up-${ctx.roles[i - 1].stage}`],
      runsOn: RUNS_ON,
      // The deployer role trusts only this environment; its protection rules are the approvals.
      environment: role.stage,
      permissions: { contents: READ, idToken: WRITE },
      // The provider waits up to 60 minutes for an endpoint to be InService.
      timeoutMinutes: 120,
      env: PULUMI_ENV,
      steps: [
        ...setupSteps(),
        assumeRoleStep(ctx, role.deployerRoleArn, `deploy-${role.stage}`),
        { name: `Check the credentials are for account ${role.accountId}`, run: `npx projen assert-account --stack ${role.stage}` },
        pulumiStep("up", role.stage),
      ],
    });
  });
}

function promoteWorkflow(gh: github.GitHub, ctx: Context, config: ProjectConfig): void {
  const stages = ctx.roles.map((r) => r.stage);
  // Promote reads the registry as the registry CLI does by default: with the registry stage's
  // deployer role (the schema checks that registryStage is one of the stages).
  const registry = ctx.roles.find((r) => r.stage === config.registryStage)!;
  const workflow = newWorkflow(gh, "promote", { limitConcurrency: true, concurrencyOptions: { group: "promote", cancelInProgress: false } });
  workflow.on({
    workflowDispatch: {
      inputs: {
        from: { description: "Stage to promote from", required: true, type: "choice", options: stages.slice(0, -1), default: stages[0] },
        to: { description: "Stage to promote to (the next stage)", required: true, type: "choice", options: stages.slice(1), default: stages[1] },
        model: { description: "Only endpoints serving this model", required: false, type: "choice", options: ["all", ...config.models], default: "all" },
      },
    },
  });
  const artifact = "promotion";
  const summary = "promotion-summary.txt";
  const targetFile = "Pulumi.${{ inputs.to }}.yaml";
  workflow.addJob("promote", {
    name: "Promote approved versions",
    runsOn: RUNS_ON,
    // The registry stage's deployer role trusts only its GitHub environment.
    environment: registry.stage,
    permissions: { contents: READ, idToken: WRITE },
    timeoutMinutes: 15,
    steps: [
      ...setupSteps(),
      assumeRoleStep(ctx, registry.deployerRoleArn, "promote"),
      {
        name: "Promote",
        // Inputs reach the shell as environment variables, never spliced into the script.
        env: { FROM: "${{ inputs.from }}", TO: "${{ inputs.to }}", MODEL: "${{ inputs.model }}" },
        run: [
          "set -euo pipefail",
          "args=(--from \"$FROM\" --to \"$TO\")",
          "if [ \"$MODEL\" != \"all\" ]; then args+=(--model \"$MODEL\"); fi",
          `npx projen promote "\${args[@]}" | tee ${summary}`,
        ].join("\n"),
      },
      {
        name: "Keep the promoted stack file",
        uses: ACTIONS.uploadArtifact,
        with: { "name": artifact, "path": `${targetFile}\n${summary}`, "if-no-files-found": "error", "retention-days": 1 },
      },
    ],
  });
  // A job of its own: the token that may push and open pull requests never sees AWS credentials.
  workflow.addJob("pull-request", {
    name: "Open the promotion pull request",
    needs: ["promote"],
    runsOn: RUNS_ON,
    permissions: { contents: WRITE, pullRequests: WRITE },
    timeoutMinutes: 10,
    steps: [
      { name: "Check out", uses: ACTIONS.checkout },
      { name: "Fetch the promoted stack file", uses: ACTIONS.downloadArtifact, with: { name: artifact, path: "." } },
      {
        name: "Open a pull request",
        uses: ACTIONS.createPullRequest,
        with: {
          "branch": "promote/${{ inputs.from }}-to-${{ inputs.to }}-${{ inputs.model }}",
          "add-paths": targetFile,
          "commit-message": "Promote ${{ inputs.from }} to ${{ inputs.to }} (model: ${{ inputs.model }})",
          "title": "Promote ${{ inputs.from }} to ${{ inputs.to }} (model: ${{ inputs.model }})",
          "body-path": summary,
          "delete-branch": true,
        },
      },
    ],
  });
}
