import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DescribeModelPackageCommand, SageMakerClient, SageMakerServiceException } from "@aws-sdk/client-sagemaker";
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts";
import { mockClient } from "aws-sdk-client-mock";
import { Testing, Project } from "projen";
import { isScalar, parse, parseDocument } from "yaml";
import { roleArn, stageNames } from "../../components/names";
import { addScriptTasks } from "../../projen/script-tasks";
import { main, type PromoteDeps } from "../../scripts/promote";
import { offlinePlanDiff } from "../../scripts/promote/plan-diff";
import { readProjectConfig } from "../../stacks/config/files";
import { accountOfStage } from "../../stacks/config/schema";

const REPO_ROOT = join(__dirname, "..", "..");
const FILES = ["Pulumi.yaml", "Pulumi.sandbox.yaml", "Pulumi.qa.yaml", "Pulumi.prod.yaml"];
const ENDPOINTS = ["config", "mlplatform:endpoints"];

const sm = mockClient(SageMakerClient);
const sts = mockClient(STSClient);

let dir: string;
let registryAccountId: string;

beforeEach(() => {
  sm.reset();
  sts.reset();
  dir = mkdtempSync(join(tmpdir(), "promote-"));
  for (const file of FILES) copyFileSync(join(REPO_ROOT, file), join(dir, file));
  const { project } = readProjectConfig(dir);
  registryAccountId = accountOfStage(project, project.registryStage)!;
  sts.on(GetCallerIdentityCommand).resolves({ Account: registryAccountId, Arn: `arn:aws:sts::${registryAccountId}:assumed-role/dev/alice` });
  sm.on(DescribeModelPackageCommand).resolves({ ModelApprovalStatus: "Approved", ModelPackageStatus: "Completed" });
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const read = (stage: string) => readFileSync(join(dir, `Pulumi.${stage}.yaml`), "utf8");
const write = (stage: string, text: string) => writeFileSync(join(dir, `Pulumi.${stage}.yaml`), text);
const endpointsOf = (text: string) => (parse(text) as { config: Record<string, Record<string, any>> }).config["mlplatform:endpoints"];

/** Edits a stack file in the temporary project through the yaml Document API. */
function edit(stage: string, path: string[], value: unknown) {
  const doc = parseDocument(read(stage));
  doc.setIn([...ENDPOINTS, ...path], value);
  write(stage, doc.toString());
}

async function promote(argv: string[], deps: PromoteDeps = {}) {
  const out: string[] = [];
  const err: string[] = [];
  // The offline plan diff runs the whole program twice; tests that are not about it leave it out.
  const code = await main(argv, {
    cwd: dir, io: { out: (l) => out.push(l), err: (l) => err.push(l) }, sleep: async () => {}, planDiff: async () => undefined, ...deps,
  });
  return { code, out, err, stdout: out.join("\n") };
}

const throttled = () => new SageMakerServiceException({
  name: "ThrottlingException", message: "Rate exceeded", $fault: "client", $metadata: { httpStatusCode: 400 },
});
const describedArns = () => sm.commandCalls(DescribeModelPackageCommand).map((c) => c.args[0].input.ModelPackageName);
/** A failure is one line naming the tool, never a stack trace. */
function expectOneLineFailure(err: readonly string[]) {
  expect(err.length).toBeGreaterThan(0);
  for (const line of err) {
    expect(line).toMatch(/^promote: /);
    expect(line).not.toMatch(/\n|\s+at .+\(.+:\d+:\d+\)/);
  }
}
/** No temporary files are left next to the stack files. */
const leftovers = () => readdirSync(dir).filter((f) => !FILES.includes(f));

describe("promote: what moves", () => {
  it("GIVEN sandbox ahead of qa WHEN promoted THEN qa gets sandbox's model package version, image and model data", async () => {
    const sandbox = endpointsOf(read("sandbox"));
    const { code } = await promote(["--from", "sandbox", "--to", "qa"]);
    expect(code).toBe(0);
    const qa = endpointsOf(read("qa"));
    expect(qa["fraud-scorer"].source.modelPackageArn).toBe(sandbox["fraud-scorer"].source.modelPackageArn);
    expect(qa["txn-embedder"].source.image).toBe(sandbox["txn-embedder"].source.image);
    expect(qa["txn-embedder"].source.modelDataUrl).toBe(sandbox["txn-embedder"].source.modelDataUrl);
    expect(leftovers()).toEqual([]);
  });

  it("GIVEN a promotion THEN only the promoted lines differ: comments, key order and every other line are byte-identical", async () => {
    const before = read("qa").split("\n");
    await promote(["--from", "sandbox", "--to", "qa"]);
    const after = read("qa").split("\n");
    expect(after).toHaveLength(before.length);
    const changed = after.map((line, i) => (line === before[i] ? undefined : i)).filter((i) => i !== undefined);
    expect(changed.map((i) => after[i!].trim().split(":")[0])).toEqual(["modelPackageArn", "image", "modelDataUrl"]);
    const unchanged = (lines: string[]) => lines.filter((_, i) => !changed.includes(i));
    expect(unchanged(after)).toEqual(unchanged(before));
    expect(after[0]).toBe("# QA stage: integration and load tests against production-like instances. Linear traffic");
  });

  it("GIVEN a promotion THEN per-stage values (accounts, instances, strategies, alarms, tags, environment) never move", async () => {
    const qaBefore = parse(read("qa")) as { config: Record<string, any> };
    const sandbox = endpointsOf(read("sandbox"));
    await promote(["--from", "sandbox", "--to", "qa"]);
    const expected = structuredClone(qaBefore);
    const endpoints = expected.config["mlplatform:endpoints"];
    endpoints["fraud-scorer"].source.modelPackageArn = sandbox["fraud-scorer"].source.modelPackageArn;
    endpoints["txn-embedder"].source.image = sandbox["txn-embedder"].source.image;
    endpoints["txn-embedder"].source.modelDataUrl = sandbox["txn-embedder"].source.modelDataUrl;
    expect(parse(read("qa"))).toEqual(expected);
    // The two stages really differ in these, so a copy would have shown.
    expect(endpoints["fraud-scorer"].instanceType).not.toBe(sandbox["fraud-scorer"].instanceType);
    expect(endpoints["fraud-scorer"].deployment).not.toEqual(sandbox["fraud-scorer"].deployment);
  });

  it("GIVEN qa and prod already serve the same versions WHEN promoted THEN prod is byte-identical and the registry is not called", async () => {
    const before = read("prod");
    const { code, stdout } = await promote(["--from", "qa", "--to", "prod"]);
    expect(code).toBe(0);
    expect(stdout).toContain("nothing to promote");
    expect(read("prod")).toBe(before);
    expect(sm.calls()).toHaveLength(0);
    expect(sts.calls()).toHaveLength(0);
  });

  it("GIVEN a promotion already done WHEN run again THEN the second run is a no-op and the file stays byte-identical", async () => {
    await promote(["--from", "sandbox", "--to", "qa"]);
    const once = read("qa");
    const { code, stdout } = await promote(["--from", "sandbox", "--to", "qa"]);
    expect(code).toBe(0);
    expect(stdout).toContain("nothing to promote");
    expect(read("qa")).toBe(once);
  });

  it("GIVEN --model txn-embedder THEN only that model's endpoint moves and no model package is checked", async () => {
    const qaBefore = endpointsOf(read("qa"));
    const { code } = await promote(["--from", "sandbox", "--to", "qa", "--model", "txn-embedder"]);
    expect(code).toBe(0);
    const qa = endpointsOf(read("qa"));
    expect(qa["fraud-scorer"].source.modelPackageArn).toBe(qaBefore["fraud-scorer"].source.modelPackageArn);
    expect(qa["txn-embedder"].source.image).toBe(endpointsOf(read("sandbox"))["txn-embedder"].source.image);
    expect(describedArns()).toEqual([]);
  });

  it("GIVEN --model fraud-scorer THEN only the model package moves, checked in the registry", async () => {
    const qaBefore = endpointsOf(read("qa"));
    await promote(["--from", "sandbox", "--to", "qa", "--model", "fraud-scorer"]);
    const qa = endpointsOf(read("qa"));
    expect(qa["txn-embedder"].source).toEqual(qaBefore["txn-embedder"].source);
    expect(describedArns()).toEqual([endpointsOf(read("sandbox"))["fraud-scorer"].source.modelPackageArn]);
  });

  it("GIVEN an unknown --model THEN it is refused with the service's models", async () => {
    const before = read("qa");
    const { code, err } = await promote(["--from", "sandbox", "--to", "qa", "--model", "fraud-scorrer"]);
    expect(code).toBe(2);
    expect(err[0]).toContain("unknown model \"fraud-scorrer\"; this service's models are fraud-scorer, txn-embedder");
    expect(read("qa")).toBe(before);
  });

  it("GIVEN --model for a model no endpoint of the source serves THEN it is refused", async () => {
    const doc = parseDocument(read("sandbox"));
    doc.deleteIn([...ENDPOINTS, "txn-embedder"]);
    write("sandbox", doc.toString());
    const { code, err } = await promote(["--from", "sandbox", "--to", "qa", "--model", "txn-embedder"]);
    expect(code).toBe(1);
    expect(err).toEqual(["promote: no endpoint of Pulumi.sandbox.yaml serves model \"txn-embedder\"; nothing to promote"]);
  });

  it("GIVEN an endpoint only in the source stage THEN it is reported and not created", async () => {
    edit("sandbox", ["fraud-shadow"], endpointsOf(read("sandbox"))["fraud-scorer"]);
    const { code, stdout } = await promote(["--from", "sandbox", "--to", "qa"]);
    expect(code).toBe(0);
    expect(stdout).toContain("not promoted: endpoint fraud-shadow is not in Pulumi.qa.yaml");
    expect(endpointsOf(read("qa"))["fraud-shadow"]).toBeUndefined();
  });

  it("GIVEN an image promotion THEN the output says images are not approval-checked", async () => {
    const { stdout } = await promote(["--from", "sandbox", "--to", "qa", "--model", "txn-embedder"]);
    expect(stdout).toContain("note: images are not approval-checked");
  });

  it("GIVEN --json THEN the changes are printed as JSON with old and new values", async () => {
    const { stdout } = await promote(["--from", "sandbox", "--to", "qa", "--json"]);
    const result = JSON.parse(stdout) as { changes: { endpoint: string; key: string; oldValue: string; newValue: string }[]; written: boolean };
    expect(result.changes.map((c) => `${c.endpoint}.${c.key}`)).toEqual(["fraud-scorer.modelPackageArn", "txn-embedder.image", "txn-embedder.modelDataUrl"]);
    expect(result.changes[0].oldValue).toMatch(/\/6$/);
    expect(result.changes[0].newValue).toMatch(/\/7$/);
    expect(result.written).toBe(true);
  });

  it("GIVEN --dry-run THEN the change is checked and shown but nothing is written", async () => {
    const before = read("qa");
    const { code, stdout } = await promote(["--from", "sandbox", "--to", "qa", "--dry-run"]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/fraud-scorer\s+source\.modelPackageArn\s+\S+\/6 -> \S+\/7/);
    expect(stdout).toContain("dry run: Pulumi.qa.yaml not written");
    expect(describedArns()).toHaveLength(1);
    expect(read("qa")).toBe(before);
    expect(leftovers()).toEqual([]);
  });

  it("GIVEN a plan diff hook THEN its lines are printed for the proposed stack", async () => {
    const seen: string[] = [];
    const { stdout } = await promote(["--from", "sandbox", "--to", "qa", "--dry-run"], {
      planDiff: async ({ stage, proposedDir }) => {
        seen.push(endpointsOf(readFileSync(join(proposedDir, `Pulumi.${stage}.yaml`), "utf8"))["fraud-scorer"].source.modelPackageArn);
        return ["~ fraud-detection-fraud-scorer-model (replace)"];
      },
    });
    expect(seen[0]).toMatch(/\/7$/);
    expect(stdout).toContain("plan diff of qa (offline):\n  ~ fraud-detection-fraud-scorer-model (replace)");
  });

  it("GIVEN the offline plan THEN the promotion shows the target stack's model and config replaced and the endpoint updated in place", async () => {
    const { code, stdout } = await promote(["--from", "sandbox", "--to", "qa", "--model", "fraud-scorer", "--dry-run"], { planDiff: offlinePlanDiff });
    expect(code).toBe(0);
    expect(stdout).toContain("plan diff of qa (offline):");
    expect(stdout).toMatch(/0 create, 1 update, 2 replace, 0 delete/);
    expect(stdout).not.toMatch(/txn-embedder-model/);
    expect(stdout).toMatch(/REPLACE\s+sagemaker:Model\s+fraud-detection-fraud-scorer-model .*primaryContainer\.modelPackageName/);
    expect(stdout).toMatch(/update\s+sagemaker:Endpoint\s+fraud-detection-fraud-scorer-endpoint .*endpointConfigName/);
  });

  it("GIVEN the offline plan fails THEN the promotion goes on without the diff and says why", async () => {
    const { code, err, stdout } = await promote(["--from", "sandbox", "--to", "qa"], { planDiff: async () => { throw new Error("boom"); } });
    expect(code).toBe(0);
    expect(err).toEqual(["promote: no plan diff (the offline plan failed: boom)"]);
    expect(stdout).toContain("plan diff: not available");
    expect(endpointsOf(read("qa"))["fraud-scorer"].source.modelPackageArn).toMatch(/\/7$/);
  });
});

describe("promote: stage order", () => {
  it("GIVEN sandbox to prod without --skip-stage THEN it is refused and prod is unchanged", async () => {
    const before = read("prod");
    const { code, err } = await promote(["--from", "sandbox", "--to", "prod"]);
    expect(code).toBe(2);
    expect(err).toEqual([expect.stringContaining("promote: prod is not the stage after sandbox (sandbox -> qa -> prod): promoting skips qa")]);
    expect(read("prod")).toBe(before);
  });

  it("GIVEN --skip-stage --reason THEN the promotion is accepted and the reason is a comment beside each changed value", async () => {
    const { code } = await promote(["--from", "sandbox", "--to", "prod", "--skip-stage", "--reason", "fraud spike INC-4711, approved by risk"]);
    expect(code).toBe(0);
    const text = read("prod");
    const comment = " promoted sandbox -> prod, skipping qa: fraud spike INC-4711, approved by risk";
    const doc = parseDocument(text);
    for (const path of [["fraud-scorer", "source", "modelPackageArn"], ["txn-embedder", "source", "image"], ["txn-embedder", "source", "modelDataUrl"]]) {
      const node = doc.getIn([...ENDPOINTS, ...path], true);
      expect(isScalar(node) && node.comment).toBe(comment);
    }
    expect(text).toMatch(/^ {8}modelPackageArn: \S+\/7 # promoted sandbox -> prod, skipping qa: fraud spike INC-4711, approved by risk$/m);
    // Unchanged values get no comment.
    expect(text).not.toMatch(/instanceType: .*#/);
  });

  it("GIVEN a skipped promotion later followed by a normal one THEN the stale skip comment is removed with the value it described", async () => {
    await promote(["--from", "sandbox", "--to", "prod", "--skip-stage", "--reason", "hotfix"]);
    edit("qa", ["fraud-scorer", "source", "modelPackageArn"], `arn:aws:sagemaker:eu-west-1:${registryAccountId}:model-package/fraud-detection-fraud-scorer/8`);
    const { code } = await promote(["--from", "qa", "--to", "prod", "--model", "fraud-scorer"]);
    expect(code).toBe(0);
    const text = read("prod");
    expect(text).toMatch(/modelPackageArn: \S+\/8\n/);
    expect(text).toMatch(/image: \S+ # promoted sandbox -> prod, skipping qa: hotfix\n/);
  });

  it("GIVEN --skip-stage without --reason THEN it is refused", async () => {
    const { code, err } = await promote(["--from", "sandbox", "--to", "prod", "--skip-stage"]);
    expect(code).toBe(2);
    expect(err[0]).toContain("--skip-stage needs --reason");
  });

  it("GIVEN --skip-stage for the next stage THEN it is refused: nothing is skipped", async () => {
    const { code, err } = await promote(["--from", "sandbox", "--to", "qa", "--skip-stage", "--reason", "x"]);
    expect(code).toBe(2);
    expect(err[0]).toContain("--skip-stage given, but qa is the stage after sandbox");
  });

  it("GIVEN --reason without --skip-stage THEN it is refused", async () => {
    const { code, err } = await promote(["--from", "sandbox", "--to", "qa", "--reason", "x"]);
    expect(code).toBe(2);
    expect(err[0]).toContain("--reason goes with --skip-stage");
  });

  it.each([["qa", "sandbox"], ["prod", "sandbox"], ["prod", "qa"]])("GIVEN %s to %s (backwards) THEN it is refused, even with --skip-stage", async (from, to) => {
    const before = read(to);
    for (const extra of [[], ["--skip-stage", "--reason", "rollback"]]) {
      const { code, err } = await promote(["--from", from, "--to", to, ...extra]);
      expect(code).not.toBe(0);
      expect(err[0]).toContain(`refusing to promote backwards from ${from} to ${to}`);
    }
    expect(read(to)).toBe(before);
  });

  it("GIVEN a stage that does not exist THEN it is refused with the stage order", async () => {
    const { code, err } = await promote(["--from", "sandbox", "--to", "staging"]);
    expect(code).toBe(2);
    expect(err[0]).toContain("--to \"staging\" is not a stage; the stages in Pulumi.yaml are sandbox -> qa -> prod");
  });

  it("GIVEN the same stage twice THEN it is refused", async () => {
    const { code, err } = await promote(["--from", "qa", "--to", "qa"]);
    expect(code).toBe(2);
    expect(err[0]).toContain("--from and --to are both \"qa\"; promote to the next stage (prod)");
  });

  it("GIVEN no --to THEN it is refused as bad usage", async () => {
    const { code, err } = await promote(["--from", "sandbox"]);
    expect(code).toBe(2);
    expect(err[0]).toContain("--to is required");
  });
});

describe("promote: the registry decides", () => {
  it("GIVEN a version pending approval THEN it is refused naming the ARN and status, and qa is byte-identical", async () => {
    sm.on(DescribeModelPackageCommand).resolves({ ModelApprovalStatus: "PendingManualApproval", ModelPackageStatus: "Completed" });
    const before = read("qa");
    const arn = endpointsOf(read("sandbox"))["fraud-scorer"].source.modelPackageArn as string;
    const { code, err } = await promote(["--from", "sandbox", "--to", "qa"]);
    expect(code).toBe(1);
    expect(err).toEqual([expect.stringContaining(`promote: refusing to promote, nothing written: ${arn} is PendingManualApproval, not Approved`)]);
    expect(read("qa")).toBe(before);
    expect(leftovers()).toEqual([]);
  });

  it("GIVEN a rejected version THEN it is refused", async () => {
    sm.on(DescribeModelPackageCommand).resolves({ ModelApprovalStatus: "Rejected", ModelPackageStatus: "Completed" });
    const { code, err } = await promote(["--from", "sandbox", "--to", "qa"]);
    expect(code).toBe(1);
    expect(err[0]).toContain("is Rejected, not Approved");
  });

  it("GIVEN an approved version whose creation failed THEN it is refused", async () => {
    sm.on(DescribeModelPackageCommand).resolves({ ModelApprovalStatus: "Approved", ModelPackageStatus: "Failed" });
    const { code, err } = await promote(["--from", "sandbox", "--to", "qa"]);
    expect(code).toBe(1);
    expect(err[0]).toContain("is Approved but its creation is Failed, not Completed");
  });

  it.each(["ValidationException", "ResourceNotFound"])("GIVEN an unknown version (%s) THEN it is refused naming the ARN, and qa is byte-identical", async (name) => {
    const arn = endpointsOf(read("sandbox"))["fraud-scorer"].source.modelPackageArn as string;
    sm.on(DescribeModelPackageCommand).rejects(new SageMakerServiceException({
      name, message: `ModelPackage ${arn} does not exist.`, $fault: "client", $metadata: { httpStatusCode: 400 },
    }));
    const before = read("qa");
    const { code, err } = await promote(["--from", "sandbox", "--to", "qa"]);
    expect(code).toBe(1);
    expect(err).toEqual([`promote: refusing to promote, nothing written: ${arn} is not in the registry (${name}: ModelPackage ${arn} does not exist.); `
      + "promote only versions the registry has approved (registry list --model NAME --status Approved)"]);
    expect(read("qa")).toBe(before);
  });

  it("GIVEN throttling twice, then an answer THEN the promotion succeeds after retries", async () => {
    sm.on(DescribeModelPackageCommand)
      .rejectsOnce(throttled())
      .rejectsOnce(throttled())
      .resolves({ ModelApprovalStatus: "Approved", ModelPackageStatus: "Completed" });
    const { code, err } = await promote(["--from", "sandbox", "--to", "qa"]);
    expect(code).toBe(0);
    expect(describedArns()).toHaveLength(3);
    expect(err.filter((l) => l.includes("retrying"))).toHaveLength(2);
    expect(endpointsOf(read("qa"))["fraud-scorer"].source.modelPackageArn).toMatch(/\/7$/);
  });

  it("GIVEN throttling beyond the retries THEN it fails in one line, and qa is byte-identical", async () => {
    sm.on(DescribeModelPackageCommand).rejects(throttled());
    const before = read("qa");
    const { code, err } = await promote(["--from", "sandbox", "--to", "qa", "--max-attempts", "3"]);
    expect(code).toBe(1);
    expect(describedArns()).toHaveLength(3);
    expectOneLineFailure(err);
    expect(err[err.length - 1]).toMatch(/^promote: cannot check arn:\S+ in the registry: DescribeModelPackage was throttled on all 3 attempts/);
    expect(read("qa")).toBe(before);
    expect(leftovers()).toEqual([]);
  });

  it("GIVEN an unreachable registry THEN it fails in one line without a stack trace, and qa is byte-identical", async () => {
    sm.on(DescribeModelPackageCommand).rejects(Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:443"), { code: "ECONNREFUSED" }));
    const before = read("qa");
    const { code, err } = await promote(["--from", "sandbox", "--to", "qa", "--max-attempts", "2"]);
    expect(code).toBe(1);
    expectOneLineFailure(err);
    expect(err[err.length - 1]).toContain("cannot check");
    expect(read("qa")).toBe(before);
  });

  it("GIVEN credentials of another account THEN the registry is read through the registry CLI's role", async () => {
    const { project, region } = readProjectConfig(dir);
    const otherAccount = project.stages.find((s) => s.accountId !== registryAccountId)!.accountId;
    sts.on(GetCallerIdentityCommand).resolves({ Account: otherAccount, Arn: `arn:aws:sts::${otherAccount}:assumed-role/ci/run` });
    sts.on(AssumeRoleCommand).resolves({ Credentials: { AccessKeyId: "AKIA", SecretAccessKey: "s", SessionToken: "t", Expiration: new Date() } });
    const account = { accountId: registryAccountId, region };
    const deployerRoleArn = roleArn(account, stageNames(project.serviceName, project.registryStage, account).deployerRole);
    const { code, err } = await promote(["--from", "sandbox", "--to", "qa"]);
    expect(code).toBe(0);
    expect(sts.commandCalls(AssumeRoleCommand)[0].args[0].input.RoleArn).toBe(deployerRoleArn);
    expect(err).toContain(`promote: account ${otherAccount} is not the registry's; assumed ${deployerRoleArn}`);
  });
});

describe("promote: the result must be a valid stack", () => {
  it("GIVEN a model package from another model's group THEN validation refuses it before any registry call, and qa is byte-identical", async () => {
    edit("sandbox", ["fraud-scorer", "source", "modelPackageArn"], `arn:aws:sagemaker:eu-west-1:${registryAccountId}:model-package/fraud-detection-txn-embedder/3`);
    const before = read("qa");
    const { code, err } = await promote(["--from", "sandbox", "--to", "qa"]);
    expect(code).toBe(1);
    expect(err).toEqual([
      "promote: refusing to promote: the promoted Pulumi.qa.yaml would be invalid, nothing written: Pulumi.qa.yaml: "
      + "mlplatform:endpoints.fraud-scorer.source.modelPackageArn: must be a version of the group fraud-detection-fraud-scorer, got fraud-detection-txn-embedder",
    ]);
    expect(sm.calls()).toHaveLength(0);
    expect(read("qa")).toBe(before);
  });

  it("GIVEN an image outside the registry repository THEN validation refuses it naming the repository, and qa is byte-identical", async () => {
    edit("sandbox", ["txn-embedder", "source", "image"], "docker.io/nvidia/tritonserver:24.09");
    const before = read("qa");
    const { code, err } = await promote(["--from", "sandbox", "--to", "qa"]);
    expect(code).toBe(1);
    expect(err).toEqual([
      "promote: refusing to promote: the promoted Pulumi.qa.yaml would be invalid, nothing written: Pulumi.qa.yaml: mlplatform:endpoints.txn-embedder.source.image: "
      + `must be ${registryAccountId}.dkr.ecr.eu-west-1.amazonaws.com/fraud-detection-inference:<tag> or @sha256:<digest>, got "docker.io/nvidia/tritonserver:24.09"`,
    ]);
    expect(sm.calls()).toHaveLength(0);
    expect(read("qa")).toBe(before);
  });

  it("GIVEN model data in sandbox's own bucket THEN validation refuses it: the next stage cannot read it, and qa is byte-identical", async () => {
    const qaAccountId = accountOfStage(readProjectConfig(dir).project, "qa")!;
    edit("sandbox", ["txn-embedder", "source", "modelDataUrl"], `s3://fraud-detection-sandbox-${registryAccountId}-eu-west-1/txn-embedder/v3/model.tar.gz`);
    const before = read("qa");
    const { code, err } = await promote(["--from", "sandbox", "--to", "qa"]);
    expect(code).toBe(1);
    expect(err).toEqual([
      "promote: refusing to promote: the promoted Pulumi.qa.yaml would be invalid, nothing written: Pulumi.qa.yaml: mlplatform:endpoints.txn-embedder.source.modelDataUrl: "
      + `must be in the registry bucket fraud-detection-artifacts-${registryAccountId}-eu-west-1 or the stage bucket fraud-detection-qa-${qaAccountId}-eu-west-1, `
      + `got bucket "fraud-detection-sandbox-${registryAccountId}-eu-west-1"`,
    ]);
    expect(read("qa")).toBe(before);
  });

  it("GIVEN model data in qa's own bucket THEN it is refused: promoted model data comes from the registry bucket, and qa is byte-identical", async () => {
    const url = `s3://fraud-detection-qa-${accountOfStage(readProjectConfig(dir).project, "qa")!}-eu-west-1/txn-embedder/v3/model.tar.gz`;
    edit("sandbox", ["txn-embedder", "source", "modelDataUrl"], url);
    const before = read("qa");
    const { code, err } = await promote(["--from", "sandbox", "--to", "qa"]);
    expect(code).toBe(1);
    expect(err).toEqual([`promote: refusing to promote: model data ${url} is in qa's own bucket, not the registry bucket; register the artifact in the registry first`]);
    expect(read("qa")).toBe(before);
  });

  it("GIVEN an endpoint served from a model package in one stage and an image in the other THEN it is refused as a structural change", async () => {
    edit("sandbox", ["txn-embedder", "source"], { modelPackageArn: `arn:aws:sagemaker:eu-west-1:${registryAccountId}:model-package/fraud-detection-txn-embedder/4` });
    const before = read("qa");
    const { code, err } = await promote(["--from", "sandbox", "--to", "qa"]);
    expect(code).toBe(1);
    expect(err[0]).toContain("endpoint txn-embedder is served from a registry model package in Pulumi.sandbox.yaml but from an image and model data in Pulumi.qa.yaml");
    expect(read("qa")).toBe(before);
  });

  it("GIVEN a target file the yaml printer would reformat THEN it is refused rather than rewritten, and the file is byte-identical", async () => {
    const fourSpaces = read("qa").replace(/^( +)/gm, (indent) => indent.repeat(2));
    write("qa", fourSpaces);
    const { code, err } = await promote(["--from", "sandbox", "--to", "qa"]);
    expect(code).toBe(1);
    expect(err[0]).toMatch(/^promote: cannot edit Pulumi\.qa\.yaml without reformatting line \d+, which the promotion does not change/);
    expect(read("qa")).toBe(fourSpaces);
  });

  it("GIVEN an endpoint that serves another model in the target THEN it is refused naming both", async () => {
    edit("qa", ["fraud-scorer", "model"], "txn-embedder");
    const { code, err } = await promote(["--from", "sandbox", "--to", "qa"]);
    expect(code).toBe(1);
    expect(err[0]).toContain("endpoint fraud-scorer serves model fraud-scorer in Pulumi.sandbox.yaml but txn-embedder in Pulumi.qa.yaml");
  });

  it("GIVEN an endpoint without a source THEN it is refused naming the file and endpoint", async () => {
    edit("sandbox", ["fraud-scorer", "source"], { modelPackage: "typo" });
    const { code, err } = await promote(["--from", "sandbox", "--to", "qa"]);
    expect(code).toBe(1);
    expect(err[0]).toContain("Pulumi.sandbox.yaml: endpoint fraud-scorer needs a model and a source with modelPackageArn, or image and modelDataUrl");
  });

  it("GIVEN endpoints that are not a map THEN it is refused", async () => {
    write("qa", read("qa").replace(/ {2}mlplatform:endpoints:\n[\s\S]*$/, "  mlplatform:endpoints: []\n"));
    const { code, err } = await promote(["--from", "sandbox", "--to", "qa"]);
    expect(code).toBe(1);
    expect(err[0]).toContain("Pulumi.qa.yaml: config.mlplatform:endpoints must be a map of endpoints");
  });

  it("GIVEN an image source whose model data is not a string THEN it is refused", async () => {
    edit("sandbox", ["txn-embedder", "source", "modelDataUrl"], 3);
    const { code, err } = await promote(["--from", "sandbox", "--to", "qa"]);
    expect(code).toBe(1);
    expect(err[0]).toContain("Pulumi.sandbox.yaml: endpoint txn-embedder: source.modelDataUrl must be a string");
  });

  it("GIVEN a promoted value written as a YAML alias in the target THEN it is refused for a hand edit", async () => {
    const arn = endpointsOf(read("qa"))["fraud-scorer"].source.modelPackageArn as string;
    write("qa", read("qa").replace("\nconfig:\n", `\nx-current: &current ${arn}\nconfig:\n`).replace(`modelPackageArn: ${arn}`, "modelPackageArn: *current"));
    const before = read("qa");
    const { code, err } = await promote(["--from", "sandbox", "--to", "qa", "--model", "fraud-scorer"]);
    expect(code).toBe(1);
    expect(err[0]).toBe("promote: Pulumi.qa.yaml: config.mlplatform:endpoints.fraud-scorer.source.modelPackageArn is not a plain value; edit it by hand");
    expect(read("qa")).toBe(before);
  });

  it("GIVEN the target file changes while promoting THEN nothing is written and the other edit is kept", async () => {
    const { code, err } = await promote(["--from", "sandbox", "--to", "qa"], {
      planDiff: async () => {
        write("qa", `${read("qa")}# edited meanwhile\n`);
        return undefined;
      },
    });
    expect(code).toBe(1);
    expect(err).toEqual(["promote: Pulumi.qa.yaml changed while promoting; nothing written, run the promotion again"]);
    expect(read("qa")).toMatch(/# edited meanwhile\n$/);
    expect(endpointsOf(read("qa"))["fraud-scorer"].source.modelPackageArn).toMatch(/\/6$/);
    expect(leftovers()).toEqual([]);
  });

  it("GIVEN a target file that is not valid YAML THEN it is refused naming the file", async () => {
    write("qa", "config:\n  mlplatform:endpoints: [\n");
    const { code, err } = await promote(["--from", "sandbox", "--to", "qa"]);
    expect(code).toBe(1);
    expect(err[0]).toMatch(/^promote: Pulumi\.qa\.yaml is not valid YAML: /);
  });

  it("GIVEN a missing target stack file THEN it is refused naming the file", async () => {
    rmSync(join(dir, "Pulumi.qa.yaml"));
    const { code, err } = await promote(["--from", "sandbox", "--to", "qa"]);
    expect(code).toBe(1);
    expect(err[0]).toBe("promote: cannot read Pulumi.qa.yaml (ENOENT); does the qa stack exist?");
  });
});

describe("promote task", () => {
  it("GIVEN addScriptTasks THEN the project has a described promote task that passes its arguments to the script", () => {
    const project = new Project({ name: "promote-task", outdir: mkdtempSync(join(tmpdir(), "promote-task-")) });
    addScriptTasks(project);
    const tasks = (Testing.synth(project)[".projen/tasks.json"] as { tasks: Record<string, { description?: string; steps: { exec: string; receiveArgs?: boolean }[] }> }).tasks;
    expect(tasks.promote.description).toMatch(/^Promote approved model versions/);
    expect(tasks.promote.steps).toEqual([{ exec: "ts-node --transpile-only scripts/promote.ts", receiveArgs: true }]);
    rmSync(project.outdir, { recursive: true, force: true });
  });

  it("GIVEN --help THEN the options are listed", async () => {
    const { code, stdout } = await promote(["--help"]);
    expect(code).toBe(0);
    for (const option of ["--from", "--to", "--model", "--dry-run", "--skip-stage", "--reason", "--json"]) expect(stdout).toContain(option);
  });
});
