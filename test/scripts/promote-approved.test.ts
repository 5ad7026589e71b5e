import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ListModelPackagesCommand, type ModelApprovalStatus, SageMakerClient, SageMakerServiceException } from "@aws-sdk/client-sagemaker";
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts";
import { mockClient } from "aws-sdk-client-mock";
import { parse, parseDocument } from "yaml";
import type { ModelVersion } from "../../scripts/lib/registry";
import { main, type PromoteDeps } from "../../scripts/promote";
import {
  type ApprovedChange, type ApprovedPlan, approvedBranch, approvedPullRequest, latestApprovedVersion, PULL_REQUEST_FILES, type RegistryRef,
} from "../../scripts/promote/approved";
import { FIXTURE } from "../fixtures/service";
import { copyProject } from "../support/stack-files";

/**
 * `promote --from registry --to <first stage>`: the first stage follows the registry's approvals.
 * On a copy of the fixture project, whose first stage (sandbox) serves churn-scorer version 7 from
 * the registry and doc-embedder from an image; the registry (mocked) lists each group's versions.
 */

const FIRST = "sandbox";
const FILE = `Pulumi.${FIRST}.yaml`;
const ENDPOINTS = ["config", "mlplatform:endpoints"];
/** The fixture's registry lives in the first stage's account. */
const REGISTRY_ACCOUNT_ID = FIXTURE.accounts.sandbox;
/** A group and its versions' ARNs, written out from the fixture's values. */
const groupOf = (model: string) => `${FIXTURE.serviceName}-${model}`;
const arnOf = (model: string, version: number) => `arn:aws:sagemaker:${FIXTURE.region}:${REGISTRY_ACCOUNT_ID}:model-package/${groupOf(model)}/${version}`;
const READER_ROLE_ARN = `arn:aws:iam::${REGISTRY_ACCOUNT_ID}:role/${FIXTURE.serviceName}-registry-reader`;

const sm = mockClient(SageMakerClient);
const sts = mockClient(STSClient);

let dir: string;
let cleanup: () => void;

beforeEach(() => {
  sm.reset();
  sts.reset();
  ({ dir, cleanup } = copyProject(FIRST, {}));
  sts.on(GetCallerIdentityCommand).resolves({ Account: REGISTRY_ACCOUNT_ID, Arn: `arn:aws:sts::${REGISTRY_ACCOUNT_ID}:assumed-role/ci/run` });
  sts.on(AssumeRoleCommand).resolves({ Credentials: { AccessKeyId: "ASIAREADER", SecretAccessKey: "s", SessionToken: "t", Expiration: new Date() } });
});
afterEach(() => cleanup());

const read = () => readFileSync(join(dir, FILE), "utf8");
const endpointsOf = (text: string) => (parse(text) as { config: Record<string, Record<string, any>> }).config["mlplatform:endpoints"];
function edit(path: string[], value: unknown) {
  const doc = parseDocument(read());
  doc.setIn([...ENDPOINTS, ...path], value);
  writeFileSync(join(dir, FILE), doc.toString());
}

type Status = `${ModelApprovalStatus}`;
/** The registry lists these versions of a model's group (all statuses), each created on day `version` of 2026. */
function registryHas(model: string, versions: Record<number, Status | [Status, string]>) {
  sm.on(ListModelPackagesCommand, { ModelPackageGroupName: groupOf(model) }).resolves({
    ModelPackageSummaryList: Object.entries(versions).map(([v, s]) => ({
      ModelPackageGroupName: groupOf(model),
      ModelPackageVersion: Number(v),
      ModelPackageArn: arnOf(model, Number(v)),
      ModelApprovalStatus: Array.isArray(s) ? s[0] : s,
      ModelPackageStatus: Array.isArray(s) ? s[1] : "Completed",
      CreationTime: new Date(Date.UTC(2026, 0, Number(v))),
    })) as never,
  });
}
const listedGroups = () => sm.commandCalls(ListModelPackagesCommand).map((c) => c.args[0].input.ModelPackageGroupName);

