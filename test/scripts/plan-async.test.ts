import type { Document } from "yaml";
import { BACKLOG_SCALING_POLICY_NAME, SCALE_FROM_ZERO_POLICY_NAME } from "../../components/async-inference";
import { asyncProblems } from "../../components/endpoint-rules";
import { endpointNames, stageNames } from "../../components/names";
import { diffPlans } from "../../scripts/plan/diff";
import { planStack } from "../../scripts/plan/engine";
import type { PlannedResource, StackPlan } from "../../scripts/plan/types";
import { FIXTURE } from "../fixtures/service";
import { endpointPath, projectCopies } from "../support/stack-files";

/**
 * An asynchronous endpoint through the real program and the plan: results and failures under the
 * endpoint's prefixes of the stage bucket, encrypted with the stage key; KMS-encrypted SNS topics;
 * scale to zero on the backlog with the step policy that scales out from zero; and the rules.
 */

const STAGE = "qa";
const [, EMBEDDER] = FIXTURE.models;
const ENDPOINT = endpointNames(FIXTURE.serviceName, EMBEDDER).endpoint;
const BUCKET = stageNames(FIXTURE.serviceName, STAGE, { accountId: FIXTURE.accounts.qa, region: FIXTURE.region }).bucket;
const copy = projectCopies();

function asyncProject(async: Record<string, unknown>, edit: (doc: Document) => void = () => undefined): string {
  return copy(STAGE, {
    stack: (doc) => {
      doc.setIn(endpointPath(EMBEDDER, "async"), doc.createNode(async));
      edit(doc);
    },
  });
}

const ofType = (plan: StackPlan, type: string): PlannedResource[] => plan.resources.filter((r) => r.type === type);
const SCALE_TO_ZERO = { maxCapacity: 2, targetBacklogPerInstance: 5 };

test("GIVEN async with notifications THEN results and failures go to the endpoint's prefixes of the stage bucket, with the stage key and topics", async () => {
  const plan = await planStack(asyncProject({ maxConcurrentInvocationsPerInstance: 4, notifications: true }), STAGE);
  const config = ofType(plan, "aws:sagemaker/endpointConfiguration:EndpointConfiguration").find((r) => r.name === `${ENDPOINT}-config`);
  const topics = ofType(plan, "aws:sns/topic:Topic");
  expect(topics.map((t) => t.physicalName).sort()).toEqual([`${ENDPOINT}-async-error`, `${ENDPOINT}-async-success`]);
  expect(config?.inputs.asyncInferenceConfig).toMatchObject({
    outputConfig: {
      s3OutputPath: `s3://${BUCKET}/async/${ENDPOINT}/output/`,
      s3FailurePath: `s3://${BUCKET}/async/${ENDPOINT}/failure/`,
      notificationConfig: { successTopic: expect.stringContaining(`:${ENDPOINT}-async-success`), errorTopic: expect.stringContaining(`:${ENDPOINT}-async-error`) },
    },
    clientConfig: { maxConcurrentInvocationsPerInstance: 4 },
  });
  const kmsKeyId = (config?.inputs.asyncInferenceConfig as { outputConfig: { kmsKeyId: string } }).outputConfig.kmsKeyId;
  // The stage key (the only key of a stage stack) encrypts results, failures and both topics.
  const [stageKey] = ofType(plan, "aws:kms/key:Key");
  expect(kmsKeyId).toBe(`arn:aws:kms:${FIXTURE.region}:${FIXTURE.accounts.qa}:key/${String(stageKey.id)}`);
  expect(topics.map((t) => t.inputs.kmsMasterKeyId)).toEqual([kmsKeyId, kmsKeyId]);
  expect(plan.findings.filter((f) => f.severity === "error")).toEqual([]);
}, 60_000);

test("GIVEN async without notifications THEN no topic and no notification config", async () => {
  const plan = await planStack(asyncProject({}), STAGE);
  expect(ofType(plan, "aws:sns/topic:Topic")).toEqual([]);
  const config = ofType(plan, "aws:sagemaker/endpointConfiguration:EndpointConfiguration").find((r) => r.name === `${ENDPOINT}-config`);
  expect((config?.inputs.asyncInferenceConfig as { outputConfig: Record<string, unknown> }).outputConfig.notificationConfig).toBeUndefined();
}, 60_000);

