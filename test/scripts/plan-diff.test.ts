import { execFileSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseDocument, type Document } from "yaml";
import { HELP, main } from "../../scripts/plan/cli";
import { diffPlans, type ResourceChange, type StackDiff } from "../../scripts/plan/diff";
import { planStack } from "../../scripts/plan/engine";
import { INTENT_LABEL, type DeletionIntent } from "../../scripts/plan/intent";
import { diffMarkdown } from "../../scripts/plan/markdown";
import type { StackPlan } from "../../scripts/plan/types";
import { FIXTURE_ROOT } from "../fixtures/project";
import { FIXTURE } from "../fixtures/service";
import { endpointPath } from "../support/stack-files";

/** `plan diff`: against a git revision of the stack files, and between two stacks (promotion review), on the fixture project. */

const SERVICE = FIXTURE.serviceName;
const [SCORER, EMBEDDER] = FIXTURE.models;
/** Logical names the program gives a stack's resources (components/names.ts and the components). */
const endpointResource = (model: string, service = SERVICE) => `${service}-${model}-endpoint`;
const bucketResource = (stage: string, service = SERVICE) => `${service}-${stage}-bucket-bucket`;
const keyResource = (stage: string, service = SERVICE) => `${service}-${stage}-key-key`;

interface Run {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

async function plan(...argv: string[]): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (l) => out.push(l), err: (l) => err.push(l) }, FIXTURE_ROOT);
  return { code, out: out.join("\n"), err: err.join("\n") };
}

const diffsOf = (run: Run) => (JSON.parse(run.out) as { diffs: StackDiff[] }).diffs;
const summary = (changes: readonly ResourceChange[]) => changes.map((c) => [c.op, c.type, c.name, c.op === "replace" ? c.causes : c.properties]);
const findingsOf = (diff: StackDiff) => diff.findings.map((f) => [f.check, f.severity, f.resource]);
/**
 * The replacement findings of a diff, without the admin-change ones (IAM and key changes only an
 * administrator may apply), which test/scripts/plan-admin-change.test.ts covers.
 */
const hazardsOf = (diff: StackDiff) => diff.findings.filter((f) => f.check !== "admin-change");
const hazardFindingsOf = (diff: StackDiff) => hazardsOf(diff).map((f) => [f.check, f.severity, f.resource]);

/** A git repository holding a copy of the fixture project's Pulumi files, committed once. */
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
  for (const file of readdirSync(FIXTURE_ROOT).filter((f) => /^Pulumi(\.[^.]+)?\.yaml$/.test(f))) copyFileSync(join(FIXTURE_ROOT, file), join(repo, file));
  git("init", "-q");
  git("add", ".");
  git("commit", "-q", "-m", "stack files as shipped");
});
afterEach(() => rmSync(repo, { recursive: true, force: true }));