async function follow(extra: string[] = [], deps: PromoteDeps = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(["--from", "registry", "--to", FIRST, ...extra], {
    cwd: dir, io: { out: (l) => out.push(l), err: (l) => err.push(l) }, sleep: async () => {}, planDiff: async () => undefined, ...deps,
  });
  return { code, out, err, stdout: out.join("\n") };
}

describe("promote --from registry: the first stage follows the latest approved version", () => {
  it("GIVEN newer approved versions and a newer pending one THEN the endpoint moves to the newest approved, not the newest", async () => {
    registryHas("churn-scorer", { 6: "Approved", 7: "Approved", 8: "Approved", 9: "PendingManualApproval" });
    const { code, out } = await follow();
    expect(code).toBe(0);
    expect(endpointsOf(read())["churn-scorer"].source.version).toBe(8);
    expect(out).toContain("churn-scorer: 7 -> 8 (8 is the newest approved version)");
    expect(out).toContain(`wrote ${FILE}`);
  });

  it("GIVEN the newest version rejected after the stage took it WHEN run again THEN the stage goes back to the previous approved version, saying why", async () => {
    registryHas("churn-scorer", { 5: "Approved", 6: "Approved", 7: "Rejected" });
    const { code, out } = await follow();
    expect(code).toBe(0);
    expect(endpointsOf(read())["churn-scorer"].source.version).toBe(6);
    expect(out).toContain("churn-scorer: 7 -> 6 (7 is no longer approved)");
  });

  it("GIVEN a version approved, then rejected, between two runs THEN the first run takes it and the second reverts it", async () => {
    registryHas("churn-scorer", { 7: "Approved", 8: "Approved" });
    await follow();
    expect(endpointsOf(read())["churn-scorer"].source.version).toBe(8);
    sm.reset();
    registryHas("churn-scorer", { 7: "Approved", 8: "Rejected" });
    const { out } = await follow();
    expect(endpointsOf(read())["churn-scorer"].source.version).toBe(7);
    expect(out).toContain("churn-scorer: 8 -> 7 (8 is no longer approved)");
  });

  it("GIVEN the newest approved version still being created THEN it is not followed yet", async () => {
    registryHas("churn-scorer", { 7: "Approved", 8: ["Approved", "InProgress"] });
    const before = read();
    const { code, out } = await follow();
    expect(code).toBe(0);
    expect(read()).toBe(before);
    expect(out).toContain("unchanged (already the latest approved version): churn-scorer");
  });

  it("GIVEN nothing approved THEN the endpoint is left alone with a warning naming the group, and the file is byte-identical", async () => {
    registryHas("churn-scorer", { 7: "Rejected", 8: "PendingManualApproval" });
    const before = read();
    const { code, out } = await follow();
    expect(code).toBe(0);
    expect(read()).toBe(before);
    expect(out).toContain(`warning: churn-scorer: no approved version of churn-scorer in the registry (group ${groupOf("churn-scorer")}); `
      + "left at version 7, which is no longer approved");
  });

  it("GIVEN the stage already serves the latest approved version THEN nothing is written and it says so", async () => {
    registryHas("churn-scorer", { 6: "Approved", 7: "Approved" });
    const before = read();
    const { code, out } = await follow();
    expect(code).toBe(0);
    expect(read()).toBe(before);
    expect(out).toContain(`nothing to change: ${FILE} is unchanged`);
  });

  it("GIVEN a change THEN only the version line differs: comments and every other line are byte-identical", async () => {
    registryHas("churn-scorer", { 7: "Approved", 9: "Approved" });
    const before = read().split("\n");
    await follow();
    const after = read().split("\n");
    expect(after).toHaveLength(before.length);
    const changed = after.flatMap((line, i) => (line === before[i] ? [] : [i]));
    expect(changed.map((i) => [before[i].trim(), after[i].trim()])).toEqual([["version: 7", "version: 9"]]);
    expect(after.filter((l) => l.trimStart().startsWith("#"))).toEqual(before.filter((l) => l.trimStart().startsWith("#")));
    expect(before.some((l) => l.trimStart().startsWith("#"))).toBe(true);
  });

  it("GIVEN an image endpoint and a multi-model endpoint THEN both are left alone, each saying why, and only the registry endpoint's group is read", async () => {
    edit(["merchant-models"], {
      model: "churn-scorer",
      source: { imageTag: "sklearn-mme-1.2-1" },
      instanceType: "ml.m5.large",
      instanceCount: 1,
      multiModel: true,
      deployment: { strategy: "all-at-once" },
    });
    registryHas("churn-scorer", { 7: "Approved", 8: "Approved" });
    const before = endpointsOf(read());
    const { code, stdout, err } = await follow(["--json"]);
    expect({ code, err }).toEqual({ code: 0, err: [expect.stringMatching(/^promote: as /)] });
    const result = JSON.parse(stdout) as ApprovedPlan;
    expect(result.leftAlone.map((l) => l.endpoint)).toEqual(["doc-embedder", "merchant-models"]);
    expect(result.leftAlone[0].reason).toMatch(/^served from an image/);
    expect(result.leftAlone[1].reason).toMatch(/^a multi-model endpoint/);
    expect(listedGroups()).toEqual([groupOf("churn-scorer")]);
    const after = endpointsOf(read());
    expect(after["doc-embedder"]).toEqual(before["doc-embedder"]);
    expect(after["merchant-models"]).toEqual(before["merchant-models"]);
  });

  it("GIVEN the human output THEN left-alone endpoints get one line each", async () => {
    registryHas("churn-scorer", { 7: "Approved" });
    const { out } = await follow();
    expect(out.filter((l) => l.startsWith("left alone: doc-embedder: served from an image"))).toHaveLength(1);
  });

  it("GIVEN --json THEN each change carries its reason and both versions' ARNs, and the old version's status", async () => {
    registryHas("churn-scorer", { 6: "Approved", 7: "Rejected" });
    const { stdout } = await follow(["--json"]);
    const result = JSON.parse(stdout) as ApprovedPlan & { written: boolean };
    expect(result.changes).toEqual([{
      endpoint: "churn-scorer",
      model: "churn-scorer",
      key: "version",
      oldValue: 7,
      newValue: 6,
      reason: "7 is no longer approved",
      arn: arnOf("churn-scorer", 6),
      previousArn: arnOf("churn-scorer", 7),
      previousStatus: "Rejected",
    }]);
    expect(result.written).toBe(true);
  });

  it("GIVEN a hand-edited version that is not in the registry THEN it moves to the latest approved, saying the old one is unknown", async () => {
    edit(["churn-scorer", "source", "version"], 12);
    registryHas("churn-scorer", { 6: "Approved", 7: "Approved" });
    const { out } = await follow();
    expect(out).toContain("churn-scorer: 12 -> 7 (12 is not in the registry)");
  });

  it("GIVEN --dry-run THEN the change is shown and nothing is written", async () => {
    registryHas("churn-scorer", { 7: "Approved", 8: "Approved" });
    const before = read();
    const { code, out } = await follow(["--dry-run"]);
    expect(code).toBe(0);
    expect(read()).toBe(before);
    expect(out).toContain(`dry run: ${FILE} not written`);
  });

  it("GIVEN --model for the image's model THEN nothing follows the registry and AWS is not called", async () => {
    const { code, out } = await follow(["--model", "doc-embedder"]);
    expect(code).toBe(0);
    expect(out).toContain(`nothing follows the registry: no endpoint of ${FILE} is served from a registry version`);
    expect(sm.calls()).toHaveLength(0);
    expect(sts.calls()).toHaveLength(0);
  });

  it("GIVEN the registry is read THEN it is read as the registry's reader role", async () => {
    registryHas("churn-scorer", { 7: "Approved" });
    const { err } = await follow();
    expect(sts.commandCalls(AssumeRoleCommand).map((c) => c.args[0].input.RoleArn)).toEqual([READER_ROLE_ARN]);
    expect(err).toEqual([`promote: as ${READER_ROLE_ARN} (the reader role; --role-arn overrides)`]);
  });
});

