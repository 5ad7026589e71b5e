import { github, type IResolver, type javascript } from "projen";
import { addRetrainWorkflows } from "./retrain-workflows";
import { registryNames, roleArn, stageNames } from "../components/names";
import { INTENT_LABEL } from "../scripts/plan/intent";
import { accountRef, deploymentStacks, PROMOTE_ENVIRONMENT, type ProjectConfig, REGISTRY_STACK } from "../stacks/config/schema";

/**
 * The GitHub workflows of an ML service repository, generated with projen:
 *
 * - pull-request.yml: type-check, tests and the offline plan of every stack; the offline plan diff
 *   against the pull request's base branch, which fails on error findings and writes its summary
 *   to the job summary; then one `pulumi preview` per stack with that stack's read-only previewer
 *   role;
 * - deploy.yml: on every push to main, `pulumi up` stack after stack in deploy order (the registry
 *   first, then the stages), each in its GitHub environment (where approvals live) with that
 *   stack's deployer role; after a stage's `pulumi up`, `deploy --pending` moves its canary
 *   endpoints (strategy step-functions-canary) to their stack file's versions;
 * - promote.yml: run by hand, promotes model versions from one stage to the next (stages only: the
 *   registry stack is never promoted to), reading the registry with its reader role in the
 *   `promote` environment, and opens a pull request with the change.
 *
 * AWS access is GitHub OIDC only, no stored AWS keys: a job that assumes a role gets
 * `id-token: write`, every other job reads the repository and nothing more. The role names and
 * the subjects they trust come from components/names.ts and components/ci-policies.ts
 * (`ciTrustPolicy`): deployers trust the GitHub environment named after their stack, previewers
 * trust pull requests. Every action is pinned to a full commit SHA (ACTIONS).
 */

/** An action pinned to the commit of a release tag; the tag is written beside it as a comment. */
interface PinnedAction {
  /** `owner/repo`. */
  readonly action: string;
  /** The commit the tag points to (`git rev-parse <tag>^{commit}` in the action's repository). */
  readonly sha: string;
  /** The release tag. */
  readonly version: string;
}

/**
 * Actions, pinned by commit SHA: the newest release of the majors projen itself uses (projen's
 * `github.ActionRefs`) and of the current major of pulumi/actions. A tag can be moved; a commit
 * cannot. To upgrade one, take the commit of its new release tag from the action's repository
 * (`git ls-remote https://github.com/<action> refs/tags/<tag>`), never from a branch.
 */
const ACTIONS = {
  checkout: { action: "actions/checkout", sha: "3d3c42e5aac5ba805825da76410c181273ba90b1", version: "v7.0.1" },
  setupNode: { action: "actions/setup-node", sha: "820762786026740c76f36085b0efc47a31fe5020", version: "v7.0.0" },
  uploadArtifact: { action: "actions/upload-artifact", sha: "bbbca2ddaa5d8feaa63e36b76fdaad77386f024f", version: "v7.0.0" },
  downloadArtifact: { action: "actions/download-artifact", sha: "3e5f45b2cfb9172054b4087a40e8e0b5a5461e7c", version: "v8.0.1" },
  configureAwsCredentials: { action: "aws-actions/configure-aws-credentials", sha: "e6de054238d6b7531b4efff3b6587d9aade6a06c", version: "v6.2.3" },
  pulumi: { action: "pulumi/actions", sha: "8e5e406f4007fca908480587cb9893c07090f58d", version: "v7.0.0" },
  createPullRequest: { action: "peter-evans/create-pull-request", sha: "5f6978faf089d4d20b00c7766989d076bb2fc7f1", version: "v8.1.1" },
} as const satisfies Record<string, PinnedAction>;

/** A step's `uses` for a pinned action. */
function uses(pinned: PinnedAction): string {
  return `${pinned.action}@${pinned.sha}`;
}

/**
 * Writes each action's release tag as a comment after its SHA (`uses: actions/checkout@<sha> # v7.0.1`),
 * the form reviewers and update bots read. projen renders a workflow from JSON, which has no
 * comments, so the comment goes into the rendered text; a `uses:` line naming an action that is not
 * in ACTIONS stops the synthesis, so nothing unpinned reaches a workflow file.
 */
