import type { Document } from "yaml";
import { stageNames } from "../../components/names";
import { diffPlans } from "../../scripts/plan/diff";
import { planStack } from "../../scripts/plan/engine";
import { FIXTURE_ROOT, FIXTURE_STAGES } from "../fixtures/project";
import { FIXTURE } from "../fixtures/service";
import { projectCopies } from "../support/stack-files";

/**
 * `plan diff` flags the IAM changes a stack's deployer may not make (components/ci-policies.ts):
 * in CI they would fail with AccessDenied, so the pull request says an administrator applies them.
 */

const QA = FIXTURE_STAGES[1];
const copy = projectCopies();

/** A copy of the fixture project with Pulumi.yaml edited. */
function projectWith(edit: (doc: Document) => void): string {
  return copy(QA, { project: edit });
}

async function adminFindings(stack: string, edit: (doc: Document) => void) {
  const before = await planStack(FIXTURE_ROOT, stack);
  const after = await planStack(projectWith(edit), stack);
  const diff = diffPlans(before, after, { mode: "revision", beforeLabel: "base", afterLabel: "head" });
  return diff.findings.filter((f) => f.check === "admin-change");
}

test("GIVEN another CI repository WHEN diffed THEN each role whose trust changes is an admin change, as a warning naming the account", async () => {
  const findings = await adminFindings(QA, (doc) => doc.setIn(["config", "mlplatform:ciPrincipal", "value", "repository"], "acme-test-org/other-repo"));
  const names = stageNames(FIXTURE.serviceName, QA, { accountId: FIXTURE.accounts.qa, region: FIXTURE.region });
  expect(findings.map((f) => f.severity)).toEqual(findings.map(() => "warning"));
  expect(findings.map((f) => f.message).join("\n")).toContain(`role ${names.deployerRole}: its trust policy or boundary changes`);
  expect(findings.map((f) => f.message).join("\n")).toContain(`role ${names.previewerRole}: its trust policy or boundary changes`);
  expect(findings[0].message).toContain(`administrator credentials of account ${FIXTURE.accounts.qa}`);
}, 60_000);

test("GIVEN a new model WHEN diffed THEN the execution role's policy (under the boundary) is no admin change, the deployer's policy is", async () => {
  const findings = await adminFindings(QA, (doc) => doc.setIn(["config", "mlplatform:models", "value"], [...FIXTURE.models, "third-model"]));
  const names = stageNames(FIXTURE.serviceName, QA, { accountId: FIXTURE.accounts.qa, region: FIXTURE.region });
  const text = findings.map((f) => f.message).join("\n");
  expect(text).toContain(`policy of role ${names.deployerRole}, which carries no boundary`);
  expect(text).not.toContain(names.executionRole);
}, 60_000);

test("GIVEN an unchanged project WHEN diffed THEN there is no admin change", async () => {
  expect(await adminFindings(QA, () => undefined)).toEqual([]);
}, 60_000);
