import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DescribeModelPackageCommand, SageMakerClient, SageMakerServiceException } from "@aws-sdk/client-sagemaker";
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient, STSServiceException } from "@aws-sdk/client-sts";
import { mockClient } from "aws-sdk-client-mock";
import { Testing, Project } from "projen";
import { isScalar, parse, parseDocument } from "yaml";
import { registryNames, roleArn } from "../../components/names";
import { addScriptTasks } from "../../projen/script-tasks";
import { main, type PromoteDeps } from "../../scripts/promote";
import { offlinePlanDiff } from "../../scripts/promote/plan-diff";
import { readProjectConfig } from "../../stacks/config/files";
import { FIXTURE_ROOT } from "../fixtures/project";
import { FIXTURE } from "../fixtures/service";
import { copyProject } from "../support/stack-files";

/**
 * The promote CLI on a copy of the fixture project (test/fixtures/project): sandbox serves
 * churn-scorer version 7 and doc-embedder image triton-24.09-doc-embedder-v3 with its v3 model data;
 * qa and prod serve version 6 and the v2 image and model data.
 */

/** The fixture project's files (Pulumi.yaml and every stack file, the registry's included), which copyProject copies. */
const FILES = readdirSync(FIXTURE_ROOT).filter((file) => /^Pulumi(\.[^.]+)?\.yaml$/.test(file));
const ENDPOINTS = ["config", "mlplatform:endpoints"];
/** The registry stage's account (sandbox hosts the fixture's registry). */
const REGISTRY_ACCOUNT_ID = FIXTURE.accounts.sandbox;
/** Version 7 of churn-scorer, as the registry names it: written out from the fixture's values, not derived. */
const SANDBOX_VERSION_ARN = "arn:aws:sagemaker:ap-southeast-4:404040404041:model-package/churn-predictor-churn-scorer/7";
/** The registry's reader role, which promote's live check acts as. */
const READER_ROLE_ARN = "arn:aws:iam::404040404041:role/churn-predictor-registry-reader";
/** The line on stderr that says promote reads the registry as the reader role, and why. */
const READER_LINE = `promote: as ${READER_ROLE_ARN} (the reader role; --role-arn overrides)`;

const sm = mockClient(SageMakerClient);
const sts = mockClient(STSClient);

let dir: string;
let cleanup: () => void;

beforeEach(() => {
  sm.reset();
  sts.reset();
  ({ dir, cleanup } = copyProject("qa", {}));
  sts.on(GetCallerIdentityCommand).resolves({ Account: REGISTRY_ACCOUNT_ID, Arn: `arn:aws:sts::${REGISTRY_ACCOUNT_ID}:assumed-role/dev/alice` });
  sts.on(AssumeRoleCommand).resolves({ Credentials: { AccessKeyId: "ASIAREADER", SecretAccessKey: "s", SessionToken: "t", Expiration: new Date() } });
  sm.on(DescribeModelPackageCommand).resolves({ ModelApprovalStatus: "Approved", ModelPackageStatus: "Completed" });
});
afterEach(() => cleanup());

const read = (stage: string) => readFileSync(join(dir, `Pulumi.${stage}.yaml`), "utf8");
const write = (stage: string, text: string) => writeFileSync(join(dir, `Pulumi.${stage}.yaml`), text);
const endpointsOf = (text: string) => (parse(text) as { config: Record<string, Record<string, any>> }).config["mlplatform:endpoints"];

/** Edits a stack file in the temporary project through the yaml Document API. */
function edit(stage: string, path: string[], value: unknown) {
  const doc = parseDocument(read(stage));
  doc.setIn([...ENDPOINTS, ...path], value);
  write(stage, doc.toString());
}