describe("plan diff --against <revision>", () => {
  it("GIVEN one model version bumped in prod WHEN diffed against HEAD THEN exactly its Model and EndpointConfiguration are replaced and its Endpoint updated", async () => {
    edit("Pulumi.prod.yaml", (d) => d.setIn(endpointPath(SCORER, "source", "version"), 7));
    const run = await plan("diff", "--against", "HEAD", "--stack", "prod", "--json", "--dir", repo);
    expect(run.code).toBe(0);
    const [diff] = diffsOf(run);
    expect(summary(diff.changes)).toEqual([
      ["replace", "aws:sagemaker/model:Model", `${SERVICE}-${SCORER}-model`, ["primaryContainer.modelPackageName"]],
      ["replace", "aws:sagemaker/endpointConfiguration:EndpointConfiguration", `${SERVICE}-${SCORER}-config`, ["productionVariants[0].modelName"]],
      ["update", "aws:sagemaker/endpoint:Endpoint", endpointResource(SCORER), ["endpointConfigName"]],
    ]);
    const [model, config, endpoint] = diff.changes;
    expect(model.physicalName.after).not.toBe(model.physicalName.before);
    expect(endpoint.physicalName).toEqual({ before: `${SERVICE}-${SCORER}`, after: `${SERVICE}-${SCORER}` });
    expect(config.physicalName.after).toMatch(new RegExp(`^${SERVICE}-${SCORER}-config-[0-9a-f]{7}$`));
    expect(diff.endpoints).toEqual([{
      endpoint: SCORER,
      model: { before: `model-package ${SERVICE}-${SCORER}/6`, after: `model-package ${SERVICE}-${SCORER}/7` },
      settings: [],
    }]);
    expect(diff.findings).toEqual([]);
  });

  it("GIVEN a rollback alarm added to prod's list WHEN diffed THEN the Endpoint is REPLACED delete-first and that is an error naming the alarm key", async () => {
    edit("Pulumi.prod.yaml", (d) => d.setIn(endpointPath(SCORER, "alarms", "additionalRollbackAlarmNames"), d.createNode([`${SCORER}-slo`])));
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
      resource: endpointResource(SCORER),
      configKey: `mlplatform:endpoints.${SCORER}.alarms.additionalRollbackAlarmNames`,
    })]);
    expect(diff.findings[0].message).toContain(`REPLACE sagemaker:Endpoint ${SERVICE}-${SCORER} in stack prod, caused by deploymentConfig.autoRollbackConfiguration`);
    expect(diff.findings[0].message).toContain(`If that is intended, confirm it with --allow-delete ${endpointResource(SCORER)}`);
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
      physicalName: { before: `${SERVICE}-qa-${FIXTURE.accounts.qa}-${FIXTURE.region}`, after: `${SERVICE}-qa-444444444444-${FIXTURE.region}` },
    })]);
    expect(diff.findings.filter((f) => f.check === "replacement").map((f) => f.resource)).toContain(bucketResource("qa"));
  });

  it("GIVEN registryStage moved to qa WHEN diffed THEN the registry stack replaces its artifact bucket in qa's account (an error), and no stage stack changes a registry resource", async () => {
    edit("Pulumi.yaml", (d) => d.setIn(["config", "mlplatform:registryStage"], "qa"));
    edit("Pulumi.registry.yaml", (d) => d.setIn(["config", "aws:allowedAccountIds"], d.createNode([FIXTURE.accounts.qa])));
    const run = await plan("diff", "--against", "HEAD", "--json", "--dir", repo);
    expect(run.code).toBe(1);
    const diffs = diffsOf(run);
    expect(diffs.map((d) => d.stack)).toEqual(["registry", "sandbox", "qa", "prod"]);
    const [registry, ...stages] = diffs;
    expect(registry.changes.filter((c) => c.type === "aws:s3/bucket:Bucket")).toEqual([expect.objectContaining({
      op: "replace",
      physicalName: {
        before: `${SERVICE}-artifacts-${FIXTURE.accounts.sandbox}-${FIXTURE.region}`,
        after: `${SERVICE}-artifacts-${FIXTURE.accounts.qa}-${FIXTURE.region}`,
      },
    })]);
    expect(registry.findings.filter((f) => f.severity === "error").map((f) => f.resource)).toContain(`${SERVICE}-registry-artifacts-bucket`);
    const registryTypes = ["aws:sagemaker/modelPackageGroup:ModelPackageGroup", "aws:ecr/repository:Repository", "mlplatform:registry:RegistryAccount"];
    for (const stage of stages) {
      expect([stage.stack, stage.changes.filter((c) => registryTypes.includes(c.type) || c.name.includes("-registry-"))]).toEqual([stage.stack, []]);
    }
  });

  describe("deleting an endpoint, a bucket or a key", () => {
    const removeEmbedder = (stage: string) => edit(`Pulumi.${stage}.yaml`, (d) => d.deleteIn(endpointPath(EMBEDDER)));

    it("GIVEN an endpoint removed from qa's stack file WHEN diffed THEN deleting it is an error naming the stack, the resource and how to confirm it", async () => {
      removeEmbedder("qa");
      const run = await plan("diff", "--against", "HEAD", "--stack", "qa", "--json", "--dir", repo);
      expect(run.code).toBe(1);
      const [diff] = diffsOf(run);
      expect(diff.changes.every((c) => c.op === "delete" && c.name.startsWith(`${SERVICE}-${EMBEDDER}`))).toBe(true);
      expect(diff.findings.map((f) => [f.check, f.severity, f.stack, f.resource, f.message])).toEqual([[
        "replacement", "error", "qa", endpointResource(EMBEDDER),
        `DELETE sagemaker:Endpoint ${SERVICE}-${EMBEDDER} in stack qa: clients calling it will fail. `
        + `If that is intended, confirm it with --allow-delete ${endpointResource(EMBEDDER)} (or --allow-deletions), `
        + `or on a pull request with the label "${INTENT_LABEL}"`,
      ]]);
    });

    it("GIVEN the same deletion WITH --allow-delete <its logical name> THEN it is a warning that still says what it costs, and the exit status is 0", async () => {
      removeEmbedder("qa");
      const run = await plan("diff", "--against", "HEAD", "--stack", "qa", "--json", "--dir", repo, "--allow-delete", endpointResource(EMBEDDER));
      expect(run.code).toBe(0);
      const [diff] = diffsOf(run);
      expect(diff.findings.map((f) => [f.check, f.severity, f.resource, f.message])).toEqual([[
        "replacement-hazard", "warning", endpointResource(EMBEDDER),
        `DELETE sagemaker:Endpoint ${SERVICE}-${EMBEDDER} in stack qa: clients calling it will fail (intended: --allow-delete ${endpointResource(EMBEDDER)})`,
      ]]);
      expect(run.err).toBe("");
    });

    it("GIVEN the endpoint removed from qa and prod WHEN only qa's URN is allowed THEN qa's deletion is a warning and prod's is still an error", async () => {
      removeEmbedder("qa");
      removeEmbedder("prod");
      const [qa] = diffsOf(await plan("diff", "--against", "HEAD", "--stack", "qa", "--json", "--dir", repo));
      const urn = qa.changes.find((c) => c.type === "aws:sagemaker/endpoint:Endpoint")!.urn;
      expect(urn).toContain("urn:pulumi:qa::");
      const run = await plan("diff", "--against", "HEAD", "--json", "--dir", repo, "--allow-delete", urn);
      expect(run.code).toBe(1);
      expect(diffsOf(run).map((d) => [d.stack, d.findings.map((f) => [f.check, f.severity])])).toEqual([
        ["registry", []],
        ["sandbox", []],
        ["qa", [["replacement-hazard", "warning"]]],
        ["prod", [["replacement", "error"]]],
      ]);
    });

    it("GIVEN a service rename WHEN prod is diffed THEN deleting its bucket, its key and both endpoints is an error each, and --allow-deletions makes them warnings", async () => {
      edit("Pulumi.yaml", (d) => d.setIn(["config", "mlplatform:serviceName"], "renamed-service"));
      const run = await plan("diff", "--against", "HEAD", "--stack", "prod", "--json", "--dir", repo);
      expect(run.code).toBe(1);
      const expected = [keyResource("prod"), bucketResource("prod"), endpointResource(EMBEDDER), endpointResource(SCORER)].sort();
      const [diff] = diffsOf(run);
      expect(diff.findings.filter((f) => f.severity === "error").map((f) => [f.check, f.resource]).sort())
        .toEqual(expected.map((r) => ["replacement", r]));
      // The renamed roles and boundary are changes only an administrator may apply: warnings naming the stack's account.
      const [hazards, adminChanges] = [hazardsOf(diff), diff.findings.filter((f) => f.check === "admin-change")];
      for (const f of hazards) expect(f.message).toContain("in stack prod: ");
      expect(adminChanges.length).toBeGreaterThan(0);
      for (const f of adminChanges) expect([f.severity, f.message]).toEqual(["warning", expect.stringContaining(`administrator credentials of account ${FIXTURE.accounts.prod}`)]);

      const allowed = await plan("diff", "--against", "HEAD", "--stack", "prod", "--json", "--dir", repo, "--allow-deletions");
      expect(allowed.code).toBe(0);
      const allowedHazards = hazardsOf(diffsOf(allowed)[0]);
      expect(allowedHazards.map((f) => [f.check, f.severity, f.resource]).sort()).toEqual(expected.map((r) => ["replacement-hazard", "warning", r]));
      for (const f of allowedHazards) expect(f.message).toMatch(/\(intended: --allow-deletions\)$/);
    });

    it("GIVEN --allow-delete naming nothing that is deleted WHEN diffed THEN it says so on stderr and the deletion stays an error", async () => {
      removeEmbedder("qa");
      const run = await plan("diff", "--against", "HEAD", "--stack", "qa", "--json", "--dir", repo, "--allow-delete", "no-such-resource");
      expect(run.code).toBe(1);
      expect(run.err).toBe("plan: --allow-delete no-such-resource matches no deleted or replaced endpoint, bucket or KMS key in the stacks diffed");
      expect(findingsOf(diffsOf(run)[0])).toEqual([["replacement", "error", endpointResource(EMBEDDER)]]);
    });
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
    edit("Pulumi.prod.yaml", (d) => d.setIn(endpointPath(SCORER, "instanceType"), "ml.c5.4xlarge"));
    const run = await plan("diff", "--against", "HEAD", "--stack", "prod", "--dir", repo);
    expect(run.out).toContain("0 create, 1 update, 1 replace, 0 delete");
    expect(run.out).toMatch(new RegExp(`REPLACE\\s+sagemaker:EndpointConfiguration\\s+${SERVICE}-${SCORER}-config\\s+\\S+ -> \\S+\\s+productionVariants\\[0\\]\\.instanceType`));
    expect(run.out).toContain("instanceType: \"ml.c5.2xlarge\" -> \"ml.c5.4xlarge\"");
  });

  describe("--summary <file>", () => {
    it("GIVEN an endpoint deleted in qa WHEN diffed with --summary THEN the file gets a Markdown row per stack and the error, after what it held", async () => {
      edit("Pulumi.qa.yaml", (d) => d.deleteIn(endpointPath(EMBEDDER)));
      const file = join(repo, "step-summary.md");
      writeFileSync(file, "earlier step\n");
      const run = await plan("diff", "--against", "HEAD", "--dir", repo, "--summary", file);
      expect(run.code).toBe(1);
      const markdown = readFileSync(file, "utf8");
      expect(markdown.startsWith("earlier step\n## Offline plan diff\n")).toBe(true);
      expect(markdown).toContain("| Stack | Creates | Updates | Replaces | Deletes | Errors | Warnings |");
      expect(markdown).toContain("| sandbox | 0 | 0 | 0 | 0 | 0 | 0 |");
      expect(markdown).toMatch(/\| qa \| 0 \| 0 \| 0 \| [1-9]\d* \| 1 \| 0 \|/);
      expect(markdown).toContain(`| **error** | \`replacement\` | \`${endpointResource(EMBEDDER)}\` |`);
      expect(markdown).toContain("**1 error**: the check fails.");
      // The human text still goes to stdout for the job log.
      expect(run.out).toContain("Stack qa:");
    });

    it("GIVEN a file that cannot be written WHEN diffed THEN it says which and exits 1", async () => {
      const run = await plan("diff", "--against", "HEAD", "--stack", "qa", "--dir", repo, "--summary", repo);
      expect(run.code).toBe(1);
      expect(run.err).toMatch(new RegExp(`^plan: --summary: cannot write ${repo.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}: `));
    });
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
    expect(diff).toMatchObject({ mode: "promotion", before: { stack: "sandbox", account: FIXTURE.accounts.sandbox }, after: { stack: "qa", account: FIXTURE.accounts.qa } });
    const scorer = diff.endpoints.find((e) => e.endpoint === SCORER);
    expect(scorer?.model).toEqual({ before: `model-package ${SERVICE}-${SCORER}/7`, after: `model-package ${SERVICE}-${SCORER}/6` });
    expect(scorer?.settings).toEqual(expect.arrayContaining([
      { setting: "instanceType", before: "ml.m5.large", after: "ml.m5.xlarge" },
      { setting: "instanceCount", before: 1, after: 2 },
      { setting: "deployment.strategy", before: "all-at-once", after: "linear" },
    ]));
    const embedder = diff.endpoints.find((e) => e.endpoint === EMBEDDER);
    expect(embedder?.model.before).toContain(`triton-24.09-${EMBEDDER}-v3`);
    expect(embedder?.model.after).toContain(`triton-24.09-${EMBEDDER}-v2`);
  });

  it("GIVEN qa and prod serving the same versions WHEN compared THEN no Model differs once qa is translated to prod's account", async () => {
    const [diff] = diffsOf(await plan("diff", "--from", "qa", "--to", "prod", "--json"));
    expect(diff.changes.filter((c) => c.type === "aws:sagemaker/model:Model")).toEqual([]);
    expect(diff.changes.filter((c) => c.type === "aws:sagemaker/endpointConfiguration:EndpointConfiguration").map((c) => c.op)).toEqual(["replace", "replace"]);
    expect(diff.changes.filter((c) => c.type.startsWith("aws:iam/"))).toEqual([]);
    expect(diff.endpoints.map((e) => [e.endpoint, e.model.before === e.model.after])).toEqual([[SCORER, true], [EMBEDDER, true]]);
    expect(diff.stackSettings).toContainEqual({ setting: "noncurrentVersionExpirationDays", before: 90, after: 365 });
  });

  it("GIVEN prod's endpoint with an extra rollback alarm WHEN compared with qa THEN copying that setting across is a warning that it replaces the live endpoint", async () => {
    edit("Pulumi.prod.yaml", (d) => d.setIn(endpointPath(SCORER, "alarms", "additionalRollbackAlarmNames"), d.createNode([`${SCORER}-slo`])));
    const run = await plan("diff", "--from", "qa", "--to", "prod", "--json", "--dir", repo);
    expect(run.code).toBe(0);
    const [diff] = diffsOf(run);
    expect(diff.findings.filter((f) => f.check === "replacement-hazard").map((f) => [f.severity, f.resource, f.configKey])).toEqual([
      ["warning", endpointResource(SCORER), `mlplatform:endpoints.${SCORER}.alarms.additionalRollbackAlarmNames`],
    ]);
    expect(diff.findings.find((f) => f.check === "replacement-hazard")?.message).toContain("would replace the live endpoint");
  });

  it("GIVEN two stacks compared WITH --summary THEN the Markdown row names both", async () => {
    const file = join(repo, "summary.md");
    const run = await plan("diff", "--from", "qa", "--to", "prod", "--summary", file);
    expect(run.code).toBe(0);
    expect(readFileSync(file, "utf8")).toMatch(/\| qa -&gt; prod \| \d+ \| \d+ \| \d+ \| \d+ \| 0 \| \d+ \|/);
  });

  it.each([
    [["--from", "qa"], "plan: --to needs a stack name (registry, sandbox, qa, prod) (see plan --help)"],
    [["--from", "qa", "--to", "qa"], "plan: --from and --to name the same stack \"qa\" (see plan --help)"],
    [["--from", "qa", "--to", "staging"], "plan: --to: unknown stack \"staging\"; the stacks are registry, sandbox, qa, prod (the registry, then mlplatform:stages in Pulumi.yaml) (see plan --help)"],
    [["--from", "qa", "--to", "prod", "--stack", "qa"], "plan: --stack does not go with --from/--to: the two stacks are the ones compared (see plan --help)"],
    [["--from", "qa", "--to", "prod", "--allow-deletions"],
      "plan: --allow-delete and --allow-deletions go with --against: comparing two stacks deletes nothing (see plan --help)"],
    [["--against", "HEAD", "--allow-delete", ""], "plan: --allow-delete needs a logical name or URN (see plan --help)"],
    [["--against", "HEAD", "--summary", ""], "plan: --summary needs a file name (see plan --help)"],
    [["--against", "HEAD", "--from", "qa"], "plan: use either --against <rev> or --from <stage> --to <stage>, not both (see plan --help)"],
    [[], "plan: plan diff needs --against <git-revision>, or --from <stage> and --to <stage> (see plan --help)"],
  ])("GIVEN diff %j WHEN run THEN it exits 2 with %s", async (args, message) => {
    const run = await plan("diff", ...args);
    expect(run).toEqual({ code: 2, out: "", err: message });
  });
});

