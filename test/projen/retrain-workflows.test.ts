import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { javascript, Testing, typescript } from "projen";
import { parse } from "yaml";
import { registryNames, stageNames } from "../../components/names";
import { MlServiceProject } from "../../projen";
import { pulumiProjectDocument } from "../../projen/pulumi-project";
import { RETRAIN_WORKFLOW_FILE, retrainPublisher } from "../../projen/retrain-publisher";
import { APPROVED_CRON, APPROVED_WORKFLOW_FILE, RETRAIN_DATABASE_PASSWORD_SECRET, Retraining } from "../../projen/retrain-workflows";
import { parseServiceDefinition, pulumiProjectDefinition, RETRAINING_CADENCES, type ServiceDefinition } from "../../projen/service";
import { addWorkflows } from "../../projen/workflows";
import { approvedBranch, PULL_REQUEST_FILES } from "../../scripts/promote/approved";
import { FIXTURE, FIXTURE_DEFINITION } from "../fixtures/service";

/**
 * approved.yml (the first stage follows the registry's approvals, through one pull request) and
 * retrain.yml (the retraining loop on the definition's cadence, as the registry's publisher), for
 * the fixture and for definitions unlike it; and the service definition's `retraining` key.
 */

interface Step { id?: string; name?: string; uses?: string; run?: string; with?: Record<string, any>; env?: Record<string, string> }
interface Job {
  "if"?: string;
  "needs"?: string | string[];
  "environment"?: string;
  "permissions"?: Record<string, string>;
  "strategy"?: { "matrix": Record<string, string>; "max-parallel"?: number; "fail-fast"?: boolean };
  "timeout-minutes"?: number;
  "steps": Step[];
}
interface Workflow { on: Record<string, any>; permissions?: Record<string, string>; concurrency?: unknown; jobs: Record<string, Job> }

/** The fixture, retraining monthly (its publishers default to the registry-publish environment). */
const MONTHLY: ServiceDefinition = { ...FIXTURE_DEFINITION, retraining: { cadence: "monthly" } };
/** A service unlike the fixture: other stages, a dedicated registry account, three models, two of them retrained quarterly. */
const OTHER: ServiceDefinition = {
  serviceName: "ledger-rank",
  region: "us-east-2",
  stages: [{ name: "dev", accountId: "505050505051" }, { name: "staging", accountId: "505050505052" }, { name: "live", accountId: "505050505053" }],
  registryAccountId: "505050505059",
  models: ["item-rank", "doc-vectors", "fraud-risk"],
  ciPrincipal: { type: "github-oidc", repository: "acme-test-org/ledger-rank" },
  publishers: [{ roleArn: "arn:aws:iam::505050505059:role/notebooks" }, { github: { environment: "ml-train", workflow: RETRAIN_WORKFLOW_FILE } }],
  retraining: { cadence: "quarterly", models: ["fraud-risk", "item-rank"] },
};
/** OTHER on a cron line of its own, its publisher bound to a branch (no environment). */
const OTHER_CRON: ServiceDefinition = { ...OTHER, publishers: [{ github: { branch: "trunk" } }], retraining: { cadence: { cron: "5 4 15 * *" } } };
/** OTHER without retraining. */
const { retraining: _none, ...OTHER_WITHOUT } = OTHER;
const OTHER_NO_RETRAINING: ServiceDefinition = OTHER_WITHOUT;

const DEFINITIONS: [string, ServiceDefinition][] = [["the fixture, monthly", MONTHLY], ["another service, quarterly", OTHER], ["another service, on a cron", OTHER_CRON]];

/**
 * The workflow files addWorkflows writes for a definition, by file name: into a bare projen project
 * with GitHub, the schedule attached as MlServiceProject attaches it.
 */
