import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Testing, typescript } from "projen";
import { parse } from "yaml";
import { stageNames } from "../../components/names";
import { MlServiceProject } from "../../projen";
import { parseServiceDefinition, type ServiceDefinition } from "../../projen/service";
import { addWorkflows } from "../../projen/workflows";
import { registryTarget } from "../../scripts/lib/registry";

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

const definition: ServiceDefinition = {
  serviceName: "fraud-detection",
  region: "eu-west-1",
  stages: [
    { name: "sandbox", accountId: "111111111111" },
    { name: "qa", accountId: "222222222222" },
    { name: "prod", accountId: "333333333333" },
  ],
  registryStage: "sandbox",
  models: ["fraud-scorer", "txn-embedder"],
  ecrRepository: true,
  ciPrincipal: { type: "github-oidc", repository: "example-org/fraud-detection" },
};

let outdir: string;
beforeEach(() => { outdir = mkdtempSync(join(tmpdir(), "mlplatform-workflows-")); });
afterEach(() => rmSync(outdir, { recursive: true, force: true }));

const WORKFLOWS_DIR = ".github/workflows/";

/** Every file MlServiceProject writes for a definition, by path; synthesized into (and then removed from) a temporary directory. */
function synthProject(def: ServiceDefinition): Record<string, unknown> {
  // An explicit temporary outdir: without one, projen synthesizes into (and cleans) the current directory.
  return Testing.synth(new MlServiceProject({ ...def, outdir: mkdtempSync(join(tmpdir(), "mlplatform-workflows-")) }));
}

/** The workflow files of the project MlServiceProject generates, by file name. */
function synthWorkflows(def: ServiceDefinition): Record<string, string> {
  return Object.fromEntries(Object.entries(synthProject(def))
    .filter(([path]) => path.startsWith(WORKFLOWS_DIR))
    .map(([path, text]) => [path.slice(WORKFLOWS_DIR.length), String(text)]));
}

let shipped: Record<string, string> | undefined;
/** The workflows of a definition (the shipped one, synthesized once, by default). */
function synth(def?: ServiceDefinition): Record<string, string> {
  if (def !== undefined) return synthWorkflows(def);
  shipped ??= synthWorkflows(definition);
  return shipped;
}

function workflow(files: Record<string, string>, name: string): Workflow {
  expect(Object.keys(files)).toContain(name);
  return parse(files[name]) as Workflow;
}

const needsOf = (job: Job) => (job.needs === undefined ? [] : ([] as string[]).concat(job.needs));
const assumeStep = (job: Job) => job.steps.find((s) => s.uses?.startsWith("aws-actions/configure-aws-credentials@"));
const pulumiStep = (job: Job) => job.steps.find((s) => s.uses?.startsWith("pulumi/actions@"));
/** The role a stage's job must assume, derived independently of the workflow code. */
const expectedRole = (stage: string, kind: "deployerRole" | "previewerRole", def = definition) => {
  const accountId = def.stages.find((s) => s.name === stage)!.accountId;
  return `arn:aws:iam::${accountId}:role/${stageNames(def.serviceName, stage, { accountId, region: def.region })[kind]}`;
};
const OURS = ["pull-request.yml", "deploy.yml", "promote.yml"];
/** Every job of the three workflows addWorkflows writes (projen's own workflows are not ours to judge). */
const ourJobs = (files: Record<string, string>) => OURS.flatMap((file) =>
  Object.entries(workflow(files, file).jobs).map(([id, job]) => ({ file, id, job })));