describe("plan diff --help", () => {
  it("GIVEN --help THEN it explains how a change confirms a deletion: the options, the pull-request label, and that the finding stays a warning", async () => {
    const run = await plan("diff", "--help");
    expect(run.code).toBe(0);
    expect(run.out).toBe(HELP);
    for (const text of ["--allow-delete <name>", "--allow-deletions", `"${INTENT_LABEL}"`, "--summary <file>", "becomes a warning (replacement-hazard)"]) {
      expect(HELP).toContain(text);
    }
  });
});

describe("diffPlans", () => {
  let qa: StackPlan;
  beforeAll(async () => { qa = await planStack(FIXTURE_ROOT, "qa"); });

  const revision = (before: StackPlan, after: StackPlan, intent?: DeletionIntent) =>
    diffPlans(before, after, { mode: "revision", beforeLabel: "a", afterLabel: "b", intent });
  const without = (stack: StackPlan, name: string): StackPlan => ({ ...stack, resources: stack.resources.filter((r) => r.name !== name) });

  it("GIVEN an explicitly named IAM role whose path changes WHEN diffed THEN its delete-first replacement is a warning", () => {
    const role = qa.resources.find((r) => r.type === "aws:iam/role:Role" && r.name.endsWith("-execution-role"));
    expect(role?.autoNamed).toBe(false);
    const after = { ...qa, resources: qa.resources.map((r) => (r === role ? { ...r, inputs: { ...r.inputs, path: "/ml/" } } : r)) };
    const diff = revision(qa, after);
    expect(diff.changes.map((c) => [c.op, c.name, c.deleteFirst, c.causes])).toEqual([["replace", role?.name, true, ["path"]]]);
    // Replacing a role is also the administrator's to apply: deployers create and delete no role.
    expect(hazardFindingsOf(diff)).toEqual([["replacement-hazard", "warning", role?.name]]);
    expect(hazardsOf(diff)[0].message).toContain("delete-first (its explicit name cannot exist twice), caused by path");
    // Replacing a role is also the administrator's to apply: deployers create and delete no role.
    expect(findingsOf(diff)).toContainEqual(["admin-change", "warning", role?.name]);
  });

  it("GIVEN a KMS key whose key spec changes WHEN diffed THEN replacing it is an error, and a warning when its replacement is intended", () => {
    const after = {
      ...qa,
      resources: qa.resources.map((r) => (r.type === "aws:kms/key:Key" ? { ...r, inputs: { ...r.inputs, customerMasterKeySpec: "RSA_2048" } } : r)),
    };
    const diff = revision(qa, after);
    expect(summary(diff.changes)).toEqual([["replace", "aws:kms/key:Key", keyResource("qa"), ["customerMasterKeySpec"]]]);
    expect(hazardFindingsOf(diff)).toEqual([["replacement", "error", keyResource("qa")]]);
    expect(hazardsOf(diff)[0].message).toContain("REPLACE kms:Key");
    expect(hazardFindingsOf(revision(qa, after, { all: false, resources: [keyResource("qa")] }))).toEqual([["replacement-hazard", "warning", keyResource("qa")]]);
  });

  it.each([
    ["an Endpoint", "aws:sagemaker/endpoint:Endpoint", endpointResource(SCORER), "clients calling it will fail"],
    ["a bucket", "aws:s3/bucket:Bucket", bucketResource("qa"), "its data goes with it"],
    ["a KMS key", "aws:kms/key:Key", keyResource("qa"), "data encrypted under it becomes unreadable"],
  ])("GIVEN %s deleted WHEN diffed THEN it is an error, and a warning when intended by name or by --allow-deletions", (_what, type, name, consequence) => {
    expect(qa.resources.filter((r) => r.name === name).map((r) => r.type)).toEqual([type]);
    const after = without(qa, name);
    const plain = revision(qa, after);
    expect(plain.changes.map((c) => [c.op, c.name])).toEqual([["delete", name]]);
    expect(hazardFindingsOf(plain)).toEqual([["replacement", "error", name]]);
    expect(hazardsOf(plain)[0].message).toContain(`in stack qa: ${consequence}`);
    expect(hazardsOf(plain)[0].message).toContain(`--allow-delete ${name}`);
    expect(hazardsOf(plain)[0].message).toContain(INTENT_LABEL);
    for (const [intent, option] of [[{ all: false, resources: [name] }, `--allow-delete ${name}`], [{ all: true, resources: [] }, "--allow-deletions"]] as const) {
      const intended = revision(qa, after, intent);
      expect(hazardFindingsOf(intended)).toEqual([["replacement-hazard", "warning", name]]);
      expect(hazardsOf(intended)[0].message).toContain(consequence);
      expect(hazardsOf(intended)[0].message.endsWith(`(intended: ${option})`)).toBe(true);
    }
  });

  it("GIVEN another endpoint's name allowed WHEN an endpoint is deleted THEN its deletion is still an error", () => {
    const diff = revision(qa, without(qa, endpointResource(SCORER)), { all: false, resources: [endpointResource(EMBEDDER)] });
    expect(hazardFindingsOf(diff)).toEqual([["replacement", "error", endpointResource(SCORER)]]);
  });

  it("GIVEN resources of other types deleted (a role, an alarm, a model, a config) WHEN diffed THEN there is no replacement finding; each role deleted is an admin change", () => {
    const others = qa.resources.filter((r) => r.custom && ["aws:iam/role:Role", "aws:cloudwatch/metricAlarm:MetricAlarm",
      "aws:sagemaker/model:Model", "aws:sagemaker/endpointConfiguration:EndpointConfiguration"].includes(r.type));
    expect(new Set(others.map((r) => r.type)).size).toBe(4);
    const after = { ...qa, resources: qa.resources.filter((r) => !others.includes(r)) };
    const diff = revision(qa, after);
    expect(diff.changes.filter((c) => c.op === "delete").length).toBe(others.length);
    expect(hazardsOf(diff)).toEqual([]);
    for (const role of others.filter((r) => r.type === "aws:iam/role:Role")) expect(findingsOf(diff)).toContainEqual(["admin-change", "warning", role.name]);
  });

  it("GIVEN a stack compared with another that lacks an endpoint (promotion) THEN the missing endpoint is no finding: a promotion deletes nothing", () => {
    const diff = diffPlans(qa, without(qa, endpointResource(SCORER)), { mode: "promotion", beforeLabel: "qa", afterLabel: "qa" });
    expect(diff.changes.some((c) => c.op === "delete" && c.name === endpointResource(SCORER))).toBe(true);
    expect(diff.findings).toEqual([]);
  });
});

describe("diffMarkdown", () => {
  it("GIVEN text with Markdown and HTML in it THEN the table cells escape it, so a message cannot break the table", () => {
    const diff = {
      mode: "revision",
      stack: "qa",
      before: { label: "origin/main (abc)", stack: "qa", account: "" },
      after: { label: "working tree", stack: "qa", account: "" },
      changes: [],
      unchanged: 0,
      endpoints: [],
      stackSettings: [],
      notes: [],
      findings: [{ severity: "warning", check: "replacement-hazard", stack: "qa", urn: "u", resource: "r|x", configKey: null, message: "a | b <script>\nc" }],
    } satisfies StackDiff;
    const markdown = diffMarkdown([diff]);
    expect(markdown).toContain("| warning | `replacement-hazard` | `r\\|x` |  | a \\| b &lt;script&gt;<br>c |");
    expect(markdown).toContain("**No errors.**");
    expect(markdown.endsWith("\n")).toBe(true);
  });
});
