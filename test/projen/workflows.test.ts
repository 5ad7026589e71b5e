import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Testing, typescript } from "projen";
import { parse } from "yaml";
import { registryNames, stageNames } from "../../components/names";
import { MlServiceProject } from "../../projen";
import { parseServiceDefinition, type ServiceDefinition } from "../../projen/service";
import { addWorkflows, withVersionComments } from "../../projen/workflows";
import { registryRole } from "../../scripts/lib/registry";
import { INTENT_LABEL } from "../../scripts/plan/intent";
import { FIXTURE, FIXTURE_DEFINITION } from "../fixtures/service";

interface Step { name?: string; uses?: string; run?: string; with?: Record<string, unknown>; env?: Record<string, string> }
interface Job {
  needs?: string | string[];
  environment?: string;
  permissions?: Record<string, string>;
  env?: Record<string, string>;
  steps: Step[];
}
interface Workflow {
  on: Record<string, any>;
  permissions?: Record<string, string>;
  jobs: Record<string, Job>;
}

const definition = FIXTURE_DEFINITION;
const STAGES = definition.stages.map((s) => s.name);
/** The registry's stack: always its own, deployed first, never promoted to. */
const REGISTRY = "registry";
/** The fixture with a dedicated registry account. */
const REGISTRY_ACCOUNT = "404040404049";
const withDedicatedRegistry: ServiceDefinition = { ...definition, registryStage: undefined, registryAccountId: REGISTRY_ACCOUNT };
/** The fixture with the registry in qa's account (not the first stage's, the default). */
const withRegistryInQa: ServiceDefinition = { ...definition, registryStage: "qa" };
/** An IAM-role CI principal, with the publishers and approvers it then requires. */
const IAM_ROLE_CI: Partial<ServiceDefinition> = {
  ciPrincipal: { type: "iam-role", roleArn: "arn:aws:iam::999999999999:role/ci" },
  publishers: [{ roleArn: "arn:aws:iam::999999999999:role/training-pipeline" }],
  approvers: [{ roleArn: "arn:aws:iam::999999999999:role/model-approver" }],
};

let outdir: string;
beforeEach(() => { outdir = mkdtempSync(join(tmpdir(), "mlplatform-workflows-")); });
afterEach(() => rmSync(outdir, { recursive: true, force: true }));

const WORKFLOWS_DIR = ".github/workflows/";