describe("promote --from registry refuses, and leaves the file as it was", () => {
  it.each(["qa", "prod"])("GIVEN --to %s (not the first stage) THEN it is refused as bad usage, naming the first stage and the promotion to use", async (to) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(["--from", "registry", "--to", to], { cwd: dir, io: { out: (l) => out.push(l), err: (l) => err.push(l) } });
    expect(code).toBe(2);
    const before = to === "qa" ? FIRST : "qa";
    expect(err[0]).toBe(`promote: --from registry goes to the first stage only (${FIRST}); approved versions reach ${to} by promotion from the stage `
      + `before it: promote --from ${before} --to ${to} (see promote --help)`);
    expect(sm.calls()).toHaveLength(0);
  });

  it("GIVEN --to a name that is not a stage THEN it is refused with the stage order", async () => {
    const err: string[] = [];
    const code = await main(["--from", "registry", "--to", "registry"], { cwd: dir, io: { out: () => {}, err: (l) => err.push(l) } });
    expect(code).toBe(2);
    expect(err[0]).toMatch(/^promote: --to "registry" is not a stage; the stages in Pulumi.yaml are sandbox -> qa -> prod/);
  });

  it("GIVEN --skip-stage with --from registry THEN it is refused", async () => {
    const { code, err } = await follow(["--skip-stage", "--reason", "x"]);
    expect(code).toBe(2);
    expect(err[0]).toMatch(/^promote: --skip-stage and --reason go with promotions between stages, not with --from registry/);
  });

  it("GIVEN --pull-request-dir on a promotion between stages THEN it is refused", async () => {
    const err: string[] = [];
    const code = await main(["--from", "sandbox", "--to", "qa", "--pull-request-dir", "x"], { cwd: dir, io: { out: () => {}, err: (l) => err.push(l) } });
    expect(code).toBe(2);
    expect(err[0]).toMatch(/^promote: --pull-request-dir goes with --from registry/);
  });

  it("GIVEN --model that no endpoint of the first stage serves THEN it is refused", async () => {
    edit(["doc-embedder", "model"], "churn-scorer");
    const { code, err } = await follow(["--model", "doc-embedder"]);
    expect(code).toBe(1);
    expect(err[0]).toBe(`promote: no endpoint of ${FILE} serves model "doc-embedder"; nothing to follow`);
  });

  it("GIVEN an endpoint without a version or image source THEN it is refused naming the file and endpoint", async () => {
    edit(["churn-scorer", "source"], { modelPackage: "typo" });
    const { code, err } = await follow();
    expect(code).toBe(1);
    expect(err.join("\n")).toContain(`${FILE}: endpoint churn-scorer needs a model and a source with version`);
  });

  it("GIVEN the registry cannot be listed THEN it fails in one line naming the group, and the file is byte-identical", async () => {
    sm.on(ListModelPackagesCommand).rejects(new SageMakerServiceException({
      name: "AccessDeniedException", message: "not authorized", $fault: "client", $metadata: { httpStatusCode: 403 },
    }));
    const before = read();
    const { code, err } = await follow();
    expect(code).toBe(1);
    expect(err.at(-1)).toBe(`promote: cannot list the versions of ${groupOf("churn-scorer")} in the registry, nothing written: `
      + "AWS AccessDeniedException: not authorized");
    expect(read()).toBe(before);
  });

  it("GIVEN the version written as a YAML alias THEN the in-place edit is refused and the file is byte-identical", async () => {
    const text = read().replace("\nconfig:\n", "\nx-current: &current 7\nconfig:\n").replace(/^( *)version: 7$/m, "$1version: *current");
    writeFileSync(join(dir, FILE), text);
    registryHas("churn-scorer", { 7: "Approved", 8: "Approved" });
    const { code, err } = await follow();
    expect(code).toBe(1);
    expect(err.at(-1)).toBe(`promote: ${FILE}: config.mlplatform:endpoints.churn-scorer.source.version is the YAML alias *current, `
      + "a value shared with &current; write the value itself in place of *current and promote again");
    expect(read()).toBe(text);
  });

  it("GIVEN the file changes while the flow runs THEN nothing is written and the other edit is kept", async () => {
    registryHas("churn-scorer", { 7: "Approved", 8: "Approved" });
    const other = `${read()}# edited meanwhile\n`;
    const { code, err } = await follow([], { planDiff: async () => { writeFileSync(join(dir, FILE), other); return undefined; } });
    expect(code).toBe(1);
    expect(err.at(-1)).toBe(`promote: ${FILE} changed while promoting; nothing written, run the promotion again`);
    expect(read()).toBe(other);
  });

  it("GIVEN a --pull-request-dir that cannot be created THEN it fails naming the option", async () => {
    registryHas("churn-scorer", { 7: "Approved" });
    writeFileSync(join(dir, "taken"), "");
    const { code, err } = await follow(["--pull-request-dir", "taken"]);
    expect(code).toBe(1);
    expect(err.at(-1)).toMatch(/^promote: cannot write the pull request's files into --pull-request-dir .*taken \((EEXIST|ENOTDIR)\)$/);
  });
});

