import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Project, Testing } from "projen";
import type { Document } from "yaml";
import { addPlanTasks, PLAN_BOOTSTRAP, PLAN_BUNDLE_ARGS, PLAN_DIR, PLAN_LAUNCHER } from "../../projen/plan-tasks";
import { HELP, main } from "../../scripts/plan/cli";
import { withoutRuntimeDebugging } from "../../scripts/plan/engine";
import { FIXTURE_ROOT } from "../fixtures/project";
import { copyProject, endpointPath, REPO_ROOT } from "../support/stack-files";

/** The `plan` command line, on the fixture project (test/fixtures/project): output formats, exit statuses and mistakes in how it is called. */

interface Run {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

async function plan(argv: string[], cwd = FIXTURE_ROOT): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (l) => out.push(l), err: (l) => err.push(l) }, cwd);
  return { code, out: out.join("\n"), err: err.join("\n") };
}

interface JsonResource {
  urn: string;
  type: string;
  name: string;
  parent: string | null;
  physicalName: string | null;
  autoNamed: boolean;
  id: string | null;
  inputs: Record<string, any>;
}

interface JsonPlan {
  stacks: {
    stack: string;
    account: string;
    region: string;
    resources: JsonResource[];
    findings: { severity: string; urn: string; configKey: string | null; message: string }[];
    estimates: {
      monthlyCostUsd: number;
      endpoints: { endpointName: string; rolloutMinutes: number; deployCostUsd: number | null; monthlyCostUsd: number | null }[];
      assumptions: { provisioningMinutes: Record<string, number>; prices: { source: string; date: string; region: string } };
    };
  }[];
}

let prod: JsonPlan["stacks"][number];

beforeAll(async () => {
  const run = await plan(["--stack", "prod", "--json"]);
  expect(run.code).toBe(0);
  const doc = JSON.parse(run.out) as JsonPlan;
  expect(doc.stacks.map((s) => s.stack)).toEqual(["prod"]);
  prod = doc.stacks[0];
});

const ofType = (type: string) => prod.resources.filter((r) => r.type === type);