/** Every file MlServiceProject writes for a definition, by path; synthesized into a temporary directory. */
function synthProject(def: ServiceDefinition): Record<string, unknown> {
  // An explicit temporary outdir: without one, projen synthesizes into (and cleans) the current directory.
  const dir = mkdtempSync(join(tmpdir(), "mlplatform-workflows-"));
  try {
    return Testing.synth(new MlServiceProject({ ...def, outdir: dir }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The workflow files of the project MlServiceProject generates, by file name. */
function synthWorkflows(def: ServiceDefinition): Record<string, string> {
  return Object.fromEntries(Object.entries(synthProject(def))
    .filter(([path]) => path.startsWith(WORKFLOWS_DIR))
    .map(([path, text]) => [path.slice(WORKFLOWS_DIR.length), String(text)]));
}

const synthesized = new Map<ServiceDefinition, Record<string, string>>();
/** The workflows of a definition (the fixture by default), synthesized once per definition. */
function synth(def: ServiceDefinition = definition): Record<string, string> {
  if (!synthesized.has(def)) synthesized.set(def, synthWorkflows(def));
  return synthesized.get(def)!;
}

function workflow(files: Record<string, string>, name: string): Workflow {
  expect(Object.keys(files)).toContain(name);
  return parse(files[name]) as Workflow;
}

const needsOf = (job: Job) => (job.needs === undefined ? [] : ([] as string[]).concat(job.needs));
const assumeStep = (job: Job) => job.steps.find((s) => s.uses?.startsWith("aws-actions/configure-aws-credentials@"));
const pulumiStep = (job: Job) => job.steps.find((s) => s.uses?.startsWith("pulumi/actions@"));
const checkoutSteps = (job: Job) => job.steps.filter((s) => s.uses?.startsWith("actions/checkout@"));
/** A stack's account, as the definition documents it: the registry's is registryAccountId, else registryStage's, else the first stage's. */
const accountOf = (stack: string, def: ServiceDefinition): string => {
  const stageAccount = (name: string) => def.stages.find((s) => s.name === name)?.accountId;
  return (stack === REGISTRY ? def.registryAccountId ?? stageAccount(def.registryStage ?? def.stages[0].name) : stageAccount(stack))!;
};
/** The role a stack's job must assume, derived independently of the workflow code. */
const expectedRole = (stack: string, kind: "deployerRole" | "previewerRole", def = definition) => {
  const accountId = accountOf(stack, def);
  return `arn:aws:iam::${accountId}:role/${stageNames(def.serviceName, stack, { accountId, region: def.region })[kind]}`;
};
/** The registry's reader role (promotion reads the registry with it), in the registry's account. */
const readerRole = (def = definition) => {
  const accountId = accountOf(REGISTRY, def);
  return `arn:aws:iam::${accountId}:role/${registryNames(def.serviceName, { accountId, region: def.region }).readerRole}`;
};
const OURS = ["pull-request.yml", "deploy.yml", "promote.yml"];
/** Every job of the three workflows addWorkflows writes. */
const ourJobs = (files: Record<string, string>) => OURS.flatMap((file) =>
  Object.entries(workflow(files, file).jobs).map(([id, job]) => ({ file, id, job })));

describe("deploy.yml", () => {
  it("GIVEN the stage order THEN the registry deploys first, then the first stage, and each later one needs the one before", () => {
    const jobs = workflow(synth(), "deploy.yml").jobs;
    expect(Object.entries(jobs).map(([id, job]) => [id, needsOf(job)]))
      .toEqual([["up-registry", []], ...STAGES.map((stage, i) => [`up-${stage}`, [i === 0 ? "up-registry" : `up-${STAGES[i - 1]}`]])]);
  });

  it("GIVEN another stage order THEN the chain of needs follows it", () => {
    const def: ServiceDefinition = {
      ...definition,
      stages: [{ name: "dev", accountId: "444444444444" }, { name: "staging", accountId: "555555555555" }, { name: "live", accountId: "666666666666" }],
      registryStage: "dev",
    };
    const jobs = workflow(synth(def), "deploy.yml").jobs;
    expect(Object.entries(jobs).map(([id, job]) => [id, needsOf(job)]))
      .toEqual([["up-registry", []], ["up-dev", ["up-registry"]], ["up-staging", ["up-dev"]], ["up-live", ["up-staging"]]]);
    expect(assumeStep(jobs["up-live"])?.with?.["role-to-assume"]).toBe(expectedRole("live", "deployerRole", def));
    expect(assumeStep(jobs["up-registry"])?.with?.["role-to-assume"]).toBe(expectedRole(REGISTRY, "deployerRole", def));
  });

  it.each([
    ["the registry stage's account (registryStage)", withRegistryInQa, definition.stages[1].accountId],
    ["the first stage's account (no registryStage)", { ...definition, registryStage: undefined }, definition.stages[0].accountId],
    ["a dedicated registry account", withDedicatedRegistry, REGISTRY_ACCOUNT],
  ])("GIVEN the registry in %s THEN up-registry deploys into that account, with the registry stack's own deployer role, in its own environment", (_title, def, account) => {
    const registry = workflow(synth(def), "deploy.yml").jobs["up-registry"];
    expect(registry.environment).toBe(REGISTRY);
    expect(assumeStep(registry)?.with).toMatchObject({ "role-to-assume": expectedRole(REGISTRY, "deployerRole", def), "allowed-account-ids": account });
    expect(assumeStep(registry)?.with?.["role-to-assume"]).toBe(`arn:aws:iam::${account}:role/${FIXTURE.serviceName}-registry-deployer`);
    expect(registry.steps.map((s) => s.run).filter((r) => r !== undefined)).toContain("npx projen assert-account --stack registry");
    expect(pulumiStep(registry)?.with).toMatchObject({ "command": "up", "stack-name": REGISTRY });
  });

  it("GIVEN push to main THEN it triggers, one deployment at a time", () => {
    const deploy = workflow(synth(), "deploy.yml") as Workflow & { concurrency: { "group": string; "cancel-in-progress": boolean } };
    expect(deploy.on).toEqual({ push: { branches: ["main"] } });
    expect(deploy.concurrency).toEqual({ "group": "deploy", "cancel-in-progress": false });
  });

  it("GIVEN each deploy job THEN it runs in the GitHub environment of its stage (where approvals live)", () => {
    const jobs = workflow(synth(), "deploy.yml").jobs;
    for (const stage of STAGES) expect(jobs[`up-${stage}`].environment).toBe(stage);
  });

  it("GIVEN each deploy job THEN it assumes its own stage's deployer role in its own account and region, and only accepts that account", () => {
    const jobs = workflow(synth(), "deploy.yml").jobs;
    for (const stage of definition.stages) {
      const step = assumeStep(jobs[`up-${stage.name}`]);
      expect(step?.with?.["role-to-assume"]).toBe(expectedRole(stage.name, "deployerRole"));
      expect(step?.with?.["role-to-assume"]).toBe(`arn:aws:iam::${stage.accountId}:role/${FIXTURE.serviceName}-${stage.name}-deployer`);
      expect(step?.with?.["aws-region"]).toBe(FIXTURE.region);
      expect(step?.with?.["allowed-account-ids"]).toBe(stage.accountId);
    }
  });

  it("GIVEN each deploy job THEN it checks the account with assert-account after assuming the role and before pulumi up of its stack", () => {
    const jobs = workflow(synth(), "deploy.yml").jobs;
    for (const stage of STAGES) {
      const steps = jobs[`up-${stage}`].steps;
      const assume = steps.indexOf(assumeStep(jobs[`up-${stage}`])!);
      const assert = steps.findIndex((s) => s.run === `npx projen assert-account --stack ${stage}`);
      const up = steps.indexOf(pulumiStep(jobs[`up-${stage}`])!);
      expect(assume).toBeGreaterThanOrEqual(0);
      expect(assert).toBeGreaterThan(assume);
      expect(up).toBeGreaterThan(assert);
      expect(steps[up].with).toMatchObject({ "command": "up", "stack-name": stage });
    }
  });

  it.each([
    ["the fixture's stages", definition],
    ["other stages, with a dedicated registry account", {
      ...withDedicatedRegistry,
      stages: [{ name: "dev", accountId: "444444444444" }, { name: "live", accountId: "666666666666" }],
    }],
  ])("GIVEN %s THEN every stage's job deploys its pending canary versions after pulumi up, with fresh credentials of its own deployer role", (_title, def) => {
    const jobs = workflow(synth(def), "deploy.yml").jobs;
    for (const stage of def.stages.map((s) => s.name)) {
      const steps = jobs[`up-${stage}`].steps;
      const up = steps.indexOf(pulumiStep(jobs[`up-${stage}`])!);
      const pending = steps.findIndex((s) => s.run === `npx projen deploy --stage ${stage} --pending`);
      expect(pending).toBeGreaterThan(up);
      // The role assumed again between the two, in the stage's own account.
      const again = steps.slice(up + 1, pending).find((s) => s.uses?.startsWith("aws-actions/configure-aws-credentials@"));
      expect(again?.with).toMatchObject({ "role-to-assume": expectedRole(stage, "deployerRole", def), "allowed-account-ids": accountOf(stage, def) });
    }
    // The registry's stack serves no endpoints.
    expect(jobs["up-registry"].steps.some((s) => s.run?.includes("projen deploy"))).toBe(false);
  });
});

describe("pull-request.yml", () => {
  it("GIVEN a pull request THEN check runs npm ci, type-check, tests and the offline plan of every stack, with no AWS role", () => {
    const pr = workflow(synth(), "pull-request.yml");
    const runs = pr.jobs.check.steps.map((s) => s.run).filter((r) => r !== undefined);
    expect(runs).toEqual(expect.arrayContaining(["npm ci", "npx tsc --noEmit -p tsconfig.dev.json", "npx jest", "npx projen plan --stack all"]));
    expect(assumeStep(pr.jobs.check)).toBeUndefined();
  });

  it("GIVEN the intent label THEN adding or removing it runs the workflow again, as opening and pushing do", () => {
    const pr = workflow(synth(), "pull-request.yml");
    expect(Object.keys(pr.on)).toEqual(["pull_request"]);
    expect(pr.on.pull_request.types).toEqual(["opened", "synchronize", "reopened", "labeled", "unlabeled"]);
  });

  it("GIVEN the plan-diff job THEN it checks out the whole history, holds no AWS role and reads contents only", () => {
    const job = workflow(synth(), "pull-request.yml").jobs["plan-diff"];
    expect(checkoutSteps(job).map((s) => s.with?.["fetch-depth"])).toEqual([0]);
    expect(job.permissions).toEqual({ contents: "read" });
    expect(assumeStep(job)).toBeUndefined();
    expect(job.env).toBeUndefined();
  });

  it("GIVEN the plan-diff step THEN the base branch and the intent label reach it as environment variables", () => {
    const job = workflow(synth(), "pull-request.yml").jobs["plan-diff"];
    const step = job.steps.find((s) => s.run?.includes("npx projen plan:diff"));
    expect(step?.env).toEqual({
      BASE_REF: "${{ github.base_ref }}",
      ALLOW_DESTRUCTIVE: `\${{ contains(github.event.pull_request.labels.*.name, '${INTENT_LABEL}') }}`,
    });
  });

  describe("the plan-diff script, run by bash with a stand-in for npx", () => {
    let dir: string;
    let work: string;
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), "mlplatform-plan-diff-step-"));
      work = join(dir, "work");
      mkdirSync(work);
      // npx records its arguments, writes a summary where --summary says, and exits with $NPX_STATUS.
      const bin = join(dir, "bin");
      mkdirSync(bin);
      writeFileSync(join(bin, "npx"), [
        "#!/usr/bin/env bash",
        `printf '%s\\n' "$@" > ${JSON.stringify(join(dir, "args"))}`,
        "while [ $# -gt 0 ]; do if [ \"$1\" = --summary ]; then echo '## summary from plan diff' > \"$2\"; fi; shift; done",
        "exit \"${NPX_STATUS:-0}\"",
      ].join("\n"));
      chmodSync(join(bin, "npx"), 0o755);
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    function runStep(env: { BASE_REF: string; ALLOW_DESTRUCTIVE: string; NPX_STATUS?: string }) {
      const step = workflow(synth(), "pull-request.yml").jobs["plan-diff"].steps.find((s) => s.run?.includes("npx projen plan:diff"))!;
      const summary = join(dir, "step-summary.md");
      writeFileSync(summary, "");
      const result = spawnSync("bash", ["-c", step.run!], {
        cwd: work,
        encoding: "utf8",
        env: { PATH: `${join(dir, "bin")}:${process.env.PATH}`, GITHUB_STEP_SUMMARY: summary, ...env },
      });
      const args = (() => {
        try {
          return readFileSync(join(dir, "args"), "utf8").trim().split("\n");
        } catch {
          return [];
        }
      })();
      return { status: result.status, args, summary: readFileSync(summary, "utf8") };
    }

    it("GIVEN no label WHEN it runs THEN it diffs against origin/<base ref> and appends the Markdown summary to the job summary", () => {
      const run = runStep({ BASE_REF: "main", ALLOW_DESTRUCTIVE: "false" });
      expect(run.status).toBe(0);
      expect(run.args).toEqual(["projen", "plan:diff", "--against", "origin/main", "--stack", "all", "--summary", "plan-diff-summary.md"]);
      expect(run.summary).toBe("## summary from plan diff\n");
    });

    it("GIVEN the intent label WHEN it runs THEN it passes --allow-deletions and says so in the job summary", () => {
      const run = runStep({ BASE_REF: "main", ALLOW_DESTRUCTIVE: "true" });
      expect(run.status).toBe(0);
      expect(run.args).toContain("--allow-deletions");
      expect(run.summary).toContain(`confirmed by the label \`${INTENT_LABEL}\``);
    });

    it("GIVEN error findings (plan diff exits 1) WHEN it runs THEN the step fails, after writing the summary", () => {
      const run = runStep({ BASE_REF: "main", ALLOW_DESTRUCTIVE: "false", NPX_STATUS: "1" });
      expect(run.status).toBe(1);
      expect(run.summary).toBe("## summary from plan diff\n");
    });

    it("GIVEN a base branch name with shell characters WHEN it runs THEN the name reaches plan diff as one argument and nothing in it runs", () => {
      const run = runStep({ BASE_REF: "main;touch pwned $(touch pwned2)", ALLOW_DESTRUCTIVE: "false" });
      expect(run.status).toBe(0);
      expect(run.args.slice(0, 4)).toEqual(["projen", "plan:diff", "--against", "origin/main;touch pwned $(touch pwned2)"]);
      expect(readdirSync(work).filter((f) => f.startsWith("pwned"))).toEqual([]);
    });
  });

  it("GIVEN each stage THEN preview-<stage> needs check and previews its stack with its own previewer role", () => {
    const jobs = workflow(synth(), "pull-request.yml").jobs;
    expect(Object.keys(jobs)).toEqual(["check", "plan-diff", "preview-registry", ...STAGES.map((s) => `preview-${s}`)]);
    for (const stage of definition.stages) {
      const job = jobs[`preview-${stage.name}`];
      expect(needsOf(job)).toEqual(["check"]);
      expect(assumeStep(job)?.with?.["role-to-assume"]).toBe(expectedRole(stage.name, "previewerRole"));
      expect(assumeStep(job)?.with?.["allowed-account-ids"]).toBe(stage.accountId);
      expect(pulumiStep(job)?.with).toMatchObject({ "command": "preview", "stack-name": stage.name });
      expect(job.environment).toBeUndefined();
    }
  });

  it.each([["the registry stage's account", withRegistryInQa], ["a dedicated registry account", withDedicatedRegistry]])(
    "GIVEN the registry in %s THEN the registry stack is previewed first, with its own previewer role in that account",
    (_title, def) => {
      const jobs = workflow(synth(def), "pull-request.yml").jobs;
      expect(Object.keys(jobs)).toEqual(["check", "plan-diff", "preview-registry", ...STAGES.map((s) => `preview-${s}`)]);
      const job = jobs["preview-registry"];
      expect(needsOf(job)).toEqual(["check"]);
      expect(assumeStep(job)?.with).toMatchObject({ "role-to-assume": expectedRole(REGISTRY, "previewerRole", def), "allowed-account-ids": accountOf(REGISTRY, def) });
      expect(pulumiStep(job)?.with).toMatchObject({ "command": "preview", "stack-name": REGISTRY });
      expect(job.environment).toBeUndefined();
    },
  );

  it("GIVEN a preview job THEN no deployer role appears in pull requests", () => {
    const text = synth()["pull-request.yml"];
    expect(text).toContain("-previewer");
    expect(text).not.toContain("-deployer");
  });
});

describe("promote.yml", () => {
  it("GIVEN workflow_dispatch THEN it has the inputs from, to and model, with the stages and models as choices", () => {
    const inputs = workflow(synth(), "promote.yml").on.workflow_dispatch.inputs as Record<string, { required?: boolean; options?: string[] }>;
    expect(Object.keys(inputs)).toEqual(["from", "to", "model"]);
    expect(inputs.from.options).toEqual(STAGES.slice(0, -1));
    expect(inputs.to.options).toEqual(STAGES.slice(1));
    expect(inputs.model.options).toEqual(["all", ...FIXTURE.models]);
    expect(inputs.from.required && inputs.to.required).toBe(true);
  });

  it("GIVEN the promote job THEN it runs in the promote environment, reads the registry with the registry's reader role, and runs promote", () => {
    const jobs = workflow(synth(), "promote.yml").jobs;
    expect(jobs.promote.environment).toBe("promote");
    expect(readerRole()).toBe(`arn:aws:iam::${FIXTURE.accounts.sandbox}:role/${FIXTURE.serviceName}-registry-reader`);
    expect(assumeStep(jobs.promote)?.with).toMatchObject({
      "role-to-assume": readerRole(),
      "allowed-account-ids": accountOf(REGISTRY, definition),
      "aws-region": FIXTURE.region,
    });
    const run = jobs.promote.steps.find((s) => s.run?.includes("npx projen promote"));
    expect(run?.run).toContain("--from \"$FROM\" --to \"$TO\"");
    expect(run?.env).toEqual({ FROM: "${{ inputs.from }}", TO: "${{ inputs.to }}", MODEL: "${{ inputs.model }}" });
  });

  it("GIVEN the promote job THEN its role is the one the registry CLI reads with, and no CI role of a stack appears in promote.yml", () => {
    const files = synth();
    const config = parseServiceDefinition(definition).project;
    expect(assumeStep(workflow(files, "promote.yml").jobs.promote)?.with?.["role-to-assume"])
      .toBe(registryRole({ project: config, region: definition.region }, "read").roleArn);
    expect(files["promote.yml"]).not.toContain("-deployer");
    expect(files["promote.yml"]).not.toContain("-previewer");
  });

  it.each([["the registry stage's account", withRegistryInQa], ["a dedicated registry account", withDedicatedRegistry]])(
    "GIVEN the registry in %s THEN promotion offers stages only, and reads the registry with the registry's reader role in that account",
    (_title, def) => {
      const promote = workflow(synth(def), "promote.yml");
      const inputs = promote.on.workflow_dispatch.inputs as Record<string, { options?: string[] }>;
      expect(inputs.from.options).toEqual(STAGES.slice(0, -1));
      expect(inputs.to.options).toEqual(STAGES.slice(1));
      expect(assumeStep(promote.jobs.promote)?.with).toMatchObject({
        "role-to-assume": readerRole(def), "allowed-account-ids": accountOf(REGISTRY, def),
      });
      expect(promote.jobs.promote.environment).toBe("promote");
    },
  );

  it("GIVEN the pull-request job THEN it opens the pull request with contents and pull-requests write, and holds no AWS role", () => {
    const jobs = workflow(synth(), "promote.yml").jobs;
    const pr = jobs["pull-request"];
    expect(needsOf(pr)).toEqual(["promote"]);
    expect(pr.permissions).toEqual({ "contents": "write", "pull-requests": "write" });
    expect(pr.steps.some((s) => s.uses?.startsWith("peter-evans/create-pull-request@"))).toBe(true);
    expect(assumeStep(pr)).toBeUndefined();
    expect(jobs.promote.permissions).toEqual({ "contents": "read", "id-token": "write" });
  });

  it("GIVEN the dispatch inputs and event values THEN none is spliced into a shell script (they arrive as environment variables)", () => {
    for (const { job } of ourJobs(synth())) {
      for (const step of job.steps) expect(step.run ?? "").not.toContain("${{");
    }
  });
});

describe("every workflow", () => {
  it("GIVEN all workflow files THEN none holds AWS access keys: AWS access is OIDC only", () => {
    for (const text of Object.values(synth())) {
      expect(text).not.toContain("AWS_SECRET_ACCESS_KEY");
      expect(text).not.toContain("AWS_ACCESS_KEY_ID");
      expect(text).not.toMatch(/aws-access-key-id|aws-secret-access-key/);
    }
  });

  it("GIVEN the three workflows THEN the top-level token may only read contents", () => {
    const files = synth();
    for (const name of OURS) expect(workflow(files, name).permissions).toEqual({ contents: "read" });
  });

  it("GIVEN every job THEN it has id-token write exactly when it assumes a role", () => {
    const jobs = ourJobs(synth());
    expect(jobs.filter(({ job }) => assumeStep(job) !== undefined).map(({ id }) => id).sort())
      .toEqual([...[REGISTRY, ...STAGES].flatMap((s) => [`preview-${s}`, `up-${s}`]), "promote"].sort());
    for (const { file, id, job } of jobs) {
      expect({ file, id, idToken: job.permissions?.["id-token"] }).toEqual({ file, id, idToken: assumeStep(job) ? "write" : undefined });
    }
  });

  it("GIVEN every job THEN only the promotion pull-request job may write contents", () => {
    const writers = ourJobs(synth()).filter(({ job }) => job.permissions?.contents === "write").map(({ file, id }) => `${file}:${id}`);
    expect(writers).toEqual(["promote.yml:pull-request"]);
  });

  it("GIVEN every checkout THEN it leaves no token in .git/config", () => {
    const checkouts = ourJobs(synth()).flatMap(({ job }) => checkoutSteps(job));
    expect(checkouts.length).toBeGreaterThan(5);
    for (const step of checkouts) expect(step.with?.["persist-credentials"]).toBe(false);
  });

  it("GIVEN every pulumi job THEN it gets the backend from a repository variable and the passphrase from a secret", () => {
    for (const { job } of ourJobs(synth()).filter(({ job: j }) => pulumiStep(j) !== undefined)) {
      expect(job.env).toEqual({
        PULUMI_BACKEND_URL: "${{ vars.PULUMI_BACKEND_URL }}",
        PULUMI_CONFIG_PASSPHRASE: "${{ secrets.PULUMI_CONFIG_PASSPHRASE }}",
      });
    }
  });

  it.each([["the fixture", definition], ["a dedicated registry", withDedicatedRegistry]])(
    "GIVEN %s THEN every uses: line of every workflow file pins a full commit SHA, with its release tag as a comment",
    (_title, def) => {
      const lines = Object.values(synth(def)).flatMap((text) => text.split("\n")).filter((l) => /^\s*(- )?uses:/.test(l));
      expect(lines.length).toBeGreaterThan(10);
      for (const line of lines) expect(line).toMatch(/^\s*(- )?uses: [\w.-]+\/[\w.-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$/);
    },
  );

  it("GIVEN the parsed workflows THEN each action is one repository at one commit everywhere it is used", () => {
    const refs = ourJobs(synth()).flatMap(({ job }) => job.steps.map((s) => s.uses)).filter((u): u is string => u !== undefined);
    const shas = new Map<string, Set<string>>();
    for (const ref of refs) {
      expect(ref).toMatch(/^[\w.-]+\/[\w.-]+@[0-9a-f]{40}$/);
      const [action, sha] = ref.split("@");
      shas.set(action, (shas.get(action) ?? new Set()).add(sha));
    }
    expect([...shas.keys()].sort()).toEqual([
      "actions/checkout", "actions/download-artifact", "actions/setup-node", "actions/upload-artifact",
      "aws-actions/configure-aws-credentials", "peter-evans/create-pull-request", "pulumi/actions",
    ]);
    for (const [action, set] of shas) expect({ action, shas: set.size }).toEqual({ action, shas: 1 });
  });

  it("GIVEN every job that may request an OIDC token THEN each of its steps is a run or a SHA-pinned action", () => {
    const oidcJobs = ourJobs(synth(withDedicatedRegistry)).filter(({ job }) => job.permissions?.["id-token"] === "write");
    expect(oidcJobs.length).toBe(2 * (STAGES.length + 1) + 1);
    for (const { job } of oidcJobs) {
      for (const step of job.steps) expect(step.run !== undefined || /@[0-9a-f]{40}$/.test(step.uses ?? "")).toBe(true);
    }
  });

  it("GIVEN an action that is not in the pinned table WHEN a workflow is written THEN synthesis stops, naming it", () => {
    expect(() => withVersionComments("      - uses: actions/checkout@v4\n"))
      .toThrow("addWorkflows: the action actions/checkout@v4 is not pinned in ACTIONS (projen/workflows.ts)");
  });
});

describe("MlServiceProject", () => {
  it("GIVEN a GitHub OIDC CI principal and no retraining THEN it writes exactly pull-request.yml, deploy.yml, promote.yml and approved.yml", () => {
    expect(Object.keys(synth()).sort()).toEqual([...OURS, "approved.yml"].sort());
  });

  it("GIVEN an IAM-role CI principal THEN it writes no GitHub workflows (the stage roles do not trust GitHub)", () => {
    const files = synthProject({ ...definition, ...IAM_ROLE_CI });
    expect(Object.keys(files)).toContain("Pulumi.yaml");
    expect(Object.keys(files).filter((path) => path.startsWith(WORKFLOWS_DIR))).toEqual([]);
  });
});

describe("addWorkflows refuses", () => {
  const { project: config, region } = parseServiceDefinition(definition);

  it("GIVEN a CI principal that is an IAM role THEN it refuses: the stage roles do not trust GitHub", () => {
    const p = new typescript.TypeScriptProject({ name: "x", defaultReleaseBranch: "main", github: true, outdir });
    const iamRole = parseServiceDefinition({ ...definition, ...IAM_ROLE_CI }).project;
    expect(() => addWorkflows(p, iamRole, region))
      .toThrow("addWorkflows: ciPrincipal is \"iam-role\", so the stage roles trust arn:aws:iam::999999999999:role/ci, not GitHub");
  });

  it("GIVEN a project without GitHub THEN it refuses, saying to enable it", () => {
    const p = new typescript.TypeScriptProject({ name: "x", defaultReleaseBranch: "main", github: false, outdir });
    expect(() => addWorkflows(p, config, region)).toThrow("addWorkflows: the project has no GitHub component; construct it with github: true");
  });
});

describe("parseServiceDefinition", () => {
  it("GIVEN an invalid service definition THEN it refuses naming .projenrc.ts and every key, the region included", () => {
    let message = "";
    try {
      parseServiceDefinition({ ...definition, registryStage: "staging", region: "europe" });
    } catch (error) {
      message = (error as Error).message;
    }
    const [first, ...rest] = message.split("\n");
    expect(first).toBe(".projenrc.ts: the service definition is invalid:");
    expect(rest.sort()).toEqual([
      expect.stringMatching(/^\.projenrc\.ts: region: must be an AWS region such as [a-z]+-[a-z]+-\d, got "europe"$/),
      expect.stringMatching(/^\.projenrc\.ts: registryStage: must be one of the stages.*"staging"/),
    ]);
  });

  it("GIVEN a valid service definition THEN it returns the parsed project config, defaults applied, and the region", () => {
    const { ecrRepository: _omitted, ...withoutEcr } = definition;
    expect(parseServiceDefinition(withoutEcr)).toEqual({
      project: expect.objectContaining({ serviceName: FIXTURE.serviceName, ecrRepository: false }),
      region: FIXTURE.region,
    });
  });
});