export function withVersionComments(text: string): string {
  const versions = new Map<string, string>(Object.values(ACTIONS).map((a) => [uses(a), a.version]));
  return text.replace(/^(\s*(?:- )?uses: )(\S+)$/gm, (_line, prefix: string, ref: string) => {
    const version = versions.get(ref);
    if (version === undefined) throw new Error(`addWorkflows: the action ${ref} is not pinned in ACTIONS (projen/workflows.ts)`);
    return `${prefix}${ref} # ${version}`;
  });
}

/** Node.js version of the CI jobs: what @pulumi/pulumi and the AWS SDK require from 2027 on. */
const NODE_VERSION = "22";
/** Runner labels of every job. */
const RUNS_ON = ["ubuntu-latest"];
/** Branch whose pushes deploy. */
const MAIN_BRANCH = "main";
/** Where the plan diff writes its Markdown summary before it is added to the job summary. */
const DIFF_SUMMARY_FILE = "plan-diff-summary.md";

/** The roles CI assumes in one stack's account. */
interface StackCiRoles {
  /** The stack: a stage, or the registry. */
  readonly stack: string;
  readonly kind: "stage" | "registry";
  readonly accountId: string;
  /** Read-only, trusted by pull requests: `pulumi preview`. */
  readonly previewerRoleArn: string;
  /** Trusted by the GitHub environment named after the stack: `pulumi up`. */
  readonly deployerRoleArn: string;
}

