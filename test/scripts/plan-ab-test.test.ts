import type { Document } from "yaml";
import { abVariantNames, endpointNames } from "../../components/names";
import { hourlyPrice, PRICE_TABLE } from "../../scripts/lib/prices";
import { diffPlans, type StackDiff } from "../../scripts/plan/diff";
import { planStack } from "../../scripts/plan/engine";
import { provisioningMinutes } from "../../scripts/plan/estimates";
import type { PlannedResource, StackPlan } from "../../scripts/plan/types";
import { FIXTURE_ROOT } from "../fixtures/project";
import { FIXTURE } from "../fixtures/service";
import { endpointPath, projectCopies } from "../support/stack-files";

/**
 * An A/B test (abTest in the stack file) through the real program and the plan: the config carries
 * weighted variants, each further variant has its own Model and alarms, the rollback alarms keep
 * their names and watch the worst variant, and starting, changing or ending a test never replaces
 * the Endpoint.
 */

const STAGE = "sandbox";
const [SCORER] = FIXTURE.models;
const ENDPOINT = endpointNames(FIXTURE.serviceName, SCORER).endpoint;
const CHALLENGER = abVariantNames(ENDPOINT, "challenger");
const copy = projectCopies();

/** The fixture's sandbox scorer (registry version 7, one ml.m5.large) with a challenger of `version` beside it. */
function abProject(version = 8, edit: (doc: Document) => void = () => undefined): string {
  return copy(STAGE, {
    stack: (doc) => {
      doc.setIn(endpointPath(SCORER, "abTest"), doc.createNode({
        weight: 3, variants: [{ name: "challenger", source: { version }, weight: 1, instanceCount: 2 }],
      }));
      edit(doc);
    },
  });
}

const diff = (before: StackPlan, after: StackPlan): StackDiff => diffPlans(before, after, { mode: "revision", beforeLabel: "base", afterLabel: "head" });
const ops = (d: StackDiff) => d.changes.map((c) => [c.op, c.type, c.name]).sort((a, b) => a.join().localeCompare(b.join()));
const byName = (plan: StackPlan, name: string): PlannedResource | undefined => plan.resources.find((r) => r.name === name);
const variantsOf = (plan: StackPlan) => byName(plan, `${ENDPOINT}-config`)?.inputs.productionVariants as Record<string, unknown>[];

test("GIVEN an A/B test THEN the config has both weighted variants, each its own model, and no error", async () => {
  const plan = await planStack(abProject(), STAGE);
  expect(plan.findings.filter((f) => f.severity === "error")).toEqual([]);
  expect(variantsOf(plan).map((v) => [v.variantName, v.initialVariantWeight, v.instanceType, v.initialInstanceCount])).toEqual([
    ["primary", 3, "ml.m5.large", 1],
    ["challenger", 1, "ml.m5.large", 2],
  ]);
  const challengerModel = byName(plan, CHALLENGER.modelLogical);
  expect(challengerModel?.inputs.primaryContainer).toEqual({ modelPackageName: expect.stringMatching(new RegExp(`model-package/${ENDPOINT}/8$`)) });
  expect(variantsOf(plan)[1].modelName).toBe(challengerModel?.physicalName);
  expect(challengerModel?.physicalName).toMatch(new RegExp(`^${CHALLENGER.modelLogical}-[0-9a-f]{7}$`));
}, 60_000);

test("GIVEN an A/B test THEN the rollback alarms keep their names and watch the worst variant; the challenger has its own pair", async () => {
  const plan = await planStack(abProject(), STAGE);
  const names = endpointNames(FIXTURE.serviceName, SCORER);
  const rollback = byName(plan, names.errorAlarm);
  expect(rollback?.inputs.metricName).toBeUndefined();
  const queries = rollback?.inputs.metricQueries as { id: string; expression?: string; metric?: { dimensions: Record<string, string> } }[];
  expect(queries.map((q) => q.metric?.dimensions.VariantName ?? q.expression)).toEqual(["primary", "challenger", "MAX([v0, v1])"]);
  const endpoint = byName(plan, `${ENDPOINT}-endpoint`);
  const listed = (endpoint?.inputs.deploymentConfig as { autoRollbackConfiguration: { alarms: { alarmName: string }[] } })
    .autoRollbackConfiguration.alarms.map((a) => a.alarmName);
  expect(listed).toEqual([names.errorAlarm, names.latencyAlarm]);
  const own = byName(plan, CHALLENGER.latencyAlarm);
  expect(own?.inputs).toMatchObject({ dimensions: { EndpointName: ENDPOINT, VariantName: "challenger" }, metricName: "ModelLatency", extendedStatistic: "p99" });
}, 60_000);

