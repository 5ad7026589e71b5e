import type { Document } from "yaml";
import { endpointNames } from "../../components/names";
import { SCALING_POLICY_NAME } from "../../components/variant-autoscaling";
import { diffPlans, type StackDiff } from "../../scripts/plan/diff";
import { planStack } from "../../scripts/plan/engine";
import type { StackPlan } from "../../scripts/plan/types";
import { FIXTURE_ROOT } from "../fixtures/project";
import { FIXTURE } from "../fixtures/service";
import { endpointPath, projectCopies } from "../support/stack-files";

/**
 * An autoscaled endpoint in the plan: a new model version replaces only the Model and the
 * EndpointConfiguration and leaves the scaling target and policy alone; a change of instance type
 * while autoscaled is an error that names the two deployments that make it work, and those two
 * deployments pass.
 */

const STAGE = "prod";
const [SCORER] = FIXTURE.models;
const ENDPOINT = endpointNames(FIXTURE.serviceName, SCORER).endpoint;
const copy = projectCopies();

/** A copy of the fixture project whose prod stack file is edited. */
function projectWith(edit: (doc: Document) => void, from = FIXTURE_ROOT): string {
  return copy(STAGE, { stack: edit }, from);
}

const diff = (before: StackPlan, after: StackPlan): StackDiff => diffPlans(before, after, { mode: "revision", beforeLabel: "base", afterLabel: "head" });
const ops = (d: StackDiff) => d.changes.map((c) => [c.op, c.type]).sort();
const checks = (d: StackDiff) => d.findings.map((f) => f.check);

test("GIVEN the fixture's autoscaled endpoint THEN the plan has its target and the named target-tracking policy, with no finding", async () => {
  const plan = await planStack(FIXTURE_ROOT, STAGE);
  const target = plan.resources.find((r) => r.type === "aws:appautoscaling/target:Target");
  const policy = plan.resources.find((r) => r.type === "aws:appautoscaling/policy:Policy");
  expect(target?.inputs).toMatchObject({
    serviceNamespace: "sagemaker",
    scalableDimension: "sagemaker:variant:DesiredInstanceCount",
    resourceId: `endpoint/${ENDPOINT}/variant/primary`,
    minCapacity: 3,
    maxCapacity: 10,
  });
  expect(policy?.physicalName).toBe(SCALING_POLICY_NAME);
  expect(policy?.inputs).toMatchObject({
    policyType: "TargetTrackingScaling",
    targetTrackingScalingPolicyConfiguration: {
      predefinedMetricSpecification: { predefinedMetricType: "SageMakerVariantInvocationsPerInstance" },
      targetValue: 70,
      scaleInCooldown: 600,
      scaleOutCooldown: 30,
    },
  });
  expect(plan.findings.filter((f) => f.severity === "error")).toEqual([]);
}, 60_000);

test("GIVEN a new model version on the autoscaled endpoint THEN exactly the Model and EndpointConfiguration are replaced, the Endpoint updated, scaling untouched", async () => {
  const before = await planStack(FIXTURE_ROOT, STAGE);
  const after = await planStack(projectWith((doc) => doc.setIn(endpointPath(SCORER, "source", "version"), 7)), STAGE);
  const d = diff(before, after);
  expect(ops(d)).toEqual([
    ["replace", "aws:sagemaker/endpointConfiguration:EndpointConfiguration"],
    ["replace", "aws:sagemaker/model:Model"],
    ["update", "aws:sagemaker/endpoint:Endpoint"],
  ]);
  expect(d.changes.find((c) => c.type.startsWith("aws:sagemaker/endpoint:"))?.name).toBe(`${ENDPOINT}-endpoint`);
  expect(checks(d)).toEqual([]);
}, 60_000);

test("GIVEN an instance type change while autoscaled THEN the diff fails naming the endpoint and the two deployments", async () => {
  const before = await planStack(FIXTURE_ROOT, STAGE);
  const after = await planStack(projectWith((doc) => doc.setIn(endpointPath(SCORER, "instanceType"), "ml.c5.4xlarge")), STAGE);
  const [finding, ...rest] = diff(before, after).findings.filter((f) => f.check === "autoscaling-instance-type");
  expect(rest).toEqual([]);
  expect(finding).toMatchObject({ severity: "error", configKey: `mlplatform:endpoints.${SCORER}.instanceType` });
  expect(finding.message).toContain("ml.c5.2xlarge -> ml.c5.4xlarge");
  expect(finding.message).toContain(`first remove autoscaling (or async.scaleToZero) from endpoint ${SCORER} in Pulumi.${STAGE}.yaml and deploy`);
}, 60_000);

test("GIVEN the two documented deployments THEN neither step is refused: first scaling goes, then the type changes with scaling back", async () => {
  const base = await planStack(FIXTURE_ROOT, STAGE);
  const step1Dir = projectWith((doc) => doc.deleteIn(endpointPath(SCORER, "autoscaling")));
  const step1 = await planStack(step1Dir, STAGE);
  const first = diff(base, step1);
  expect(ops(first)).toEqual([["delete", "aws:appautoscaling/policy:Policy"], ["delete", "aws:appautoscaling/target:Target"]]);
  expect(first.findings.filter((f) => f.severity === "error")).toEqual([]);

  const step2 = await planStack(projectWith((doc) => {
    doc.setIn(endpointPath(SCORER, "instanceType"), "ml.c5.4xlarge");
    doc.setIn(endpointPath(SCORER, "autoscaling"), doc.createNode({ minCapacity: 3, maxCapacity: 10, targetInvocationsPerInstance: 70 }));
  }, step1Dir), STAGE);
  const second = diff(step1, step2);
  expect(ops(second)).toEqual([
    ["create", "aws:appautoscaling/policy:Policy"],
    ["create", "aws:appautoscaling/target:Target"],
    ["replace", "aws:sagemaker/endpointConfiguration:EndpointConfiguration"],
    ["update", "aws:sagemaker/endpoint:Endpoint"],
  ]);
  expect(checks(second)).not.toContain("autoscaling-instance-type");
  expect(second.findings.filter((f) => f.severity === "error")).toEqual([]);
}, 60_000);

test("GIVEN an initial count below the minimum THEN the plan refuses it with the reason, at instanceCount", async () => {
  const plan = await planStack(projectWith((doc) => doc.setIn(endpointPath(SCORER, "instanceCount"), 2)), STAGE);
  const finding = plan.findings.find((f) => f.configKey === `mlplatform:endpoints.${SCORER}.instanceCount`);
  expect(finding).toMatchObject({ severity: "error", check: "capacity" });
  expect(finding?.message).toContain("every deployment resets the variant to instanceCount");
}, 60_000);