describe("promote --from registry --pull-request-dir", () => {
  it("GIVEN a rollback THEN the title and body files describe it, with both ARNs and the branch, and name no machine path", async () => {
    registryHas("churn-scorer", { 6: "Approved", 7: "Rejected" });
    const prDir = join(dir, "pr");
    const { code, stdout } = await follow(["--pull-request-dir", prDir, "--json"]);
    expect(code).toBe(0);
    expect(readdirSync(prDir).sort()).toEqual([PULL_REQUEST_FILES.body, PULL_REQUEST_FILES.title].sort());
    const title = readFileSync(join(prDir, PULL_REQUEST_FILES.title), "utf8");
    const body = readFileSync(join(prDir, PULL_REQUEST_FILES.body), "utf8");
    expect(title).toBe(`${FIRST}: latest approved model versions (churn-scorer 7 -> 6)\n`);
    expect(body).toContain("| `churn-scorer` | `churn-scorer` | 7 -> 6 | 7 is no longer approved |");
    expect(body).toContain(`- \`churn-scorer\`: \`${arnOf("churn-scorer", 6)}\` (was \`${arnOf("churn-scorer", 7)}\`, Rejected)`);
    expect(body).not.toContain(dir);
    expect((JSON.parse(stdout) as { pullRequest: unknown }).pullRequest).toEqual({ branch: approvedBranch(FIRST), title: title.trim() });
  });

  it("GIVEN nothing to change THEN the files are still written (the workflow reads them) and the stack file is unchanged", async () => {
    registryHas("churn-scorer", { 7: "Approved" });
    const before = read();
    await follow(["--pull-request-dir", join(dir, "pr")]);
    expect(read()).toBe(before);
    expect(readFileSync(join(dir, "pr", PULL_REQUEST_FILES.title), "utf8")).toBe(`${FIRST}: already serves the latest approved versions\n`);
    expect(existsSync(join(dir, "pr", PULL_REQUEST_FILES.body))).toBe(true);
  });

  it("GIVEN a plan diff THEN the body shows it in a collapsed block", async () => {
    registryHas("churn-scorer", { 7: "Approved", 8: "Approved" });
    await follow(["--pull-request-dir", join(dir, "pr")], { planDiff: async () => ["~ update endpoint churn-scorer"] });
    const body = readFileSync(join(dir, "pr", PULL_REQUEST_FILES.body), "utf8");
    expect(body).toMatch(/<details><summary>Offline plan diff of sandbox<\/summary>\n\n```\n~ update endpoint churn-scorer\n```\n\n<\/details>/);
  });
});