describe("plan --json", () => {
  it("GIVEN prod WHEN planned THEN the document names its account and region", () => {
    expect(prod).toMatchObject({ stack: "prod", account: "404040404043", region: "ap-southeast-4" });
  });

  it("GIVEN the auto-named Models and EndpointConfigurations WHEN planned THEN each future name is the logical name, '-' and 7 hex digits", () => {
    for (const r of [...ofType("aws:sagemaker/model:Model"), ...ofType("aws:sagemaker/endpointConfiguration:EndpointConfiguration")]) {
      expect(r.autoNamed).toBe(true);
      expect(r.physicalName).toMatch(new RegExp(`^${r.name}-[0-9a-f]{7}$`));
      expect(r.inputs.name).toBeUndefined();
    }
  });

  it("GIVEN a model's future name WHEN planned THEN it flows into its EndpointConfiguration, whose name flows into the Endpoint", () => {
    const model = ofType("aws:sagemaker/model:Model").find((r) => r.name.includes("churn-scorer"))!;
    const config = ofType("aws:sagemaker/endpointConfiguration:EndpointConfiguration").find((r) => r.name.includes("churn-scorer"))!;
    const endpoint = ofType("aws:sagemaker/endpoint:Endpoint").find((r) => r.name.includes("churn-scorer"))!;
    expect(config.inputs.productionVariants[0].modelName).toBe(model.physicalName);
    expect(endpoint.inputs.endpointConfigName).toBe(config.physicalName);
    expect(endpoint).toMatchObject({ physicalName: "churn-predictor-churn-scorer", autoNamed: false, id: "churn-predictor-churn-scorer" });
    expect(endpoint.parent).toBe(prod.resources.find((r) => r.type === "mlplatform:sagemaker:BlueGreenEndpoint" && r.name === "churn-predictor-churn-scorer")?.urn);
  });

  it("GIVEN the KMS key WHEN planned THEN its id is a UUID and its ARN, in the stage's account and region, reaches the alias and the bucket encryption", () => {
    const [key] = ofType("aws:kms/key:Key");
    expect(key.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-8[0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(ofType("aws:kms/alias:Alias")[0].inputs.targetKeyId).toBe(key.id);
    const sse = ofType("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")[0];
    expect(sse.inputs.rules[0].applyServerSideEncryptionByDefault.kmsMasterKeyId).toBe(`arn:aws:kms:ap-southeast-4:404040404043:key/${key.id}`);
  });

  it("GIVEN the endpoints WHEN planned THEN rollout time and deployment cost follow the guardrails and the price table", () => {
    const scorer = prod.estimates.endpoints.find((e) => e.endpointName === "churn-predictor-churn-scorer");
    // Canary: 10 min provisioning (CPU) + 2 x 600 s baking + 600 s termination wait = 40 min; 3 extra ml.c5.2xlarge at $0.408 for 40 min.
    expect(scorer).toMatchObject({ rolloutMinutes: 40, deployCostUsd: 0.82 });
    // 3 x 0.408 x 730 + 2 x 1.515 x 730
    expect(prod.estimates.monthlyCostUsd).toBe(3105.42);
    expect(prod.estimates.assumptions).toMatchObject({ provisioningMinutes: { cpu: 10, accelerated: 15 }, prices: { region: "us-east-1", date: "2026-11-22" } });
  });

  it("GIVEN a stack in ap-southeast-4 WHEN estimated THEN the us-east-1 price table applies unchanged, and the estimates say which region it is for", () => {
    expect(prod.region).toBe("ap-southeast-4");
    expect(prod.estimates.assumptions.prices.region).toBe("us-east-1");
    // ml.g5.2xlarge at the table's $1.515: 2 x 1.515 x 730 = 2211.90, with no regional factor.
    expect(prod.estimates.endpoints.find((e) => e.endpointName === "churn-predictor-doc-embedder")).toMatchObject({ monthlyCostUsd: 2211.9 });
  });

  it("GIVEN every finding WHEN planned THEN it names the stack's resource by URN", () => {
    const urns = new Set(prod.resources.map((r) => r.urn));
    expect(prod.findings.length).toBeGreaterThan(0);
    for (const f of prod.findings) expect(urns.has(f.urn)).toBe(true);
  });
});

describe("plan (human output)", () => {
  it("GIVEN qa WHEN planned THEN a table shows type, logical and physical names, account/region and settings, then estimates", async () => {
    const run = await plan(["--stack", "qa"]);
    expect(run.code).toBe(0);
    expect(run.out).toContain("Stack qa (Pulumi.qa.yaml): account 404040404042, region ap-southeast-4");
    expect(run.out).toMatch(/TYPE\s+NAME\s+PHYSICAL NAME\s+ACCOUNT\/REGION\s+SETTINGS/);
    expect(run.out).toMatch(new RegExp("sagemaker:EndpointConfiguration\\s+churn-predictor-churn-scorer-config\\s+"
      + "churn-predictor-churn-scorer-config-[0-9a-f]{7} \\(auto\\)\\s+404040404042/ap-southeast-4\\s+primary: ml\\.m5\\.xlarge x2"));
    expect(run.out).toMatch(
      /sagemaker:Endpoint\s+churn-predictor-churn-scorer-endpoint\s+churn-predictor-churn-scorer\s+\S+\s+linear 50%, wait 300s, terminate after 300s/);
    expect(run.out).toMatch(/iam:Role\s+churn-predictor-qa-execution-role\s+churn-predictor-qa-sagemaker-execution\s+404040404042\/global/);
    expect(run.out).toContain("provisioning assumed 10 min (CPU) / 15 min (GPU/accelerator)");
    expect(run.out).toContain("on-demand prices for us-east-1 dated 2026-11-22.");
    expect(run.out).toMatch(/churn-predictor-churn-scorer\s+ml\.m5\.xlarge x2\s+linear\s+25 min/);
  });

  it("GIVEN a stack with an error finding WHEN planned THEN it is printed and the exit status is 1", async () => {
    const copy = copyProject("qa", { stack: (d: Document) => d.setIn(endpointPath("churn-scorer", "instanceType"), "ml.m5.huge") });
    try {
      const run = await plan(["--stack", "all", "--dir", copy.dir]);
      expect(run.code).toBe(1);
      expect(run.out).toContain("ERROR [instance-type] churn-predictor-churn-scorer (mlplatform:endpoints.churn-scorer.instanceType)");
      expect(run.out).toContain("Stack prod (Pulumi.prod.yaml)");
    } finally {
      copy.cleanup();
    }
  });
});

describe("mistakes in how plan is called", () => {
  it("GIVEN --help WHEN run THEN it prints the usage and exits 0", async () => {
    expect(await plan(["--help"])).toEqual({ code: 0, out: HELP, err: "" });
    expect((await plan(["diff", "--help"])).out).toBe(HELP);
  });

  it.each([
    [["--stack", "staging"], "plan: --stack: unknown stack \"staging\"; the stacks are registry, sandbox, qa, prod (the registry, then mlplatform:stages in Pulumi.yaml) (see plan --help)"],
    [["--stack", ""], "plan: --stack needs a stack name (registry, sandbox, qa, prod) (see plan --help)"],
    [["--stakc", "qa"], "plan: Unknown option '--stakc' (see plan --help)"],
    [["qa"], "plan: Unexpected argument 'qa' (see plan --help)"],
  ])("GIVEN %j WHEN run THEN it exits 2 with %s", async (argv, message) => {
    expect(await plan(argv)).toEqual({ code: 2, out: "", err: message });
  });

  it("GIVEN a directory without Pulumi.yaml WHEN planned THEN it names the file and the directory and exits 1", async () => {
    const run = await plan(["--dir", "/nonexistent"]);
    expect(run).toEqual({ code: 1, out: "", err: "plan: Pulumi.yaml: (file): cannot be read from /nonexistent: is it the project directory?" });
  });
});

describe("the plan's runtime debugging switch", () => {
  // The real module object, as the engine swaps its helper (an ES namespace copy would not see the swap).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const debuggable = require("@pulumi/pulumi/runtime/debuggable") as { debuggablePromise(p: Promise<unknown>, ctx: string): Promise<unknown> };
  const original = debuggable.debuggablePromise;

  it("GIVEN the program runs WHEN inside the switch THEN Pulumi's promises are left unwrapped and traces are empty; after it, all is restored", async () => {
    const promise = Promise.resolve(1);
    const inside = await withoutRuntimeDebugging(async () => ({
      same: debuggable.debuggablePromise(promise, "test") === promise,
      limit: Error.stackTraceLimit,
      stack: new Error("x").stack,
    }));
    expect(inside).toEqual({ same: true, limit: 0, stack: "" });
    expect(debuggable.debuggablePromise).toBe(original);
    expect(debuggable.debuggablePromise(promise, "test")).not.toBe(promise);
    expect(Error.stackTraceLimit).toBeGreaterThan(0);
  });

  it("GIVEN the program throws WHEN inside the switch THEN the error comes through and all is restored", async () => {
    await expect(withoutRuntimeDebugging(() => Promise.reject(new Error("program failed")))).rejects.toThrow("program failed");
    expect(debuggable.debuggablePromise).toBe(original);
    expect(new Error("x").stack).toContain("x");
  });

  it("GIVEN MLPLATFORM_PLAN_STACK_TRACES=1 WHEN inside the switch THEN nothing is changed", async () => {
    process.env.MLPLATFORM_PLAN_STACK_TRACES = "1";
    try {
      const same = await withoutRuntimeDebugging(async () => debuggable.debuggablePromise === original && Error.stackTraceLimit > 0);
      expect(same).toBe(true);
    } finally {
      delete process.env.MLPLATFORM_PLAN_STACK_TRACES;
    }
  });
});

describe("the projen tasks", () => {
  it("GIVEN a project WHEN the plan tasks are added THEN plan and plan:diff build a missing launcher, then run it with the caller's arguments intact", () => {
    // An explicit outdir: in a test run under the temp dir (as CI clones are) projen would use the cwd.
    const outdir = mkdtempSync(join(tmpdir(), "plan-tasks-"));
    const project = new Project({ name: "plan-tasks", outdir });
    addPlanTasks(project);
    const tasks = Testing.synth(project)[".projen/tasks.json"].tasks;
    // The launcher builds the bundle itself; the task only builds the launcher when it is missing.
    const bootstrap = { exec: PLAN_BOOTSTRAP };
    const launcher = PLAN_LAUNCHER.replace(/\./g, "\\.");
    expect(PLAN_BOOTSTRAP).toMatch(new RegExp(`^test -f ${launcher} \\|\\| esbuild scripts/plan/launch\\.ts --bundle .* --outfile=${launcher}$`));
    expect(tasks.plan.description).toContain("Offline plan");
    expect(tasks.plan.steps).toEqual([bootstrap, { execArgs: ["node", PLAN_LAUNCHER], receiveArgs: true }]);
    expect(tasks["plan:diff"].steps).toEqual([bootstrap, { execArgs: ["node", PLAN_LAUNCHER, "diff"], receiveArgs: true }]);
    expect(tasks["bench:plan"].steps).toEqual([{ execArgs: ["ts-node", "--transpile-only", "scripts/bench/plan-bench.ts"], receiveArgs: true }]);
    expect(PLAN_BUNDLE_ARGS).toEqual(expect.arrayContaining([
      "scripts/plan.ts", "scripts/plan/launch.ts", "--bundle", "--external:@pulumi/*", `--outdir=${PLAN_DIR}`,
    ]));
    rmSync(outdir, { recursive: true, force: true });
  });
});

describe("the plan bundle", () => {
  it("GIVEN the bundle and launcher the plan task builds WHEN run as plain node THEN they plan every stack, the same with and without the code cache", () => {
    // Inside the project, so the bundle's external packages (Pulumi) resolve from its node_modules.
    mkdirSync(join(REPO_ROOT, "node_modules", ".cache"), { recursive: true });
    const out = mkdtempSync(join(REPO_ROOT, "node_modules", ".cache", "plan-bundle-test-"));
    try {
      const args = PLAN_BUNDLE_ARGS.map((a) => (a.startsWith("--outdir=") ? `--outdir=${out}` : a));
      execFileSync(join(REPO_ROOT, "node_modules", ".bin", "esbuild"), args, { cwd: REPO_ROOT, stdio: "pipe" });
      const runPlan = (script: string) => {
        // All stacks: about 170 kB of JSON, more than a pipe holds, so an exit before stdout drains would truncate it.
        const child = spawnSync(process.execPath, [join(out, script), "--json", "--dir", FIXTURE_ROOT], {
          cwd: REPO_ROOT, encoding: "utf8", env: { ...process.env, MLPLATFORM_PLAN_CACHE: "report" },
        });
        return { code: child.status, json: child.stdout, cache: /code cache (\w+)/.exec(child.stderr)?.[1] };
      };
      const first = runPlan("launch.js");
      const second = runPlan("launch.js");
      const direct = runPlan("plan.js");
      expect([first.code, first.cache, second.code, second.cache, direct.code]).toEqual([0, "miss", 0, "hit", 0]);
      const json = JSON.parse(second.json) as { stacks: { stack: string; account: string; resources: unknown[] }[] };
      // The registry's stack first, in the registry stage's account (sandbox's), then the stages.
      expect(json.stacks.map((s) => [s.stack, s.account]))
        .toEqual([["registry", "404040404041"], ["sandbox", "404040404041"], ["qa", "404040404042"], ["prod", "404040404043"]]);
      for (const stack of json.stacks) expect([stack.stack, stack.resources.length > 20]).toEqual([stack.stack, true]);
      expect(second.json.length).toBeGreaterThan(128 * 1024);
      expect(second.json).toBe(first.json);
      expect(direct.json).toBe(first.json);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