function synthWorkflows(def: ServiceDefinition): Record<string, string> {
  const service = parseServiceDefinition(def);
  const outdir = mkdtempSync(join(tmpdir(), "mlplatform-retrain-workflows-"));
  try {
    const project = new typescript.TypeScriptProject({
      name: "x",
      defaultReleaseBranch: "main",
      github: true,
      outdir,
      buildWorkflow: false,
      release: false,
      depsUpgrade: false,
      pullRequestTemplate: false,
      githubOptions: { mergify: false, pullRequestLint: false },
      packageManager: javascript.NodePackageManager.NPM,
    });
    if (service.retraining !== undefined) new Retraining(project, service.retraining);
    addWorkflows(project, service.project, service.region);
    return Object.fromEntries(Object.entries(Testing.synth(project))
      .filter(([path]) => path.startsWith(".github/workflows/"))
      .map(([path, text]) => [path.slice(".github/workflows/".length), String(text)]));
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

const synthesized = new Map<ServiceDefinition, Record<string, string>>();
function synth(def: ServiceDefinition): Record<string, string> {
  if (!synthesized.has(def)) synthesized.set(def, synthWorkflows(def));
  return synthesized.get(def)!;
}
function workflow(def: ServiceDefinition, file: string): Workflow {
  const files = synth(def);
  expect(Object.keys(files)).toContain(file);
  return parse(files[file]) as Workflow;
}

const assumeStep = (job: Job) => job.steps.find((s) => s.uses?.startsWith("aws-actions/configure-aws-credentials@"));
/** The registry's account, as the definition documents it: registryAccountId, else registryStage's, else the first stage's. */
const registryAccountOf = (def: ServiceDefinition) =>
  def.registryAccountId ?? def.stages.find((s) => s.name === (def.registryStage ?? def.stages[0].name))!.accountId;
/** A registry role's ARN, derived from the definition and components/names.ts, not from the workflow code. */
const registryRoleArn = (def: ServiceDefinition, role: "readerRole" | "publisherRole") => {
  const accountId = registryAccountOf(def);
  return `arn:aws:iam::${accountId}:role/${registryNames(def.serviceName, { accountId, region: def.region })[role]}`;
};
/** Every stack CI role (deployers and previewers) of a definition. */
const stackRoleNames = (def: ServiceDefinition) => [{ name: "registry", accountId: registryAccountOf(def) }, ...def.stages].flatMap((s) => {
  const names = stageNames(def.serviceName, s.name, { accountId: s.accountId, region: def.region });
  return [names.deployerRole, names.previewerRole];
});

describe("approved.yml", () => {
  it.each([...DEFINITIONS, ["another service without retraining", OTHER_NO_RETRAINING]] as [string, ServiceDefinition][])(
    "GIVEN %s THEN it runs daily and on demand",
    (_title, def) => {
      const on = workflow(def, APPROVED_WORKFLOW_FILE).on;
      expect(Object.keys(on).sort()).toEqual(["schedule", "workflow_dispatch"]);
      expect(on.schedule).toEqual([{ cron: APPROVED_CRON }]);
      const [minute, hour, ...rest] = APPROVED_CRON.split(" ");
      expect([/^\d+$/.test(minute), /^\d+$/.test(hour), rest]).toEqual([true, true, ["*", "*", "*"]]);
    },
  );

  it.each(DEFINITIONS)("GIVEN %s THEN the follow job reads the registry as its reader role in the promote environment and follows it into the first stage", (_t, def) => {
    const job = workflow(def, APPROVED_WORKFLOW_FILE).jobs.follow;
    expect(job.environment).toBe("promote");
    expect(assumeStep(job)?.with).toMatchObject({ "role-to-assume": registryRoleArn(def, "readerRole"), "allowed-account-ids": registryAccountOf(def) });
    const runs = job.steps.filter((s) => s.run?.includes("npx projen promote"));
    expect(runs.map((s) => s.run)).toEqual([expect.stringMatching(new RegExp(`npx projen promote --from registry --to ${def.stages[0].name} `))]);
  });

  it.each(DEFINITIONS)("GIVEN %s THEN the pull request is on the first stage's fixed branch, changes only its stack file, and its body is the one promote wrote", (_t, def) => {
    const wf = workflow(def, APPROVED_WORKFLOW_FILE);
    const first = def.stages[0].name;
    const prDir = /--pull-request-dir (\S+)/.exec(wf.jobs.follow.steps.map((s) => s.run ?? "").join("\n"))?.[1];
    expect(prDir).toBeDefined();
    const upload = wf.jobs.follow.steps.find((s) => s.uses?.startsWith("actions/upload-artifact@"))!;
    expect(String(upload.with?.path).split("\n")).toEqual([`Pulumi.${first}.yaml`, `${prDir}/`]);
    const pr = wf.jobs["pull-request"];
    const create = pr.steps.find((s) => s.uses?.startsWith("peter-evans/create-pull-request@"))!;
    expect(create.with).toMatchObject({
      "branch": approvedBranch(first),
      "add-paths": `Pulumi.${first}.yaml`,
      "body-path": `${prDir}/${PULL_REQUEST_FILES.body}`,
      "delete-branch": true,
    });
    expect(create.with?.branch).toBe(`approved/${first}`);
    const titleStep = pr.steps.find((s) => s.run?.includes(`${prDir}/${PULL_REQUEST_FILES.title}`))!;
    expect(titleStep.id).toBeDefined();
    expect(create.with?.title).toBe(`\${{ steps.${titleStep.id}.outputs.title }}`);
    expect(create.with?.["commit-message"]).toBe(create.with?.title);
    const download = pr.steps.find((s) => s.uses?.startsWith("actions/download-artifact@"))!;
    expect(download.with).toEqual({ name: upload.with?.name, path: "." });
  });

  it("GIVEN the two jobs THEN only the follow job may request an OIDC token, and only the pull-request job may write, after it", () => {
    const { jobs, permissions } = workflow(MONTHLY, APPROVED_WORKFLOW_FILE);
    expect(permissions).toEqual({ contents: "read" });
    expect(jobs.follow.permissions).toEqual({ "contents": "read", "id-token": "write" });
    expect(jobs["pull-request"].permissions).toEqual({ "contents": "write", "pull-requests": "write" });
    expect(assumeStep(jobs["pull-request"])).toBeUndefined();
    expect(jobs["pull-request"].needs).toBe("follow");
  });
});

describe("retrain.yml", () => {
  it.each([["the fixture", FIXTURE_DEFINITION], ["another service", OTHER_NO_RETRAINING]])(
    "GIVEN %s without retraining THEN there is no retrain.yml, and approved.yml is still written",
    (_t, def) => {
      expect(Object.keys(synth(def))).not.toContain(RETRAIN_WORKFLOW_FILE);
      expect(Object.keys(synth(def))).toContain(APPROVED_WORKFLOW_FILE);
    },
  );

  it("GIVEN monthly, quarterly and a cron line THEN each runs on its own schedule", () => {
    expect(workflow(MONTHLY, RETRAIN_WORKFLOW_FILE).on.schedule).toEqual([{ cron: RETRAINING_CADENCES.monthly }]);
    expect(workflow(OTHER, RETRAIN_WORKFLOW_FILE).on.schedule).toEqual([{ cron: RETRAINING_CADENCES.quarterly }]);
    expect(workflow(OTHER_CRON, RETRAIN_WORKFLOW_FILE).on.schedule).toEqual([{ cron: "5 4 15 * *" }]);
  });

  it("GIVEN the named cadences THEN monthly runs on the 1st of every month, and quarterly on the 1st of every third month from January", () => {
    const fields = (cron: string) => cron.split(" ");
    expect(fields(RETRAINING_CADENCES.monthly).slice(2)).toEqual(["1", "*", "*"]);
    expect(fields(RETRAINING_CADENCES.quarterly).slice(2)).toEqual(["1", "1,4,7,10", "*"]);
  });

  it.each(DEFINITIONS)("GIVEN %s THEN it runs on demand with a choice of the retrained models (or all) and a testing switch", (_t, def) => {
    const inputs = workflow(def, RETRAIN_WORKFLOW_FILE).on.workflow_dispatch.inputs as Record<string, { type: string; options?: string[] }>;
    const expected = def.retraining?.models ?? def.models;
    expect(inputs.model.type).toBe("choice");
    expect(inputs.model.options).toEqual(["all", ...def.models.filter((m) => expected.includes(m))]);
    expect(inputs.testing.type).toBe("boolean");
  });

  it.each(DEFINITIONS)("GIVEN %s THEN a scheduled run retrains every chosen model, one at a time, and one failing does not stop the others", (_t, def) => {
    const strategy = workflow(def, RETRAIN_WORKFLOW_FILE).jobs.retrain.strategy!;
    expect(strategy["max-parallel"]).toBe(1);
    expect(strategy["fail-fast"]).toBe(false);
    // A scheduled run has no inputs: the expression falls back to the JSON list of every chosen model.
    const expression = strategy.matrix.model;
    expect(expression).toMatch(/^\$\{\{ fromJSON\(inputs\.model && inputs\.model != 'all' && format\('\["\{0\}"\]', inputs\.model\) \|\| '(.*)'\) \}\}$/);
    const all = JSON.parse(/\|\| '(.*)'\) \}\}$/.exec(expression)![1]) as string[];
    expect(all).toEqual(def.models.filter((m) => (def.retraining?.models ?? def.models).includes(m)));
  });

  it.each(DEFINITIONS)("GIVEN %s THEN it assumes the registry's publisher role, in the registry account", (_t, def) => {
    const job = workflow(def, RETRAIN_WORKFLOW_FILE).jobs.retrain;
    expect(job.permissions).toEqual({ "contents": "read", "id-token": "write" });
    expect(assumeStep(job)?.with).toMatchObject({ "role-to-assume": registryRoleArn(def, "publisherRole"), "allowed-account-ids": registryAccountOf(def) });
  });

  it.each(DEFINITIONS)("GIVEN %s THEN no stage's (or the registry stack's) deployer or previewer role appears in it", (_t, def) => {
    const text = synth(def)[RETRAIN_WORKFLOW_FILE];
    for (const role of stackRoleNames(def)) expect(text).not.toContain(role);
    expect(text).not.toMatch(/-deployer|-previewer/);
  });

  it("GIVEN the default publishers THEN the job runs in the registry-publish environment, on any branch", () => {
    const job = workflow(MONTHLY, RETRAIN_WORKFLOW_FILE).jobs.retrain;
    expect([job.environment, job.if]).toEqual(["registry-publish", undefined]);
  });

  it("GIVEN a publisher bound to an environment and retrain.yml, besides a role THEN the job runs in that environment", () => {
    expect(workflow(OTHER, RETRAIN_WORKFLOW_FILE).jobs.retrain.environment).toBe("ml-train");
  });

  it("GIVEN a publisher bound to a branch THEN the job has no environment and runs only on that branch", () => {
    const job = workflow(OTHER_CRON, RETRAIN_WORKFLOW_FILE).jobs.retrain;
    expect([job.environment, job.if]).toEqual([undefined, "github.ref == 'refs/heads/trunk'"]);
  });

  it("GIVEN the retraining step THEN the database password comes from the documented secret, on that step only", () => {
    const job = workflow(MONTHLY, RETRAIN_WORKFLOW_FILE).jobs.retrain;
    const withSecret = job.steps.filter((s) => JSON.stringify(s).includes("secrets."));
    expect(withSecret.map((s) => s.env?.PGPASSWORD)).toEqual([`\${{ secrets.${RETRAIN_DATABASE_PASSWORD_SECRET} }}`]);
  });

  describe("the retraining step's script, run by bash with a stand-in npx", () => {
    let bin: string;
    beforeAll(() => {
      bin = mkdtempSync(join(tmpdir(), "mlplatform-fake-npx-"));
      writeFileSync(join(bin, "npx"), "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done\n");
      chmodSync(join(bin, "npx"), 0o755);
    });
    afterAll(() => rmSync(bin, { recursive: true, force: true }));

    const runStep = (env: Record<string, string>) => {
      const step = workflow(MONTHLY, RETRAIN_WORKFLOW_FILE).jobs.retrain.steps.find((s) => s.run?.includes("retrain run"))!;
      const result = spawnSync("bash", ["-c", step.run!], {
        env: { PATH: `${bin}:${process.env.PATH}`, PGPASSWORD: "s3cret-value", ...env }, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"],
      });
      return { ...result, args: result.stdout.split("\n").filter((l) => l !== "") };
    };

    it("GIVEN a scheduled run (no testing input) THEN it runs the loop for the matrix model with --json", () => {
      const model = FIXTURE.models[1];
      const { status, args } = runStep({ MODEL: model, TESTING: "" });
      expect(status).toBe(0);
      expect(args).toEqual(["projen", "retrain", "run", "--model", model, "--json"]);
    });

    it("GIVEN testing mode on demand THEN it adds --testing", () => {
      expect(runStep({ MODEL: FIXTURE.models[0], TESTING: "true" }).args).toEqual(["projen", "retrain", "run", "--model", FIXTURE.models[0], "--json", "--testing"]);
    });

    it("GIVEN a run id on demand THEN it resumes that run", () => {
      expect(runStep({ MODEL: FIXTURE.models[0], TESTING: "false", RUN_ID: "20261201-172900-3f9a1c" }).args)
        .toEqual(["projen", "retrain", "run", "--model", FIXTURE.models[0], "--json", "--run-id", "20261201-172900-3f9a1c"]);
    });

    it("GIVEN a model value with spaces and shell characters THEN it stays one argument and is never run", () => {
      const { args } = runStep({ MODEL: "x; touch /tmp/pwned $(id)", TESTING: "false" });
      expect(args).toEqual(["projen", "retrain", "run", "--model", "x; touch /tmp/pwned $(id)", "--json"]);
    });

    it("GIVEN the password in the environment THEN the script never prints it", () => {
      const { stdout, stderr } = runStep({ MODEL: FIXTURE.models[0], TESTING: "true" });
      expect(`${stdout}${stderr}`).not.toContain("s3cret-value");
    });
  });
});

