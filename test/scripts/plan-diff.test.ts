import { execFileSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseDocument, type Document } from "yaml";
import { main } from "../../scripts/plan/cli";
import { diffPlans, type ResourceChange, type StackDiff } from "../../scripts/plan/diff";
import { planStack } from "../../scripts/plan/engine";
import { endpointPath, REPO_ROOT, STAGES } from "../support/stack-files";

/** `plan diff`: against a git revision of the stack files, and between two stacks (promotion review). */

interface Run {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

async function plan(...argv: string[]): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (l) => out.push(l), err: (l) => err.push(l) }, REPO_ROOT);
  return { code, out: out.join("\n"), err: err.join("\n") };
}

const diffsOf = (run: Run) => (JSON.parse(run.out) as { diffs: StackDiff[] }).diffs;
const summary = (changes: readonly ResourceChange[]) => changes.map((c) => [c.op, c.type, c.name, c.op === "replace" ? c.causes : c.properties]);

/** A git repository holding a copy of the project's Pulumi files, committed once. */
let repo: string;

function git(...args: string[]): string {
  return execFileSync("git", ["-C", repo, "-c", "user.name=plan-test", "-c", "user.email=plan@test", "-c", "commit.gpgsign=false", ...args],
    { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

function edit(file: string, fn: (doc: Document) => void): void {
  const doc = parseDocument(readFileSync(join(repo, file), "utf8"));
  fn(doc);
  writeFileSync(join(repo, file), doc.toString());
}

beforeEach(() => {
  repo = mkdtempSync(join(tmpdir(), "plan-diff-"));
  for (const file of ["Pulumi.yaml", ...STAGES.map((s) => `Pulumi.${s}.yaml`)]) copyFileSync(join(REPO_ROOT, file), join(repo, file));
  git("init", "-q");
  git("add", ".");
  git("commit", "-q", "-m", "stack files as shipped");
});
afterEach(() => rmSync(repo, { recursive: true, force: true }));

describe("plan diff --against <revision>", () => {
  it("GIVEN one model version bumped in prod WHEN diffed against HEAD THEN exactly its Model and EndpointConfiguration are replaced and its Endpoint updated", async () => {
    edit("Pulumi.prod.yaml", (d) => d.setIn(endpointPath("fraud-scorer", "source", "modelPackageArn"),
      "arn:aws:sagemaker:eu-west-1:111111111111:model-package/fraud-detection-fraud-scorer/7"));
    const run = await plan("diff", "--against", "HEAD", "--stack", "prod", "--json", "--dir", repo);
    expect(run.code).toBe(0);
    const [diff] = diffsOf(run);
    expect(summary(diff.changes)).toEqual([
      ["replace", "aws:sagemaker/model:Model", "fraud-detection-fraud-scorer-model", ["primaryContainer.modelPackageName"]],
      ["replace", "aws:sagemaker/endpointConfiguration:EndpointConfiguration", "fraud-detection-fraud-scorer-config", ["productionVariants[0].modelName"]],
      ["update", "aws:sagemaker/endpoint:Endpoint", "fraud-detection-fraud-scorer-endpoint", ["endpointConfigName"]],
    ]);
    const [model, config, endpoint] = diff.changes;
    expect(model.physicalName.after).not.toBe(model.physicalName.before);
    expect(endpoint.physicalName).toEqual({ before: "fraud-detection-fraud-scorer", after: "fraud-detection-fraud-scorer" });
    expect(config.physicalName.after).toMatch(/^fraud-detection-fraud-scorer-config-[0-9a-f]{7}$/);
    expect(diff.endpoints).toEqual([{
      endpoint: "fraud-scorer",
      model: { before: "model-package fraud-detection-fraud-scorer/6", after: "model-package fraud-detection-fraud-scorer/7" },
      settings: [],
    }]);
    expect(diff.findings).toEqual([]);
  });

  it("GIVEN a rollback alarm added to prod's list WHEN diffed THEN the Endpoint is REPLACED delete-first and that is an error naming the alarm key", async () => {
    edit("Pulumi.prod.yaml", (d) => d.setIn(endpointPath("fraud-scorer", "alarms", "additionalRollbackAlarmNames"), d.createNode(["fraud-scorer-slo"])));
    const run = await plan("diff", "--against", "HEAD", "--stack", "prod", "--json", "--dir", repo);
    expect(run.code).toBe(1);
    const [diff] = diffsOf(run);
    const endpoint = diff.changes.find((c) => c.type === "aws:sagemaker/endpoint:Endpoint");
    expect(endpoint).toMatchObject({ op: "replace", deleteFirst: true, causes: ["deploymentConfig.autoRollbackConfiguration.alarms[2]"] });
    expect(diff.changes.filter((c) => c !== endpoint)).toEqual([]);
    expect(diff.findings).toEqual([expect.objectContaining({
      severity: "error",
      check: "replacement",
      stack: "prod",
      resource: "fraud-detection-fraud-scorer-endpoint",
      configKey: "mlplatform:endpoints.fraud-scorer.alarms.additionalRollbackAlarmNames",
    })]);
    expect(diff.findings[0].message).toContain("REPLACE sagemaker:Endpoint fraud-detection-fraud-scorer, caused by deploymentConfig.autoRollbackConfiguration");
  });

  it("GIVEN qa moved to another account WHEN diffed THEN replacing its bucket (named after the account) is an error", async () => {
    edit("Pulumi.yaml", (d) => d.setIn(["config", "mlplatform:stages", "value", 1, "accountId"], "444444444444"));
    edit("Pulumi.qa.yaml", (d) => d.setIn(["config", "aws:allowedAccountIds"], d.createNode(["444444444444"])));
    const run = await plan("diff", "--against", "HEAD", "--stack", "qa", "--json", "--dir", repo);
    expect(run.code).toBe(1);
    const [diff] = diffsOf(run);
    const buckets = diff.changes.filter((c) => c.type === "aws:s3/bucket:Bucket");
    expect(buckets).toEqual([expect.objectContaining({
      op: "replace",
      causes: ["bucket"],
      physicalName: { before: "fraud-detection-qa-222222222222-eu-west-1", after: "fraud-detection-qa-444444444444-eu-west-1" },
    })]);
    expect(diff.findings.filter((f) => f.check === "replacement").map((f) => f.resource)).toContain("fraud-detection-qa-bucket-bucket");
  });

  it("GIVEN an endpoint removed from qa's stack file WHEN diffed THEN deleting it is a warning that its clients will fail", async () => {
    edit("Pulumi.qa.yaml", (d) => d.deleteIn(endpointPath("txn-embedder")));
    const run = await plan("diff", "--against", "HEAD", "--stack", "qa", "--json", "--dir", repo);
    expect(run.code).toBe(0);
    const [diff] = diffsOf(run);
    expect(diff.changes.every((c) => c.op === "delete" && c.name.startsWith("fraud-detection-txn-embedder"))).toBe(true);
    expect(diff.findings.map((f) => [f.check, f.severity, f.resource, f.message])).toEqual([[
      "replacement-hazard", "warning", "fraud-detection-txn-embedder-endpoint",
      "DELETE sagemaker:Endpoint fraud-detection-txn-embedder: clients calling it will fail",
    ]]);
  });

  it("GIVEN a stack file that did not exist at the revision WHEN diffed THEN every resource is a create, with a note", async () => {
    git("rm", "-q", "--cached", "Pulumi.qa.yaml");
    git("commit", "-q", "-m", "qa not yet tracked");
    const run = await plan("diff", "--against", "HEAD", "--stack", "qa", "--json", "--dir", repo);
    const [diff] = diffsOf(run);
    expect(diff.changes.length).toBeGreaterThan(20);
    expect(diff.changes.every((c) => c.op === "create")).toBe(true);
    expect(diff.notes).toContain("Pulumi.qa.yaml did not exist at HEAD: every resource is new");
  });

  it("GIVEN the same change WHEN printed for people THEN each operation shows the properties that caused it", async () => {
    edit("Pulumi.prod.yaml", (d) => d.setIn(endpointPath("fraud-scorer", "instanceType"), "ml.c5.4xlarge"));
    const run = await plan("diff", "--against", "HEAD", "--stack", "prod", "--dir", repo);
    expect(run.out).toContain("0 create, 1 update, 1 replace, 0 delete");
    expect(run.out).toMatch(
      /REPLACE\s+sagemaker:EndpointConfiguration\s+fraud-detection-fraud-scorer-config\s+\S+ -> \S+\s+productionVariants\[0\]\.instanceType/);
    expect(run.out).toContain("instanceType: \"ml.c5.2xlarge\" -> \"ml.c5.4xlarge\"");
  });

  it("GIVEN a revision git does not know WHEN diffed THEN the error names --against and the exit status is 2", async () => {
    const run = await plan("diff", "--against", "no-such-branch", "--dir", repo);
    expect(run.code).toBe(2);
    expect(run.err).toBe("plan: --against: unknown git revision \"no-such-branch\" (try a branch, a tag, a commit or HEAD~1) (see plan --help)");
  });

  it("GIVEN a directory outside any git repository WHEN diffed against a revision THEN it says so and exits 1", async () => {
    rmSync(join(repo, ".git"), { recursive: true, force: true });
    process.env.GIT_CEILING_DIRECTORIES = tmpdir();
    try {
      const run = await plan("diff", "--against", "HEAD", "--stack", "qa", "--dir", repo);
      expect(run).toEqual({ code: 1, out: "", err: `plan: --against needs a git repository, and ${repo} is not in one` });
    } finally {
      delete process.env.GIT_CEILING_DIRECTORIES;
    }
  });
});

describe("plan diff --from <stage> --to <stage>", () => {
  it("GIVEN sandbox and qa WHEN compared THEN the model versions and the per-stage settings that differ are listed", async () => {
    const run = await plan("diff", "--from", "sandbox", "--to", "qa", "--json");
    expect(run.code).toBe(0);
    const [diff] = diffsOf(run);
    expect(diff).toMatchObject({ mode: "promotion", before: { stack: "sandbox", account: "111111111111" }, after: { stack: "qa", account: "222222222222" } });
    const scorer = diff.endpoints.find((e) => e.endpoint === "fraud-scorer");
    expect(scorer?.model).toEqual({ before: "model-package fraud-detection-fraud-scorer/7", after: "model-package fraud-detection-fraud-scorer/6" });
    expect(scorer?.settings).toEqual(expect.arrayContaining([
      { setting: "instanceType", before: "ml.m5.large", after: "ml.m5.xlarge" },
      { setting: "instanceCount", before: 1, after: 2 },
      { setting: "deployment.strategy", before: "all-at-once", after: "linear" },
    ]));
    const embedder = diff.endpoints.find((e) => e.endpoint === "txn-embedder");
    expect(embedder?.model.before).toContain("triton-24.09-txn-embedder-v3");
    expect(embedder?.model.after).toContain("triton-24.09-txn-embedder-v2");
  });

  it("GIVEN qa and prod serving the same versions WHEN compared THEN no Model differs once qa is translated to prod's account", async () => {
    const [diff] = diffsOf(await plan("diff", "--from", "qa", "--to", "prod", "--json"));
    expect(diff.changes.filter((c) => c.type === "aws:sagemaker/model:Model")).toEqual([]);
    expect(diff.changes.filter((c) => c.type === "aws:sagemaker/endpointConfiguration:EndpointConfiguration").map((c) => c.op)).toEqual(["replace", "replace"]);
    expect(diff.changes.filter((c) => c.type.startsWith("aws:iam/"))).toEqual([]);
    expect(diff.endpoints.map((e) => [e.endpoint, e.model.before === e.model.after])).toEqual([["fraud-scorer", true], ["txn-embedder", true]]);
    expect(diff.stackSettings).toContainEqual({ setting: "noncurrentVersionExpirationDays", before: 90, after: 365 });
  });

  it("GIVEN prod's endpoint with an extra rollback alarm WHEN compared with qa THEN copying that setting across is a warning that it replaces the live endpoint", async () => {
    edit("Pulumi.prod.yaml", (d) => d.setIn(endpointPath("fraud-scorer", "alarms", "additionalRollbackAlarmNames"), d.createNode(["fraud-scorer-slo"])));
    const run = await plan("diff", "--from", "qa", "--to", "prod", "--json", "--dir", repo);
    expect(run.code).toBe(0);
    const [diff] = diffsOf(run);
    expect(diff.findings.filter((f) => f.check === "replacement-hazard").map((f) => [f.severity, f.resource, f.configKey])).toEqual([
      ["warning", "fraud-detection-fraud-scorer-endpoint", "mlplatform:endpoints.fraud-scorer.alarms.additionalRollbackAlarmNames"],
    ]);
    expect(diff.findings.find((f) => f.check === "replacement-hazard")?.message).toContain("would replace the live endpoint");
  });

  it.each([
    [["--from", "qa"], "plan: --to needs a stack name (sandbox, qa, prod) (see plan --help)"],
    [["--from", "qa", "--to", "qa"], "plan: --from and --to name the same stack \"qa\" (see plan --help)"],
    [["--from", "qa", "--to", "staging"], "plan: --to: unknown stack \"staging\"; the stacks are sandbox, qa, prod (mlplatform:stages in Pulumi.yaml) (see plan --help)"],
    [["--from", "qa", "--to", "prod", "--stack", "qa"], "plan: --stack does not go with --from/--to: the two stacks are the ones compared (see plan --help)"],
    [["--against", "HEAD", "--from", "qa"], "plan: use either --against <rev> or --from <stage> --to <stage>, not both (see plan --help)"],
    [[], "plan: plan diff needs --against <git-revision>, or --from <stage> and --to <stage> (see plan --help)"],
  ])("GIVEN diff %j WHEN run THEN it exits 2 with %s", async (args, message) => {
    const run = await plan("diff", ...args);
    expect(run).toEqual({ code: 2, out: "", err: message });
  });
});

describe("diffPlans", () => {
  it("GIVEN an explicitly named IAM role whose path changes WHEN diffed THEN its delete-first replacement is a warning", async () => {
    const before = await planStack(REPO_ROOT, "qa");
    const role = before.resources.find((r) => r.type === "aws:iam/role:Role" && r.name.endsWith("-execution-role"));
    expect(role?.autoNamed).toBe(false);
    const after = { ...before, resources: before.resources.map((r) => (r === role ? { ...r, inputs: { ...r.inputs, path: "/ml/" } } : r)) };
    const diff = diffPlans(before, after, { mode: "revision", beforeLabel: "a", afterLabel: "b" });
    expect(diff.changes.map((c) => [c.op, c.name, c.deleteFirst, c.causes])).toEqual([["replace", role?.name, true, ["path"]]]);
    expect(diff.findings.map((f) => [f.check, f.severity, f.resource])).toEqual([["replacement-hazard", "warning", role?.name]]);
    expect(diff.findings[0].message).toContain("delete-first (its explicit name cannot exist twice), caused by path");
  });

  it("GIVEN a KMS key whose key spec changes WHEN diffed THEN replacing it is an error", async () => {
    const before = await planStack(REPO_ROOT, "qa");
    const after = {
      ...before,
      resources: before.resources.map((r) => (r.type === "aws:kms/key:Key" ? { ...r, inputs: { ...r.inputs, customerMasterKeySpec: "RSA_2048" } } : r)),
    };
    const diff = diffPlans(before, after, { mode: "revision", beforeLabel: "a", afterLabel: "b" });
    expect(summary(diff.changes)).toEqual([["replace", "aws:kms/key:Key", "fraud-detection-qa-key-key", ["customerMasterKeySpec"]]]);
    expect(diff.findings.map((f) => [f.check, f.severity, f.resource])).toEqual([["replacement", "error", "fraud-detection-qa-key-key"]]);
  });
});