describe("promote --help", () => {
  it("GIVEN --help THEN it documents --from registry and --pull-request-dir", async () => {
    const out: string[] = [];
    expect(await main(["--help"], { cwd: dir, io: { out: (l) => out.push(l), err: () => {} } })).toBe(0);
    expect(out.join("\n")).toMatch(/promote --from registry --to FIRST-STAGE .*--pull-request-dir DIR/);
    expect(out.some((l) => l.trimStart().startsWith("--pull-request-dir DIR"))).toBe(true);
  });
});

describe("latestApprovedVersion", () => {
  const version = (n: number, approvalStatus: string, packageStatus = "Completed", day = n): ModelVersion =>
    ({ arn: `arn-${n}`, version: n, approvalStatus, packageStatus, createdAt: new Date(Date.UTC(2026, 0, day)).toISOString() });

  it("GIVEN approved versions THEN the highest version number wins, whatever the creation order", () => {
    expect(latestApprovedVersion([version(9, "Approved", "Completed", 1), version(4, "Approved", "Completed", 20)])?.version).toBe(9);
  });

  it("GIVEN only rejected, pending or unfinished versions THEN there is none", () => {
    expect(latestApprovedVersion([version(3, "Rejected"), version(4, "PendingManualApproval"), version(5, "Approved", "Failed")])).toBeUndefined();
  });
});