test("GIVEN a stage without a test WHEN a test starts THEN the Endpoint is updated, never replaced, and its alarms updated in place", async () => {
  const d = diff(await planStack(FIXTURE_ROOT, STAGE), await planStack(abProject(), STAGE));
  const names = endpointNames(FIXTURE.serviceName, SCORER);
  expect(ops(d).filter(([, type]) => String(type).includes("sagemaker") || String(type).includes("metricAlarm"))).toEqual([
    ["create", "aws:cloudwatch/metricAlarm:MetricAlarm", CHALLENGER.errorAlarm],
    ["create", "aws:cloudwatch/metricAlarm:MetricAlarm", CHALLENGER.latencyAlarm],
    ["create", "aws:sagemaker/model:Model", CHALLENGER.modelLogical],
    ["replace", "aws:sagemaker/endpointConfiguration:EndpointConfiguration", `${ENDPOINT}-config`],
    ["update", "aws:cloudwatch/metricAlarm:MetricAlarm", names.errorAlarm],
    ["update", "aws:cloudwatch/metricAlarm:MetricAlarm", names.latencyAlarm],
    ["update", "aws:sagemaker/endpoint:Endpoint", `${ENDPOINT}-endpoint`],
  ]);
  expect(d.findings.filter((f) => f.severity === "error")).toEqual([]);
}, 60_000);

test("GIVEN a running test WHEN the challenger's version changes THEN only its Model and the config are replaced, the Endpoint updated", async () => {
  const d = diff(await planStack(abProject(8), STAGE), await planStack(abProject(9), STAGE));
  expect(ops(d)).toEqual([
    ["replace", "aws:sagemaker/endpointConfiguration:EndpointConfiguration", `${ENDPOINT}-config`],
    ["replace", "aws:sagemaker/model:Model", CHALLENGER.modelLogical],
    ["update", "aws:sagemaker/endpoint:Endpoint", `${ENDPOINT}-endpoint`],
  ]);
}, 60_000);

test("GIVEN an A/B test with rolling deployments THEN the plan refuses it at abTest", async () => {
  const plan = await planStack(abProject(8, (doc) => doc.setIn(endpointPath(SCORER, "deployment"),
    doc.createNode({ strategy: "rolling", batchSizePercent: 50, waitSeconds: 60 }))), STAGE);
  const refused = plan.findings.filter((f) => f.configKey === `mlplatform:endpoints.${SCORER}.abTest`);
  expect(refused.map((f) => [f.severity, f.check])).toEqual([["error", "capacity"]]);
  expect(refused[0].message).toContain("rolling deployments (SageMaker rolls only single-variant endpoints) takes no A/B test");
}, 60_000);

test("GIVEN a challenger source the schema refuses THEN the finding names the variant's key, and no rule repeats it", async () => {
  const plan = await planStack(abProject(8, (doc) => doc.setIn([...endpointPath(SCORER, "abTest"), "variants", 0, "source"], doc.createNode({ imageTag: "v1" }))), STAGE);
  const keys = plan.findings.filter((f) => f.severity === "error").map((f) => f.configKey);
  expect(keys).toEqual([`mlplatform:endpoints.${SCORER}.abTest.variants[0].source.modelDataKey`]);
}, 60_000);

test("GIVEN two variants of the same name THEN the plan names the repeat", async () => {
  const plan = await planStack(abProject(8, (doc) => doc.setIn([...endpointPath(SCORER, "abTest"), "variants", 0, "name"], "primary")), STAGE);
  const finding = plan.findings.find((f) => f.configKey === `mlplatform:endpoints.${SCORER}.abTest.variants[0].name`);
  expect(finding).toMatchObject({ severity: "error", check: "name" });
  expect(finding?.message).toContain("\"primary\" is already a variant of this endpoint");
}, 60_000);

test("GIVEN a challenger on another instance type THEN the estimate prices each variant's instances and provisions at the slowest type's pace", async () => {
  const plan = await planStack(abProject(8, (doc) => doc.setIn([...endpointPath(SCORER, "abTest"), "variants", 0, "instanceType"], "ml.g5.xlarge")), STAGE);
  const estimate = plan.estimates.endpoints.find((e) => e.endpointKey === SCORER);
  const hourly = 1 * (hourlyPrice("ml.m5.large") ?? Number.NaN) + 2 * (hourlyPrice("ml.g5.xlarge") ?? Number.NaN);
  expect(estimate).toMatchObject({
    instanceType: "ml.m5.large + ml.g5.xlarge",
    instanceCount: 3,
    provisioningMinutes: provisioningMinutes("ml.g5.xlarge"),
    monthlyCostUsd: Math.round(hourly * PRICE_TABLE.hoursPerMonth * 100) / 100,
  });
}, 60_000);