describe("deploy.yml", () => {
  it("GIVEN the stage order THEN up-sandbox runs first, up-qa needs up-sandbox and up-prod needs up-qa", () => {
    const jobs = workflow(synth(), "deploy.yml").jobs;
    expect(Object.keys(jobs)).toEqual(["up-sandbox", "up-qa", "up-prod"]);
    expect(needsOf(jobs["up-sandbox"])).toEqual([]);
    expect(needsOf(jobs["up-qa"])).toEqual(["up-sandbox"]);
    expect(needsOf(jobs["up-prod"])).toEqual(["up-qa"]);
  });

  it("GIVEN another stage order THEN the chain of needs follows it", () => {
    const def: ServiceDefinition = {
      ...definition,
      stages: [{ name: "dev", accountId: "444444444444" }, { name: "staging", accountId: "555555555555" }, { name: "live", accountId: "666666666666" }],
      registryStage: "dev",
    };
    const jobs = workflow(synth(def), "deploy.yml").jobs;
    expect(Object.entries(jobs).map(([id, job]) => [id, needsOf(job)])).toEqual([["up-dev", []], ["up-staging", ["up-dev"]], ["up-live", ["up-staging"]]]);
    expect(assumeStep(jobs["up-live"])?.with?.["role-to-assume"]).toBe(expectedRole("live", "deployerRole", def));
  });

  it("GIVEN push to main THEN it triggers, one deployment at a time", () => {
    const deploy = workflow(synth(), "deploy.yml") as Workflow & { concurrency: { "group": string; "cancel-in-progress": boolean } };
    expect(deploy.on).toEqual({ push: { branches: ["main"] } });
    expect(deploy.concurrency).toEqual({ "group": "deploy", "cancel-in-progress": false });
  });

  it("GIVEN each deploy job THEN it runs in the GitHub environment of its stage (where approvals live)", () => {
    const jobs = workflow(synth(), "deploy.yml").jobs;
    for (const stage of ["sandbox", "qa", "prod"]) expect(jobs[`up-${stage}`].environment).toBe(stage);
  });

  it("GIVEN each deploy job THEN it assumes its own stage's deployer role in its own account", () => {
    const jobs = workflow(synth(), "deploy.yml").jobs;
    for (const stage of definition.stages) {
      const arn = assumeStep(jobs[`up-${stage.name}`])?.with?.["role-to-assume"];
      expect(arn).toBe(expectedRole(stage.name, "deployerRole"));
      expect(arn).toBe(`arn:aws:iam::${stage.accountId}:role/fraud-detection-${stage.name}-deployer`);
      expect(assumeStep(jobs[`up-${stage.name}`])?.with?.["aws-region"]).toBe("eu-west-1");
    }
  });

  it("GIVEN each deploy job THEN it checks the account with assert-account after assuming the role and before pulumi up of its stack", () => {
    const jobs = workflow(synth(), "deploy.yml").jobs;
    for (const stage of ["sandbox", "qa", "prod"]) {
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
});

describe("pull-request.yml", () => {
  it("GIVEN a pull request THEN check runs npm ci, type-check, tests and the offline plan of every stack", () => {
    const pr = workflow(synth(), "pull-request.yml");
    expect(Object.keys(pr.on)).toEqual(["pull_request"]);
    const runs = pr.jobs.check.steps.map((s) => s.run).filter((r) => r !== undefined);
    expect(runs).toEqual(expect.arrayContaining(["npm ci", "npx tsc --noEmit -p tsconfig.dev.json", "npx jest", "npx projen plan --stack all"]));
    expect(assumeStep(pr.jobs.check)).toBeUndefined();
  });

  it("GIVEN each stage THEN preview-<stage> needs check and previews its stack with its own previewer role", () => {
    const jobs = workflow(synth(), "pull-request.yml").jobs;
    expect(Object.keys(jobs)).toEqual(["check", "preview-sandbox", "preview-qa", "preview-prod"]);
    for (const stage of definition.stages) {
      const job = jobs[`preview-${stage.name}`];
      expect(needsOf(job)).toEqual(["check"]);
      expect(assumeStep(job)?.with?.["role-to-assume"]).toBe(expectedRole(stage.name, "previewerRole"));
      expect(assumeStep(job)?.with?.["role-to-assume"]).toContain(`::${stage.accountId}:role/`);
      expect(pulumiStep(job)?.with).toMatchObject({ "command": "preview", "stack-name": stage.name });
      expect(job.environment).toBeUndefined();
    }
  });

  it("GIVEN a preview job THEN no deployer role appears in pull requests", () => {
    expect(synth()["pull-request.yml"]).not.toContain("-deployer");
  });
});

describe("promote.yml", () => {
  it("GIVEN workflow_dispatch THEN it has the inputs from, to and model, with the stages and models as choices", () => {
    const inputs = workflow(synth(), "promote.yml").on.workflow_dispatch.inputs as Record<string, { required?: boolean; options?: string[] }>;
    expect(Object.keys(inputs)).toEqual(["from", "to", "model"]);
    expect(inputs.from.options).toEqual(["sandbox", "qa"]);
    expect(inputs.to.options).toEqual(["qa", "prod"]);
    expect(inputs.model.options).toEqual(["all", "fraud-scorer", "txn-embedder"]);
    expect(inputs.from.required && inputs.to.required).toBe(true);
  });

  it("GIVEN the promote job THEN it assumes the registry role the registry CLI uses, in the environment that role trusts, and runs promote", () => {
    const jobs = workflow(synth(), "promote.yml").jobs;
    const config = parseServiceDefinition(definition).project;
    expect(assumeStep(jobs.promote)?.with?.["role-to-assume"]).toBe(registryTarget({ project: config, region: definition.region }).roleArn);
    expect(jobs.promote.environment).toBe(config.registryStage);
    const run = jobs.promote.steps.find((s) => s.run?.includes("npx projen promote"));
    expect(run?.run).toContain("--from \"$FROM\" --to \"$TO\"");
    expect(run?.env).toEqual({ FROM: "${{ inputs.from }}", TO: "${{ inputs.to }}", MODEL: "${{ inputs.model }}" });
  });

  it("GIVEN the pull-request job THEN it opens the pull request with contents and pull-requests write, and holds no AWS role", () => {
    const jobs = workflow(synth(), "promote.yml").jobs;
    const pr = jobs["pull-request"];
    expect(needsOf(pr)).toEqual(["promote"]);
    expect(pr.permissions).toEqual({ "contents": "write", "pull-requests": "write" });
    expect(pr.steps.some((s) => s.uses?.startsWith("peter-evans/create-pull-request@"))).toBe(true);
    expect(assumeStep(pr)).toBeUndefined();
    expect(jobs.promote.permissions).toEqual({ "contents": "read", "id-token": "write" });
  });

  it("GIVEN the dispatch inputs THEN none is spliced into a shell script (they arrive as environment variables)", () => {
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
      .toEqual(["preview-prod", "preview-qa", "preview-sandbox", "promote", "up-prod", "up-qa", "up-sandbox"]);
    for (const { file, id, job } of jobs) {
      expect({ file, id, idToken: job.permissions?.["id-token"] }).toEqual({ file, id, idToken: assumeStep(job) ? "write" : undefined });
    }
  });

  it("GIVEN every job THEN only the promotion pull-request job may write contents", () => {
    const writers = ourJobs(synth()).filter(({ job }) => job.permissions?.contents === "write").map(({ file, id }) => `${file}:${id}`);
    expect(writers).toEqual(["promote.yml:pull-request"]);
  });

  it("GIVEN every pulumi job THEN it gets the backend from a repository variable and the passphrase from a secret", () => {
    for (const { job } of ourJobs(synth()).filter(({ job: j }) => pulumiStep(j) !== undefined)) {
      expect(job.env).toEqual({
        PULUMI_BACKEND_URL: "${{ vars.PULUMI_BACKEND_URL }}",
        PULUMI_CONFIG_PASSPHRASE: "${{ secrets.PULUMI_CONFIG_PASSPHRASE }}",
      });
    }
  });

  it("GIVEN every action THEN it is pinned to a major version", () => {
    const files = synth();
    const uses = ourJobs(files).flatMap(({ job }) => job.steps.map((s) => s.uses)).filter((u): u is string => u !== undefined);
    expect(uses.length).toBeGreaterThan(10);
    for (const ref of uses) expect(ref).toMatch(/^[\w-]+\/[\w-]+@v\d+$/);
  });
});

describe("MlServiceProject", () => {
  it("GIVEN a GitHub OIDC CI principal THEN it writes exactly pull-request.yml, deploy.yml and promote.yml", () => {
    expect(Object.keys(synth()).sort()).toEqual([...OURS].sort());
  });

  it("GIVEN an IAM-role CI principal THEN it writes no GitHub workflows (the stage roles do not trust GitHub)", () => {
    const files = synthProject({ ...definition, ciPrincipal: { type: "iam-role", roleArn: "arn:aws:iam::999999999999:role/ci" } });
    expect(Object.keys(files)).toContain("Pulumi.yaml");
    expect(Object.keys(files).filter((path) => path.startsWith(WORKFLOWS_DIR))).toEqual([]);
  });
});

describe("addWorkflows refuses", () => {
  const { project: config, region } = parseServiceDefinition(definition);

  it("GIVEN a CI principal that is an IAM role THEN it refuses: the stage roles do not trust GitHub", () => {
    const p = new typescript.TypeScriptProject({ name: "x", defaultReleaseBranch: "main", github: true, outdir });
    const iamRole = parseServiceDefinition({ ...definition, ciPrincipal: { type: "iam-role", roleArn: "arn:aws:iam::999999999999:role/ci" } }).project;
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
    expect(() => parseServiceDefinition({ ...definition, registryStage: "staging", region: "europe" }))
      .toThrow(/^\.projenrc\.ts: the service definition is invalid:\n\.projenrc\.ts: registryStage: must be one of the stages[^\n]*\n\.projenrc\.ts: region: must be an AWS region such as eu-west-1, got "europe"$/);
  });

  it("GIVEN a valid service definition THEN it returns the parsed project config, defaults applied, and the region", () => {
    const { ecrRepository: _omitted, ...withoutEcr } = definition;
    expect(parseServiceDefinition(withoutEcr)).toEqual({ project: expect.objectContaining({ serviceName: "fraud-detection", ecrRepository: false }), region: "eu-west-1" });
  });
});