describe("addWorkflows with a retraining schedule", () => {
  it("GIVEN a schedule attached but no publisher that admits retrain.yml THEN it refuses", () => {
    const outdir = mkdtempSync(join(tmpdir(), "mlplatform-retrain-refuse-"));
    try {
      const project = new typescript.TypeScriptProject({ name: "x", defaultReleaseBranch: "main", github: true, outdir });
      const service = parseServiceDefinition({ ...FIXTURE_DEFINITION, publishers: [{ roleArn: "arn:aws:iam::505050505059:role/notebooks" }] });
      new Retraining(project, { cron: RETRAINING_CADENCES.monthly, cadence: "monthly", models: FIXTURE.models });
      expect(() => addWorkflows(project, service.project, service.region))
        .toThrow("addRetrainWorkflows: no principal in publishers admits retrain.yml, so it could not assume the publisher role");
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  });
});

describe("MlServiceProject with retraining", () => {
  /** Every file MlServiceProject writes for a definition. */
  function synthProject(def: ServiceDefinition): Record<string, unknown> {
    const outdir = mkdtempSync(join(tmpdir(), "mlplatform-retrain-project-"));
    try {
      return Testing.synth(new MlServiceProject({ ...def, outdir }));
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  }

  it("GIVEN a definition with retraining THEN the project writes retrain.yml, and Pulumi.yaml has no retraining key", () => {
    const files = synthProject(OTHER);
    expect(Object.keys(files)).toContain(`.github/workflows/${RETRAIN_WORKFLOW_FILE}`);
    expect(Object.keys(files)).toContain(`.github/workflows/${APPROVED_WORKFLOW_FILE}`);
    expect(JSON.stringify(files["Pulumi.yaml"])).not.toContain("retraining");
  });

  it("GIVEN pulumiProjectDefinition THEN Pulumi.yaml's document keeps every key of the definition but retraining", () => {
    const withIt = pulumiProjectDocument(OTHER).config as Record<string, unknown>;
    const without = pulumiProjectDocument(pulumiProjectDefinition(OTHER)).config as Record<string, unknown>;
    expect(Object.keys(withIt)).toContain("mlplatform:retraining");
    expect(Object.keys(without).sort()).toEqual(Object.keys(withIt).filter((k) => k !== "mlplatform:retraining").sort());
  });
});

describe("parseServiceDefinition: retraining", () => {
  /** The problem lines of a definition's refusal, without the heading. */
  function problemsOf(def: ServiceDefinition): string[] {
    try {
      parseServiceDefinition(def);
    } catch (error) {
      const [heading, ...lines] = (error as Error).message.split("\n");
      expect(heading).toBe(".projenrc.ts: the service definition is invalid:");
      return lines;
    }
    throw new Error("expected the definition to be refused");
  }
  const retraining = (r: unknown): ServiceDefinition => ({ ...FIXTURE_DEFINITION, retraining: r as ServiceDefinition["retraining"] });

  it("GIVEN no models THEN every model of the service is retrained, in the service's order", () => {
    expect(parseServiceDefinition(MONTHLY).retraining).toEqual({ cron: RETRAINING_CADENCES.monthly, cadence: "monthly", models: FIXTURE.models });
  });

  it("GIVEN some models in another order THEN those are retrained, in the service's order", () => {
    expect(parseServiceDefinition(OTHER).retraining?.models).toEqual(["item-rank", "fraud-risk"]);
  });

  it("GIVEN a cron line with extra spaces THEN it is kept with single spaces", () => {
    expect(parseServiceDefinition(retraining({ cadence: { cron: " 0  2 * * 1 " } })).retraining).toMatchObject({ cron: "0 2 * * 1", cadence: "cron" });
  });

  it("GIVEN no retraining key THEN the parsed service has no schedule", () => {
    expect(parseServiceDefinition(FIXTURE_DEFINITION).retraining).toBeUndefined();
  });

  it("GIVEN a model that is not the service's THEN it is refused naming .projenrc.ts, the key and the service's models", () => {
    expect(problemsOf(retraining({ cadence: "monthly", models: [FIXTURE.models[0], "not-a-model"] })))
      .toEqual([`.projenrc.ts: retraining.models[1]: must be one of the service's models (${FIXTURE.models.join(", ")}), got "not-a-model"`]);
  });

  it("GIVEN a model listed twice THEN it is refused", () => {
    expect(problemsOf(retraining({ cadence: "monthly", models: [FIXTURE.models[0], FIXTURE.models[0]] })))
      .toEqual([`.projenrc.ts: retraining.models[1]: "${FIXTURE.models[0]}" is listed twice`]);
  });

  it("GIVEN an empty model list THEN it is refused, saying to leave it out for every model", () => {
    expect(problemsOf(retraining({ cadence: "monthly", models: [] })))
      .toEqual([".projenrc.ts: retraining.models: must list at least one model (leave it out to retrain every model), got []"]);
  });

  it("GIVEN an unknown cadence THEN it is refused with the cadences and the cron form", () => {
    expect(problemsOf(retraining({ cadence: "weekly" })))
      .toEqual([".projenrc.ts: retraining.cadence: must be \"monthly\", \"quarterly\" or { cron: \"<minute> <hour> <day of month> <month> <day of week>\" }, got \"weekly\""]);
  });

  it("GIVEN no cadence THEN it is refused with what to write", () => {
    expect(problemsOf(retraining({ models: [FIXTURE.models[0]] })))
      .toEqual([".projenrc.ts: retraining.cadence: must be \"monthly\", \"quarterly\" or { cron: \"<minute> <hour> <day of month> <month> <day of week>\" }"]);
  });

  it("GIVEN an unknown key THEN it is refused naming it", () => {
    expect(problemsOf(retraining({ cadence: "monthly", model: "x" }))).toEqual([".projenrc.ts: retraining.model: unknown key (check the spelling)"]);
  });

  it.each([
    ["four fields", "0 3 1 *", "must have five fields (minute hour day-of-month month day-of-week, UTC), got 4 in \"0 3 1 *\""],
    ["an hour out of range", "0 24 1 * *", "the hour field \"24\" must be *, a number from 0 to 23, a range N-M, a list with commas, or any of these with /STEP (in \"0 24 1 * *\")"],
    ["a month name", "0 3 1 JAN *", "the month field \"JAN\" must be *, a number from 1 to 12, a range N-M, a list with commas, or any of these with /STEP (in \"0 3 1 JAN *\")"],
    ["a reversed range", "0 3 20-10 * *", "the day of month field \"20-10\" must be *, a number from 1 to 31, a range N-M, a list with commas, or any of these with /STEP (in \"0 3 20-10 * *\")"],
    ["a step of zero", "0 3 */0 * *", "the day of month field \"*/0\" must be *, a number from 1 to 31, a range N-M, a list with commas, or any of these with /STEP (in \"0 3 */0 * *\")"],
    ["every minute", "* 3 1 * *", "the minute and hour must each be one number: the loop runs at most once a day, got \"* 3\" in \"* 3 1 * *\""],
    ["every six hours", "0 */6 * * *", "the minute and hour must each be one number: the loop runs at most once a day, got \"0 */6\" in \"0 */6 * * *\""],
  ])("GIVEN a cron line with %s THEN it is refused saying what is wrong", (_t, cron, message) => {
    expect(problemsOf(retraining({ cadence: { cron } }))).toEqual([`.projenrc.ts: retraining.cadence.cron: ${message}`]);
  });

  it("GIVEN cron lines with lists, ranges and steps in range THEN they are accepted", () => {
    for (const cron of ["0 0 1,15 */2 1-5", "59 23 31 12 6", "30 2 * 1-12/3 0"]) {
      expect(parseServiceDefinition(retraining({ cadence: { cron } })).retraining?.cron).toBe(cron);
    }
  });

  it("GIVEN publishers that do not admit retrain.yml THEN it is refused saying which publisher to add", () => {
    const def: ServiceDefinition = { ...MONTHLY, publishers: [{ github: { environment: "registry-publish", workflow: "train.yml" } }, { roleArn: "arn:aws:iam::505050505059:role/x" }] };
    expect(problemsOf(def)).toEqual([".projenrc.ts: retraining: retrain.yml runs the loop as the registry's publisher role, but no principal in publishers admits it; "
      + `add { github: { environment: "registry-publish", workflow: "retrain.yml" } } to publishers (a GitHub principal of ${FIXTURE.repository} with an `
      + "environment or a branch, and no other workflow)"]);
  });

  it("GIVEN a publisher of another repository only THEN retrain.yml has no publisher either", () => {
    const def: ServiceDefinition = { ...MONTHLY, publishers: [{ github: { repository: "acme-test-org/other", environment: "registry-publish" } }] };
    expect(retrainPublisher(parseServiceDefinition({ ...def, retraining: undefined }).project)).toBeUndefined();
    expect(problemsOf(def)).toEqual([expect.stringMatching(/^\.projenrc\.ts: retraining: retrain\.yml runs the loop as the registry's publisher role/)]);
  });

  it("GIVEN a CI principal that is an IAM role THEN retraining needs no GitHub publisher (no workflows are written)", () => {
    const def: ServiceDefinition = {
      ...MONTHLY,
      ciPrincipal: { type: "iam-role", roleArn: "arn:aws:iam::505050505059:role/ci" },
      publishers: [{ roleArn: "arn:aws:iam::505050505059:role/pipeline" }],
      approvers: [{ roleArn: "arn:aws:iam::505050505059:role/approver" }],
    };
    expect(parseServiceDefinition(def).retraining?.cadence).toBe("monthly");
  });

  it("GIVEN problems in the project config and in retraining THEN one refusal names them all", () => {
    const lines = problemsOf({ ...FIXTURE_DEFINITION, region: "europe", retraining: { cadence: "monthly", models: ["nope"] } });
    expect(lines.map((l) => l.split(":")[1].trim()).sort()).toEqual(["region", "retraining.models[0]"]);
  });
});