/** Removes a key of a stack file in the temporary project. */
function remove(stage: string, path: string[]) {
  const doc = parseDocument(read(stage));
  doc.deleteIn([...ENDPOINTS, ...path]);
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
  it("GIVEN sandbox ahead of qa WHEN promoted THEN qa gets sandbox's model package version, image tag and model data key", async () => {
    const { code } = await promote(["--from", "sandbox", "--to", "qa"]);
    expect(code).toBe(0);
    const qa = endpointsOf(read("qa"));
    expect(qa["churn-scorer"].source.version).toBe(7);
    expect(qa["doc-embedder"].source.imageTag).toBe("triton-24.09-doc-embedder-v3");
    expect(qa["doc-embedder"].source.modelDataKey).toBe("doc-embedder/v3/model.tar.gz");
    expect(leftovers()).toEqual([]);
  });

  it("GIVEN a version promoted THEN it is written as a plain YAML number, not a string", async () => {
    await promote(["--from", "sandbox", "--to", "qa", "--model", "churn-scorer"]);
    const text = read("qa");
    expect(text).toMatch(/^ {8}version: 7$/m);
    const node = parseDocument(text).getIn([...ENDPOINTS, "churn-scorer", "source", "version"], true);
    expect(isScalar(node) && typeof node.value).toBe("number");
  });

  it("GIVEN a version promoted THEN the live registry check asks for the ARN the service definition derives", async () => {
    await promote(["--from", "sandbox", "--to", "qa"]);
    expect(describedArns()).toEqual([SANDBOX_VERSION_ARN]);
  });

  it("GIVEN a promotion THEN only the promoted lines differ: comments, key order and every other line are byte-identical", async () => {
    const before = read("qa").split("\n");
    await promote(["--from", "sandbox", "--to", "qa"]);
    const after = read("qa").split("\n");
    expect(after).toHaveLength(before.length);
    const changed = after.map((line, i) => (line === before[i] ? undefined : i)).filter((i) => i !== undefined);
    expect(changed.map((i) => after[i!].trim().split(":")[0])).toEqual(["version", "imageTag", "modelDataKey"]);
    const unchanged = (lines: string[]) => lines.filter((_, i) => !changed.includes(i));
    expect(unchanged(after)).toEqual(unchanged(before));
    expect(after[0]).toBe("# QA stage: integration and load tests against production-like instances. Linear traffic");
  });

  it("GIVEN a promotion THEN per-stage values (accounts, instances, strategies, alarms, tags, environment) never move", async () => {
    edit("sandbox", ["doc-embedder", "source", "environment"], { SAGEMAKER_TRITON_DEFAULT_MODEL_NAME: "doc_embedder_sandbox" });
    const qaBefore = parse(read("qa")) as { config: Record<string, any> };
    const sandbox = endpointsOf(read("sandbox"));
    await promote(["--from", "sandbox", "--to", "qa"]);
    const expected = structuredClone(qaBefore);
    const endpoints = expected.config["mlplatform:endpoints"];
    endpoints["churn-scorer"].source.version = 7;
    endpoints["doc-embedder"].source.imageTag = "triton-24.09-doc-embedder-v3";
    endpoints["doc-embedder"].source.modelDataKey = "doc-embedder/v3/model.tar.gz";
    expect(parse(read("qa"))).toEqual(expected);
    // The two stages really differ in these, so a copy would have shown.
    expect(endpoints["churn-scorer"].instanceType).not.toBe(sandbox["churn-scorer"].instanceType);
    expect(endpoints["churn-scorer"].deployment).not.toEqual(sandbox["churn-scorer"].deployment);
    expect(endpoints["doc-embedder"].source.environment).not.toEqual(sandbox["doc-embedder"].source.environment);
  });

  it("GIVEN an image promoted THEN its model data key moves with the image tag, as one release", async () => {
    const { code, stdout } = await promote(["--from", "sandbox", "--to", "qa", "--model", "doc-embedder", "--json"]);
    expect(code).toBe(0);
    const result = JSON.parse(stdout) as { changes: { endpoint: string; key: string; oldValue: unknown; newValue: unknown }[] };
    expect(result.changes).toEqual([
      { endpoint: "doc-embedder", model: "doc-embedder", key: "imageTag", oldValue: "triton-24.09-doc-embedder-v2", newValue: "triton-24.09-doc-embedder-v3" },
      { endpoint: "doc-embedder", model: "doc-embedder", key: "modelDataKey", oldValue: "doc-embedder/v2/model.tar.gz", newValue: "doc-embedder/v3/model.tar.gz" },
    ]);
    expect(endpointsOf(read("qa"))["doc-embedder"].source).toEqual({
      imageTag: "triton-24.09-doc-embedder-v3",
      modelDataKey: "doc-embedder/v3/model.tar.gz",
      environment: { SAGEMAKER_TRITON_DEFAULT_MODEL_NAME: "doc_embedder" },
    });
  });

  it("GIVEN image digests in both stages THEN the digest moves with the model data key", async () => {
    const digest = (n: string) => `sha256:${n.repeat(64)}`;
    for (const [stage, n] of [["sandbox", "b"], ["qa", "a"]]) {
      remove(stage, ["doc-embedder", "source", "imageTag"]);
      edit(stage, ["doc-embedder", "source", "imageDigest"], digest(n));
    }
    const { code } = await promote(["--from", "sandbox", "--to", "qa", "--model", "doc-embedder"]);
    expect(code).toBe(0);
    expect(endpointsOf(read("qa"))["doc-embedder"].source).toMatchObject({ imageDigest: digest("b"), modelDataKey: "doc-embedder/v3/model.tar.gz" });
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

  it("GIVEN --model doc-embedder THEN only that model's endpoint moves and no model package is checked", async () => {
    const { code } = await promote(["--from", "sandbox", "--to", "qa", "--model", "doc-embedder"]);
    expect(code).toBe(0);
    const qa = endpointsOf(read("qa"));
    expect(qa["churn-scorer"].source.version).toBe(6);
    expect(qa["doc-embedder"].source.imageTag).toBe("triton-24.09-doc-embedder-v3");
    expect(describedArns()).toEqual([]);
  });

  it("GIVEN --model churn-scorer THEN only the model package version moves, checked in the registry", async () => {
    const qaBefore = endpointsOf(read("qa"));
    await promote(["--from", "sandbox", "--to", "qa", "--model", "churn-scorer"]);
    const qa = endpointsOf(read("qa"));
    expect(qa["churn-scorer"].source.version).toBe(7);
    expect(qa["doc-embedder"].source).toEqual(qaBefore["doc-embedder"].source);
    expect(describedArns()).toEqual([SANDBOX_VERSION_ARN]);
  });

  it("GIVEN an unknown --model THEN it is refused with the service's models", async () => {
    const before = read("qa");
    const { code, err } = await promote(["--from", "sandbox", "--to", "qa", "--model", "churn-scorrer"]);
    expect(code).toBe(2);
    expect(err[0]).toContain("unknown model \"churn-scorrer\"; this service's models are churn-scorer, doc-embedder");
    expect(read("qa")).toBe(before);
  });

  it("GIVEN --model for a model no endpoint of the source serves THEN it is refused", async () => {
    remove("sandbox", ["doc-embedder"]);
    const { code, err } = await promote(["--from", "sandbox", "--to", "qa", "--model", "doc-embedder"]);
    expect(code).toBe(1);
    expect(err).toEqual(["promote: no endpoint of Pulumi.sandbox.yaml serves model \"doc-embedder\"; nothing to promote"]);
  });

  it("GIVEN an endpoint only in the source stage THEN it is reported and not created", async () => {
    edit("sandbox", ["churn-shadow"], endpointsOf(read("sandbox"))["churn-scorer"]);
    const { code, stdout } = await promote(["--from", "sandbox", "--to", "qa"]);
    expect(code).toBe(0);
    expect(stdout).toContain("not promoted: endpoint churn-shadow is not in Pulumi.qa.yaml");
    expect(endpointsOf(read("qa"))["churn-shadow"]).toBeUndefined();
  });

  it("GIVEN an image promotion THEN the output says images are not approval-checked", async () => {
    const { stdout } = await promote(["--from", "sandbox", "--to", "qa", "--model", "doc-embedder"]);
    expect(stdout).toContain("note: images are not approval-checked");
  });

  it("GIVEN --json THEN the changes are printed as JSON with old and new values, a version as a number", async () => {
    const { stdout } = await promote(["--from", "sandbox", "--to", "qa", "--json"]);
    const result = JSON.parse(stdout) as { changes: { endpoint: string; key: string; oldValue: unknown; newValue: unknown }[]; written: boolean };
    expect(result.changes.map((c) => `${c.endpoint}.${c.key}`)).toEqual(["churn-scorer.version", "doc-embedder.imageTag", "doc-embedder.modelDataKey"]);
    expect(result.changes[0]).toMatchObject({ oldValue: 6, newValue: 7 });
    expect(result.written).toBe(true);
  });

  it("GIVEN --dry-run THEN the change is checked and shown but nothing is written", async () => {
    const before = read("qa");
    const { code, stdout } = await promote(["--from", "sandbox", "--to", "qa", "--dry-run"]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/churn-scorer\s+source\.version\s+6 -> 7/);
    expect(stdout).toContain("dry run: Pulumi.qa.yaml not written");
    expect(describedArns()).toEqual([SANDBOX_VERSION_ARN]);
    expect(read("qa")).toBe(before);
    expect(leftovers()).toEqual([]);
  });

  it("GIVEN a plan diff hook THEN its lines are printed for the proposed stack", async () => {
    const seen: unknown[] = [];
    const { stdout } = await promote(["--from", "sandbox", "--to", "qa", "--dry-run"], {
      planDiff: async ({ stage, proposedDir }) => {
        seen.push(endpointsOf(readFileSync(join(proposedDir, `Pulumi.${stage}.yaml`), "utf8"))["churn-scorer"].source.version);
        return ["~ churn-predictor-churn-scorer-model (replace)"];
      },
    });
    expect(seen).toEqual([7]);
    expect(stdout).toContain("plan diff of qa (offline):\n  ~ churn-predictor-churn-scorer-model (replace)");
  });

  it("GIVEN the offline plan THEN the promotion shows the target stack's model and config replaced and the endpoint updated in place", async () => {
    const { code, stdout } = await promote(["--from", "sandbox", "--to", "qa", "--model", "churn-scorer", "--dry-run"], { planDiff: offlinePlanDiff });
    expect(code).toBe(0);
    expect(stdout).toContain("plan diff of qa (offline):");
    expect(stdout).toMatch(/0 create, 1 update, 2 replace, 0 delete/);
    expect(stdout).not.toMatch(/doc-embedder-model/);
    expect(stdout).toMatch(/REPLACE\s+sagemaker:Model\s+churn-predictor-churn-scorer-model .*primaryContainer\.modelPackageName/);
    expect(stdout).toMatch(/update\s+sagemaker:Endpoint\s+churn-predictor-churn-scorer-endpoint .*endpointConfigName/);
  });

  it("GIVEN the offline plan fails THEN the promotion goes on without the diff and says why", async () => {
    const { code, err, stdout } = await promote(["--from", "sandbox", "--to", "qa"], { planDiff: async () => { throw new Error("boom"); } });
    expect(code).toBe(0);
    expect(err).toEqual([READER_LINE, "promote: no plan diff (the offline plan failed: boom)"]);
    expect(stdout).toContain("plan diff: not available");
    expect(endpointsOf(read("qa"))["churn-scorer"].source.version).toBe(7);
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
    const { code } = await promote(["--from", "sandbox", "--to", "prod", "--skip-stage", "--reason", "churn spike INC-4711, approved by risk"]);
    expect(code).toBe(0);
    const text = read("prod");
    const comment = " promoted sandbox -> prod, skipping qa: churn spike INC-4711, approved by risk";
    const doc = parseDocument(text);
    for (const path of [["churn-scorer", "source", "version"], ["doc-embedder", "source", "imageTag"], ["doc-embedder", "source", "modelDataKey"]]) {
      const node = doc.getIn([...ENDPOINTS, ...path], true);
      expect(isScalar(node) && node.comment).toBe(comment);
    }
    expect(text).toMatch(/^ {8}version: 7 # promoted sandbox -> prod, skipping qa: churn spike INC-4711, approved by risk$/m);
    // Unchanged values get no comment.
    expect(text).not.toMatch(/instanceType: .*#/);
  });

  it("GIVEN a skipped promotion later followed by a normal one THEN the stale skip comment is removed with the value it described", async () => {
    await promote(["--from", "sandbox", "--to", "prod", "--skip-stage", "--reason", "hotfix"]);
    edit("qa", ["churn-scorer", "source", "version"], 8);
    const { code } = await promote(["--from", "qa", "--to", "prod", "--model", "churn-scorer"]);
    expect(code).toBe(0);
    const text = read("prod");
    expect(text).toMatch(/^ {8}version: 8\n/m);
    expect(text).toMatch(/imageTag: \S+ # promoted sandbox -> prod, skipping qa: hotfix\n/);
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
    const { code, err } = await promote(["--from", "sandbox", "--to", "qa"]);
    expect(code).toBe(1);
    expect(err).toEqual([READER_LINE,
      expect.stringContaining(`promote: refusing to promote, nothing written: ${SANDBOX_VERSION_ARN} is PendingManualApproval, not Approved`)]);
    expect(read("qa")).toBe(before);
    expect(leftovers()).toEqual([]);
  });

  it("GIVEN a rejected version THEN it is refused", async () => {
    sm.on(DescribeModelPackageCommand).resolves({ ModelApprovalStatus: "Rejected", ModelPackageStatus: "Completed" });
    const { code, err } = await promote(["--from", "sandbox", "--to", "qa"]);
    expect(code).toBe(1);
    expect(err[1]).toContain("is Rejected, not Approved");
  });

  it("GIVEN an approved version whose creation failed THEN it is refused", async () => {
    sm.on(DescribeModelPackageCommand).resolves({ ModelApprovalStatus: "Approved", ModelPackageStatus: "Failed" });
    const { code, err } = await promote(["--from", "sandbox", "--to", "qa"]);
    expect(code).toBe(1);
    expect(err[1]).toContain("is Approved but its creation is Failed, not Completed");
  });

  it.each(["ValidationException", "ResourceNotFound"])("GIVEN an unknown version (%s) THEN it is refused naming the ARN, and qa is byte-identical", async (name) => {
    const arn = SANDBOX_VERSION_ARN;
    sm.on(DescribeModelPackageCommand).rejects(new SageMakerServiceException({
      name, message: `ModelPackage ${arn} does not exist.`, $fault: "client", $metadata: { httpStatusCode: 400 },
    }));
    const before = read("qa");
    const { code, err } = await promote(["--from", "sandbox", "--to", "qa"]);
    expect(code).toBe(1);
    expect(err).toEqual([READER_LINE, `promote: refusing to promote, nothing written: ${arn} is not in the registry (${name}: ModelPackage ${arn} does not exist.); `
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
    expect(endpointsOf(read("qa"))["churn-scorer"].source.version).toBe(7);
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

  it("GIVEN the reader role THEN it is the registry's reader role, as the service definition names it", () => {
    const { project, region } = readProjectConfig(dir);
    const account = { accountId: REGISTRY_ACCOUNT_ID, region };
    expect(READER_ROLE_ARN).toBe(roleArn(account, registryNames(project.serviceName, account).readerRole));
  });

  it("GIVEN credentials in the registry account THEN the live check still assumes the reader role, says so, and reads with its credentials", async () => {
    const { code, err } = await promote(["--from", "sandbox", "--to", "qa"]);
    expect(code).toBe(0);
    expect(sts.commandCalls(AssumeRoleCommand).map((c) => c.args[0].input.RoleArn)).toEqual([READER_ROLE_ARN]);
    expect(err).toEqual([READER_LINE]);
    const client = sm.send.getCall(0).thisValue as SageMakerClient;
    expect(await client.config.credentials()).toMatchObject({ accessKeyId: "ASIAREADER" });
  });

  it("GIVEN credentials of another account THEN the registry is read through the reader role", async () => {
    const otherAccount = FIXTURE.accounts.qa;
    sts.on(GetCallerIdentityCommand).resolves({ Account: otherAccount, Arn: `arn:aws:sts::${otherAccount}:assumed-role/ci/run` });
    const { code, err } = await promote(["--from", "sandbox", "--to", "qa"]);
    expect(code).toBe(0);
    expect(sts.commandCalls(AssumeRoleCommand).map((c) => c.args[0].input.RoleArn)).toEqual([READER_ROLE_ARN]);
    expect(err).toEqual([READER_LINE]);
  });

  it("GIVEN the promote job's credentials, already the reader role THEN nothing is assumed", async () => {
    sts.on(GetCallerIdentityCommand).resolves({
      Account: REGISTRY_ACCOUNT_ID, Arn: `arn:aws:sts::${REGISTRY_ACCOUNT_ID}:assumed-role/${READER_ROLE_ARN.split("/").pop()}/promote`,
    });
    const { code, err } = await promote(["--from", "sandbox", "--to", "qa"]);
    expect(code).toBe(0);
    expect(sts.commandCalls(AssumeRoleCommand)).toHaveLength(0);
    expect(err).toEqual([`promote: as ${READER_ROLE_ARN} (the reader role, already held by these credentials; --role-arn overrides)`]);
    expect(describedArns()).toEqual([SANDBOX_VERSION_ARN]);
  });

  it("GIVEN the reader role refuses the caller THEN it fails in one line naming the role and who may assume it, and qa is byte-identical", async () => {
    sts.on(AssumeRoleCommand).rejects(new STSServiceException({
      name: "AccessDenied", message: "not authorized to perform sts:AssumeRole", $fault: "client", $metadata: { httpStatusCode: 403 },
    }));
    const before = read("qa");
    const { code, err } = await promote(["--from", "sandbox", "--to", "qa"]);
    expect(code).toBe(1);
    expectOneLineFailure(err);
    expect(err[err.length - 1]).toContain(`may not assume ${READER_ROLE_ARN}: it is the reader role, which reads the registry; `
      + "its trust policy admits the promote GitHub environment, and the principals in publishers: and approvers: of the service definition in .projenrc.ts");
    expect(describedArns()).toEqual([]);
    expect(read("qa")).toBe(before);
    expect(leftovers()).toEqual([]);
  });
});

describe("promote: the result must be a valid stack", () => {
  it("GIVEN a version number the registry cannot have THEN validation refuses it before any registry call, and qa is byte-identical", async () => {
    edit("sandbox", ["churn-scorer", "source", "version"], 0);
    const before = read("qa");
    const { code, err } = await promote(["--from", "sandbox", "--to", "qa"]);
    expect(code).toBe(1);
    expect(err).toEqual([
      "promote: refusing to promote: the promoted Pulumi.qa.yaml would be invalid, nothing written: Pulumi.qa.yaml: "
      + "mlplatform:endpoints.churn-scorer.source.version: must be 1 or more (versions start at 1), got 0",
    ]);
    expect(sm.calls()).toHaveLength(0);
    expect(read("qa")).toBe(before);
  });

  it("GIVEN an image tag that is not a tag THEN validation refuses it naming the key, and qa is byte-identical", async () => {
    edit("sandbox", ["doc-embedder", "source", "imageTag"], "nvidia/tritonserver:24.09");
    const before = read("qa");
    const { code, err } = await promote(["--from", "sandbox", "--to", "qa"]);
    expect(code).toBe(1);
    expect(err).toEqual([
      "promote: refusing to promote: the promoted Pulumi.qa.yaml would be invalid, nothing written: Pulumi.qa.yaml: mlplatform:endpoints.doc-embedder.source.imageTag: "
      + "must be an image tag: letters, digits, _ . - (at most 128, not starting with . or -), got \"nvidia/tritonserver:24.09\"",
    ]);
    expect(sm.calls()).toHaveLength(0);
    expect(read("qa")).toBe(before);
  });

  it("GIVEN a model data key that is not a key in the registry bucket THEN validation refuses it, and qa is byte-identical", async () => {
    edit("sandbox", ["doc-embedder", "source", "modelDataKey"], "/doc-embedder/v3/model.tar.gz");
    const before = read("qa");
    const { code, err } = await promote(["--from", "sandbox", "--to", "qa"]);
    expect(code).toBe(1);
    expect(err).toEqual([
      "promote: refusing to promote: the promoted Pulumi.qa.yaml would be invalid, nothing written: Pulumi.qa.yaml: mlplatform:endpoints.doc-embedder.source.modelDataKey: "
      + "must be an S3 key such as my-model/v3/model.tar.gz (no leading /, at most 1000 characters), got \"/doc-embedder/v3/model.tar.gz\"",
    ]);
    expect(read("qa")).toBe(before);
  });

  it("GIVEN an endpoint served from a model package in one stage and an image in the other THEN it is refused as a structural change", async () => {
    edit("sandbox", ["doc-embedder", "source"], { version: 4 });
    const before = read("qa");
    const { code, err } = await promote(["--from", "sandbox", "--to", "qa"]);
    expect(code).toBe(1);
    expect(err[0]).toContain("endpoint doc-embedder is served from a registry model package version in Pulumi.sandbox.yaml "
      + "but from an image and model data in Pulumi.qa.yaml");
    expect(read("qa")).toBe(before);
  });

  it("GIVEN an image tag in one stage and an image digest in the other THEN it is refused naming the endpoint, and qa is byte-identical", async () => {
    remove("sandbox", ["doc-embedder", "source", "imageTag"]);
    edit("sandbox", ["doc-embedder", "source", "imageDigest"], `sha256:${"c".repeat(64)}`);
    const before = read("qa");
    const { code, err } = await promote(["--from", "sandbox", "--to", "qa"]);
    expect(code).toBe(1);
    expect(err).toEqual(["promote: endpoint doc-embedder sets source.imageTag in Pulumi.qa.yaml but not in Pulumi.sandbox.yaml; "
      + "switching between imageTag and imageDigest is a reviewed edit of the stack file, not a promotion"]);
    expect(sm.calls()).toHaveLength(0);
    expect(read("qa")).toBe(before);
  });

  it("GIVEN an image source without a model data key THEN it is refused naming the missing key, not as an image tag/digest switch", async () => {
    remove("sandbox", ["doc-embedder", "source", "modelDataKey"]);
    const before = read("qa");
    const { code, err } = await promote(["--from", "sandbox", "--to", "qa"]);
    expect(code).toBe(1);
    expect(err).toEqual(["promote: endpoint doc-embedder sets source.modelDataKey in Pulumi.qa.yaml but not in Pulumi.sandbox.yaml; "
      + "an image source needs source.modelDataKey (the key of its model.tar.gz in the registry's artifact bucket) in every stage"]);
    expect(read("qa")).toBe(before);
  });

  it("GIVEN a source stage still written with the old image and modelDataUrl THEN it is refused with what to write instead", async () => {
    edit("sandbox", ["doc-embedder", "source"], {
      image: "404040404041.dkr.ecr.ap-southeast-4.amazonaws.com/churn-predictor-inference:triton-24.09-doc-embedder-v3",
      modelDataUrl: "s3://churn-predictor-artifacts-404040404041-ap-southeast-4/doc-embedder/v3/model.tar.gz",
    });
    const before = read("qa");
    const { code, err } = await promote(["--from", "sandbox", "--to", "qa"]);
    expect(code).toBe(1);
    expect(err).toHaveLength(1);
    expect(err[0]).toMatch(/^promote: refusing to promote, nothing written: Pulumi\.sandbox\.yaml: mlplatform:endpoints\.doc-embedder\.source\.image: /);
    expect(err[0]).toContain("write imageTag: triton-24.09-doc-embedder-v3 instead");
    expect(err[0]).toContain("Pulumi.sandbox.yaml: mlplatform:endpoints.doc-embedder.source.modelDataUrl: "
      + "is derived from the service definition now; write modelDataKey: doc-embedder/v3/model.tar.gz instead");
    expect(read("qa")).toBe(before);
  });

  it("GIVEN a target still written with the old modelPackageArn THEN it is refused with what to write instead, and qa is byte-identical", async () => {
    edit("qa", ["churn-scorer", "source"], { modelPackageArn: "arn:aws:sagemaker:ap-southeast-4:404040404041:model-package/churn-predictor-churn-scorer/6" });
    const before = read("qa");
    const { code, err } = await promote(["--from", "sandbox", "--to", "qa"]);
    expect(code).toBe(1);
    expect(err).toEqual(["promote: refusing to promote, nothing written: Pulumi.qa.yaml: mlplatform:endpoints.churn-scorer.source.modelPackageArn: "
      + "is derived from the service definition now; write version: 6 instead "
      + "(the registry account 404040404041 and region ap-southeast-4 come from .projenrc.ts)"]);
    expect(sm.calls()).toHaveLength(0);
    expect(read("qa")).toBe(before);
  });

  it("GIVEN an endpoint that serves another model in the target THEN it is refused naming both", async () => {
    edit("qa", ["churn-scorer", "model"], "doc-embedder");
    const { code, err } = await promote(["--from", "sandbox", "--to", "qa"]);
    expect(code).toBe(1);
    expect(err[0]).toContain("endpoint churn-scorer serves model churn-scorer in Pulumi.sandbox.yaml but doc-embedder in Pulumi.qa.yaml");
  });

  it("GIVEN an endpoint without a source THEN it is refused naming the file and endpoint", async () => {
    edit("sandbox", ["churn-scorer", "source"], { modelPackage: "typo" });
    const { code, err } = await promote(["--from", "sandbox", "--to", "qa"]);
    expect(code).toBe(1);
    expect(err[0]).toContain("Pulumi.sandbox.yaml: endpoint churn-scorer needs a model and a source with version, or imageTag (or imageDigest) and modelDataKey");
  });

  it("GIVEN endpoints that are not a map THEN it is refused", async () => {
    write("qa", read("qa").replace(/ {2}mlplatform:endpoints:\n[\s\S]*$/, "  mlplatform:endpoints: []\n"));
    const { code, err } = await promote(["--from", "sandbox", "--to", "qa"]);
    expect(code).toBe(1);
    expect(err[0]).toContain("Pulumi.qa.yaml: config.mlplatform:endpoints must be a map of endpoints");
  });

  it("GIVEN an image source whose model data key is not a string THEN it is refused", async () => {
    edit("sandbox", ["doc-embedder", "source", "modelDataKey"], 3);
    const { code, err } = await promote(["--from", "sandbox", "--to", "qa"]);
    expect(code).toBe(1);
    expect(err[0]).toContain("Pulumi.sandbox.yaml: endpoint doc-embedder: source.modelDataKey must be a string");
  });

  it("GIVEN a version written as a string THEN it is refused: a version is a number", async () => {
    edit("sandbox", ["churn-scorer", "source", "version"], "7");
    const { code, err } = await promote(["--from", "sandbox", "--to", "qa"]);
    expect(code).toBe(1);
    expect(err[0]).toContain("Pulumi.sandbox.yaml: endpoint churn-scorer: source.version must be a version number");
  });

  it("GIVEN a promoted value written as a YAML alias in the target THEN it is refused for a hand edit", async () => {
    write("qa", read("qa").replace("\nconfig:\n", "\nx-current: &current 6\nconfig:\n").replace("version: 6", "version: *current"));
    const before = read("qa");
    const { code, err } = await promote(["--from", "sandbox", "--to", "qa", "--model", "churn-scorer"]);
    expect(code).toBe(1);
    expect(err[0]).toBe("promote: Pulumi.qa.yaml: config.mlplatform:endpoints.churn-scorer.source.version is the YAML alias *current, "
      + "a value shared with &current; write the value itself in place of *current and promote again");
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
    expect(err).toEqual([READER_LINE, "promote: Pulumi.qa.yaml changed while promoting; nothing written, run the promotion again"]);
    expect(read("qa")).toMatch(/# edited meanwhile\n$/);
    expect(endpointsOf(read("qa"))["churn-scorer"].source.version).toBe(6);
    expect(leftovers()).toEqual([]);
  });

  it("GIVEN a target file that is not valid YAML THEN it is refused naming the file", async () => {
    write("qa", "config:\n  mlplatform:endpoints: [\n");
    const { code, err } = await promote(["--from", "sandbox", "--to", "qa"]);
    expect(code).toBe(1);
    expect(err[0]).toMatch(/^promote: Pulumi\.qa\.yaml: \(file\): is not valid YAML: /);
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
    expect(tasks.promote.steps).toEqual([{ execArgs: ["ts-node", "--transpile-only", "scripts/promote.ts"], receiveArgs: true }]);
    rmSync(project.outdir, { recursive: true, force: true });
  });

  it("GIVEN --help THEN the options are listed", async () => {
    const { code, stdout } = await promote(["--help"]);
    expect(code).toBe(0);
    for (const option of ["--from", "--to", "--model", "--dry-run", "--skip-stage", "--reason", "--json"]) expect(stdout).toContain(option);
  });
});