/** Every stack's CI roles, in deploy order (deploymentStacks: the registry first). */
function stackCiRoles(project: ProjectConfig, region: string): StackCiRoles[] {
  return deploymentStacks(project).map((stack) => {
    const account = accountRef(stack.accountId, region);
    const names = stageNames(project.serviceName, stack.name, account);
    return {
      stack: stack.name,
      kind: stack.kind,
      accountId: stack.accountId,
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
 * must be GitHub OIDC: that is what the stack roles trust.
 */
export function addWorkflows(project: javascript.NodeProject, config: ProjectConfig, region: string): void {
  const gh = github.GitHub.of(project);
  if (gh === undefined) throw new Error("addWorkflows: the project has no GitHub component; construct it with github: true");
  if (config.ciPrincipal.type !== "github-oidc") {
    throw new Error(`addWorkflows: ciPrincipal is "${config.ciPrincipal.type}", so the stage roles trust ${config.ciPrincipal.roleArn}, `
      + "not GitHub; set ciPrincipal { type: \"github-oidc\", repository: \"owner/repo\" } to generate GitHub workflows");
  }
  const ctx: Context = { roles: stackCiRoles(config, region), region };
  pullRequestWorkflow(gh, ctx);
  deployWorkflow(gh, ctx);
  promoteWorkflow(gh, ctx, config);
  addRetrainWorkflows(project, config, {
    region,
    runsOn: RUNS_ON,
    setupSteps,
    action: (name) => uses(ACTIONS[name]),
    newWorkflow: (name, options) => newWorkflow(gh, name, options),
    assumeStep: (accountId, roleToAssume, session) => assumeStep(ctx, accountId, roleToAssume, session),
  });
}

interface Context {
  /** Every stack, in deploy order. */
  readonly roles: readonly StackCiRoles[];
  readonly region: string;
}

/**
 * A workflow whose jobs get only what they declare (the top-level token can read contents, no
 * more), with each action's version written beside its SHA.
 */
function newWorkflow(gh: github.GitHub, name: string, options: github.GithubWorkflowOptions = {}): github.GithubWorkflow {
  const workflow = new github.GithubWorkflow(gh, name, options);
  const file = workflow.file;
  if (file !== undefined) {
    file.addOverride("permissions", { contents: "read" });
    // synthesizeContent is the method YamlFile's own subclasses override; wrapped here because the
    // workflow creates its file itself.
    const target = file as unknown as { synthesizeContent(resolver: IResolver): string | undefined };
    const render = target.synthesizeContent.bind(file);
    target.synthesizeContent = (resolver) => {
      const text = render(resolver);
      return text === undefined ? undefined : withVersionComments(text);
    };
  }
  return workflow;
}

/**
 * Checkout, Node.js with the npm cache, and the locked dependencies. The checkout keeps no token in
 * .git/config: nothing after it pushes. `fullHistory` fetches every branch and commit (the plan diff
 * reads the base branch).
 */
function setupSteps(options: { fullHistory?: boolean } = {}): github.workflows.JobStep[] {
  return [
    {
      name: "Check out",
      uses: uses(ACTIONS.checkout),
      with: { "persist-credentials": false, ...(options.fullHistory ? { "fetch-depth": 0 } : {}) },
    },
    { name: "Set up Node.js", uses: uses(ACTIONS.setupNode), with: { "node-version": NODE_VERSION, "cache": "npm" } },
    { name: "Install dependencies", run: "npm ci" },
  ];
}

/** Short-lived credentials of one of a stack's roles from GitHub's OIDC token; the action refuses any other account's. */
function assumeRoleStep(ctx: Context, role: StackCiRoles, which: "deployer" | "previewer", session: string): github.workflows.JobStep {
  return assumeStep(ctx, role.accountId, which === "deployer" ? role.deployerRoleArn : role.previewerRoleArn, session);
}

function assumeStep(ctx: Context, accountId: string, roleToAssume: string, session: string): github.workflows.JobStep {
  return {
    name: "Assume the role via GitHub OIDC",
    uses: uses(ACTIONS.configureAwsCredentials),
    with: {
      "role-to-assume": roleToAssume,
      "aws-region": ctx.region,
      "allowed-account-ids": accountId,
      "role-session-name": `${session}-\${{ github.run_id }}`,
    },
  };
}

function pulumiStep(command: "preview" | "up", stack: string): github.workflows.JobStep {
  return {
    name: `pulumi ${command} (${stack})`,
    uses: uses(ACTIONS.pulumi),
    with: { "command": command, "stack-name": stack, "cloud-url": "${{ vars.PULUMI_BACKEND_URL }}" },
  };
}

function pullRequestWorkflow(gh: github.GitHub, ctx: Context): void {
  const workflow = newWorkflow(gh, "pull-request", {
    limitConcurrency: true,
    concurrencyOptions: { group: "${{ github.workflow }}-${{ github.ref }}", cancelInProgress: true },
  });
  // labeled/unlabeled: adding or removing the intent label runs the plan diff again. Every job runs
  // on every event: a skipped job would count as a passed check.
  workflow.on({ pullRequest: { types: ["opened", "synchronize", "reopened", "labeled", "unlabeled"] } });
  workflow.addJob("check", {
    name: "Type-check, test and plan every stack offline",
    runsOn: RUNS_ON,
    permissions: { contents: READ },
    timeoutMinutes: 30,
    steps: [
      ...setupSteps(),
      { name: "Type-check", run: "npx tsc --noEmit -p tsconfig.dev.json" },
      // The retraining tests start a real PostgreSQL server (test/support/postgres.ts); npm test runs the same script.
      { name: "PostgreSQL for the retraining tests", run: "bash test/support/install-postgres.sh" },
      { name: "Test", run: "npx jest" },
      { name: "Lint", run: "npx projen eslint" },
      { name: "Offline plan of every stack", run: "npx projen plan --stack all" },
    ],
  });
  workflow.addJob("plan-diff", {
    name: "Offline plan diff against the base branch",
    runsOn: RUNS_ON,
    permissions: { contents: READ },
    timeoutMinutes: 15,
    steps: [
      ...setupSteps({ fullHistory: true }),
      {
        name: "Plan diff against the base branch",
        // Event values reach the shell as environment variables, never spliced into the script, and
        // the task passes its arguments on as they are (projen/tool-task.ts).
        env: {
          BASE_REF: "${{ github.base_ref }}",
          ALLOW_DESTRUCTIVE: `\${{ contains(github.event.pull_request.labels.*.name, '${INTENT_LABEL}') }}`,
        },
        run: [
          "set -euo pipefail",
          `args=(--against "origin/$BASE_REF" --stack all --summary ${DIFF_SUMMARY_FILE})`,
          "if [ \"$ALLOW_DESTRUCTIVE\" = \"true\" ]; then args+=(--allow-deletions); fi",
          "status=0",
          "npx projen plan:diff \"${args[@]}\" || status=$?",
          `if [ -f ${DIFF_SUMMARY_FILE} ]; then cat ${DIFF_SUMMARY_FILE} >> "$GITHUB_STEP_SUMMARY"; fi`,
          `if [ "$ALLOW_DESTRUCTIVE" = "true" ]; then echo "Deletions and replacements confirmed by the label \\\`${INTENT_LABEL}\\\`." >> "$GITHUB_STEP_SUMMARY"; fi`,
          "exit \"$status\"",
        ].join("\n"),
      },
    ],
  });
  for (const role of ctx.roles) {
    workflow.addJob(`preview-${role.stack}`, {
      name: `Preview ${role.stack} (account ${role.accountId})`,
      needs: ["check"],
      runsOn: RUNS_ON,
      permissions: { contents: READ, idToken: WRITE },
      timeoutMinutes: 30,
      env: PULUMI_ENV,
      steps: [
        ...setupSteps(),
        assumeRoleStep(ctx, role, "previewer", `preview-${role.stack}`),
        pulumiStep("preview", role.stack),
      ],
    });
  }
}

function deployWorkflow(gh: github.GitHub, ctx: Context): void {
  // One deployment at a time, and never cancel one half-way through a stack.
  const workflow = newWorkflow(gh, "deploy", { limitConcurrency: true, concurrencyOptions: { group: "deploy", cancelInProgress: false } });
  workflow.on({ push: { branches: [MAIN_BRANCH] } });
  ctx.roles.forEach((role, i) => {
    workflow.addJob(`up-${role.stack}`, {
      name: `Deploy ${role.stack} (account ${role.accountId})`,
      needs: i === 0 ? undefined : [`up-${ctx.roles[i - 1].stack}`],
      runsOn: RUNS_ON,
      // The deployer role trusts only this environment; its protection rules are the approvals.
      environment: role.stack,
      permissions: { contents: READ, idToken: WRITE },
      // The provider waits up to 60 minutes for an endpoint to be InService; a stage's canary
      // deployments then take their updates and bake (canaryDeploySteps).
      timeoutMinutes: role.kind === "stage" ? 180 : 120,
      env: PULUMI_ENV,
      steps: [
        ...setupSteps(),
        assumeRoleStep(ctx, role, "deployer", `deploy-${role.stack}`),
        { name: `Check the credentials are for account ${role.accountId}`, run: `npx projen assert-account --stack ${role.stack}` },
        pulumiStep("up", role.stack),
        ...(role.kind === "stage" ? canaryDeploySteps(ctx, role) : []),
      ],
    });
  });
}

/**
 * After `pulumi up` of a stage: `deploy --pending` starts the canary state machine of every endpoint
 * with strategy step-functions-canary whose stack file version it does not serve yet, one after
 * another, and watches each to its end (a rollback fails the job); a stage without such endpoints
 * makes no AWS call. The role is assumed again first: the deployer role's sessions last an hour
 * (its maximum), and `pulumi up` may have used most of the first one.
 */
function canaryDeploySteps(ctx: Context, role: StackCiRoles): github.workflows.JobStep[] {
  return [
    { ...assumeRoleStep(ctx, role, "deployer", `canary-${role.stack}`), name: "Assume the role again for the canary deployments" },
    { name: `Deploy the pending versions of the canary endpoints (${role.stack})`, run: `npx projen deploy --stage ${role.stack} --pending` },
  ];
}

function promoteWorkflow(gh: github.GitHub, ctx: Context, config: ProjectConfig): void {
  // Promotion moves versions between stages; the registry's stack serves nothing and is never promoted to.
  const stages = ctx.roles.filter((r) => r.kind === "stage").map((r) => r.stack);
  // Promote reads the registry as the registry CLI's read commands do: with the registry's reader
  // role, which trusts the promote environment and may change nothing.
  const registry = accountRef(ctx.roles.find((r) => r.stack === REGISTRY_STACK)!.accountId, ctx.region);
  const reader = roleArn(registry, registryNames(config.serviceName, registry).readerRole);
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
    // The registry's reader role trusts this environment (and the publishers and approvers).
    environment: PROMOTE_ENVIRONMENT,
    permissions: { contents: READ, idToken: WRITE },
    timeoutMinutes: 15,
    steps: [
      ...setupSteps(),
      assumeStep(ctx, registry.accountId, reader, "promote"),
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
        uses: uses(ACTIONS.uploadArtifact),
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
      // create-pull-request pushes with its own token input (the job's token by default).
      { name: "Check out", uses: uses(ACTIONS.checkout), with: { "persist-credentials": false } },
      { name: "Fetch the promoted stack file", uses: uses(ACTIONS.downloadArtifact), with: { name: artifact, path: "." } },
      {
        name: "Open a pull request",
        uses: uses(ACTIONS.createPullRequest),
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