describe("approvedPullRequest", () => {
  const registry: RegistryRef = { account: { accountId: "123456789012", region: "eu-central-2" }, serviceName: "svc" };
  const change = (endpoint: string, oldValue: number, newValue: number, reason: string): ApprovedChange => ({
    endpoint,
    model: `${endpoint}-model`,
    key: "version",
    oldValue,
    newValue,
    reason,
    arn: `arn:aws:sagemaker:eu-central-2:123456789012:model-package/svc-${endpoint}-model/${newValue}`,
    previousArn: `arn:aws:sagemaker:eu-central-2:123456789012:model-package/svc-${endpoint}-model/${oldValue}`,
    previousStatus: "Approved",
  });
  const plan = (changes: ApprovedChange[], rest: Partial<ApprovedPlan> = {}): ApprovedPlan =>
    ({ changes, unchanged: [], warnings: [], leftAlone: [], ...rest });
  const content = (p: ApprovedPlan, planDiff?: string[]) => approvedPullRequest({ stage: "dev", file: "Pulumi.dev.yaml", plan: p, registry, planDiff });

  it("GIVEN any plan THEN the branch is the stage's fixed branch and the file is the stage's stack file", () => {
    const pr = content(plan([change("a", 1, 2, "why")]));
    expect(pr.branch).toBe("approved/dev");
    expect(pr.branch).toBe(approvedBranch("dev"));
    expect(pr.file).toBe("Pulumi.dev.yaml");
  });

  it("GIVEN up to three changes THEN the title names each, old -> new", () => {
    expect(content(plan([change("a", 1, 2, "x"), change("b", 5, 4, "y")])).title).toBe("dev: latest approved model versions (a 1 -> 2, b 5 -> 4)");
  });

  it("GIVEN more than three changes THEN the title counts them", () => {
    const many = ["a", "b", "c", "d"].map((e) => change(e, 1, 2, "x"));
    expect(content(plan(many)).title).toBe("dev: latest approved model versions (4 endpoints)");
  });

  it("GIVEN no change THEN the title says the stage already serves the latest approved versions", () => {
    expect(content(plan([], { unchanged: ["a"] })).title).toBe("dev: already serves the latest approved versions");
  });

  it("GIVEN changes THEN the body has one table row per endpoint with model, old -> new and why, and both ARNs", () => {
    const changes = [change("a", 1, 2, "2 is the newest approved version"), change("b", 5, 4, "5 is no longer approved")];
    const body = content(plan(changes)).body;
    for (const c of changes) {
      expect(body).toContain(`| \`${c.endpoint}\` | \`${c.model}\` | ${c.oldValue} -> ${c.newValue} | ${c.reason} |`);
      expect(body).toContain(`\`${c.arn}\` (was \`${c.previousArn}\`, Approved)`);
    }
    expect(body).toContain("registry account 123456789012, eu-central-2");
  });

  it("GIVEN unchanged, warned and left-alone endpoints THEN the body lists each", () => {
    const body = content(plan([change("a", 1, 2, "x")], {
      unchanged: ["u1", "u2"], warnings: ["w: no approved version"], leftAlone: [{ endpoint: "img", reason: "served from an image" }],
    })).body;
    expect(body).toContain("Already at the latest approved version: `u1`, `u2`.");
    expect(body).toContain("- w: no approved version");
    expect(body).toContain("- `img`: served from an image");
  });

  it("GIVEN a plan diff containing backticks THEN its fence is longer than any run of them", () => {
    const body = content(plan([change("a", 1, 2, "x")]), ["```inner```", "plain"]).body;
    expect(body).toContain("````\n```inner```\nplain\n````");
  });

  it("GIVEN no change THEN no plan diff is shown", () => {
    expect(content(plan([]), ["~ something"]).body).not.toContain("<details>");
  });
});