test("GIVEN scale to zero THEN a target from 0, target tracking on the backlog, and a step policy its alarm triggers from zero", async () => {
  const plan = await planStack(asyncProject({ scaleToZero: SCALE_TO_ZERO }), STAGE);
  const [target] = ofType(plan, "aws:appautoscaling/target:Target");
  expect(target.inputs).toMatchObject({ resourceId: `endpoint/${ENDPOINT}/variant/primary`, minCapacity: 0, maxCapacity: 2 });
  const policies = ofType(plan, "aws:appautoscaling/policy:Policy");
  const backlog = policies.find((p) => p.physicalName === BACKLOG_SCALING_POLICY_NAME);
  const fromZero = policies.find((p) => p.physicalName === SCALE_FROM_ZERO_POLICY_NAME);
  expect(backlog?.inputs.targetTrackingScalingPolicyConfiguration).toMatchObject({
    customizedMetricSpecification: { metricName: "ApproximateBacklogSizePerInstance", namespace: "AWS/SageMaker", dimensions: [{ name: "EndpointName", value: ENDPOINT }] },
    targetValue: 5,
  });
  expect(fromZero?.inputs.stepScalingPolicyConfiguration).toMatchObject({ adjustmentType: "ChangeInCapacity", stepAdjustments: [{ scalingAdjustment: 1 }] });
  const alarm = ofType(plan, "aws:cloudwatch/metricAlarm:MetricAlarm").find((a) => a.physicalName === `${ENDPOINT}-backlog-without-capacity`);
  expect(alarm?.inputs).toMatchObject({ metricName: "HasBacklogWithoutCapacity", dimensions: { EndpointName: ENDPOINT } });
  expect(alarm?.inputs.alarmActions).toEqual([expect.stringContaining(`policyName/${SCALE_FROM_ZERO_POLICY_NAME}`)]);
}, 60_000);

test("GIVEN a new model version on a scale-to-zero endpoint THEN scaling, alarm and topics are untouched", async () => {
  const before = await planStack(asyncProject({ notifications: true, scaleToZero: SCALE_TO_ZERO }), STAGE);
  const after = await planStack(asyncProject({ notifications: true, scaleToZero: SCALE_TO_ZERO },
    (doc) => doc.setIn(endpointPath(EMBEDDER, "source", "imageTag"), "triton-24.09-doc-embedder-v9")), STAGE);
  const diff = diffPlans(before, after, { mode: "revision", beforeLabel: "a", afterLabel: "b" });
  expect(diff.changes.map((c) => [c.op, c.type]).sort()).toEqual([
    ["replace", "aws:sagemaker/endpointConfiguration:EndpointConfiguration"],
    ["replace", "aws:sagemaker/model:Model"],
    ["update", "aws:sagemaker/endpoint:Endpoint"],
  ]);
}, 60_000);

test("GIVEN scale to zero and autoscaling together THEN the plan refuses it, naming both ways out", async () => {
  const plan = await planStack(asyncProject({ scaleToZero: SCALE_TO_ZERO }, (doc) => doc.setIn(endpointPath(EMBEDDER, "autoscaling"),
    doc.createNode({ minCapacity: 1, maxCapacity: 2, targetInvocationsPerInstance: 10 }))), STAGE);
  const finding = plan.findings.find((f) => f.configKey === `mlplatform:endpoints.${EMBEDDER}.async.scaleToZero`);
  expect(finding).toMatchObject({ severity: "error", check: "capacity" });
  expect(finding?.message).toContain("remove autoscaling (invocations per instance) or scaleToZero (backlog per instance)");
}, 60_000);

describe("asyncProblems", () => {
  test.each<[string, Parameters<typeof asyncProblems>[0], string[]]>([
    ["valid settings", { notifications: true, maxConcurrentInvocationsPerInstance: 1000, scaleToZero: SCALE_TO_ZERO }, []],
    ["1001 concurrent invocations", { notifications: false, maxConcurrentInvocationsPerInstance: 1001 }, ["async.maxConcurrentInvocationsPerInstance"]],
    ["a maximum of 0", { notifications: false, scaleToZero: { ...SCALE_TO_ZERO, maxCapacity: 0 } }, ["async.scaleToZero.maxCapacity"]],
    ["a backlog target of 0", { notifications: false, scaleToZero: { ...SCALE_TO_ZERO, targetBacklogPerInstance: 0 } }, ["async.scaleToZero.targetBacklogPerInstance"]],
  ])("GIVEN %s THEN exactly those fields are named", (_, spec, fields) => {
    expect(asyncProblems(spec, false).map((p) => p.field)).toEqual(fields);
  });
});
