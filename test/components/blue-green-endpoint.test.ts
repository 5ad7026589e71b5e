import type * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type * as component from "../../components/blue-green-endpoint";
import { realtimeEndpointProblems, RULE_SOURCES } from "../../components/endpoint-rules";
import type { DeploymentSpec } from "../../components/endpoint-spec";
import { ofType, onlyOfType, RecordedResource, recordResources, valueOf } from "../support/mocks";
import { recordDuring } from "../support/resources";

const NAME = "churn-predictor-churn-scorer";
const REJECTED = "churn-predictor-rejected";
const T = {
  component: "mlplatform:sagemaker:BlueGreenEndpoint",
  model: "aws:sagemaker/model:Model",
  config: "aws:sagemaker/endpointConfiguration:EndpointConfiguration",
  endpoint: "aws:sagemaker/endpoint:Endpoint",
  alarm: "aws:cloudwatch/metricAlarm:MetricAlarm",
};
const PACKAGE = (version: number) => `arn:aws:sagemaker:ap-southeast-4:404040404041:model-package/churn-predictor-churn-scorer/${version}`;
const KEY = "arn:aws:kms:ap-southeast-4:404040404043:alias/churn-predictor-prod";
const TAGS = { service: "churn-predictor", stage: "prod" };
const canary: DeploymentSpec = { strategy: "canary", canarySizePercent: 25, waitSeconds: 300, terminationWaitSeconds: 0 };

const baseArgs: component.BlueGreenEndpointArgs = {
  variantName: "primary",
  model: { modelPackageArn: PACKAGE(3) },
  executionRoleArn: "arn:aws:iam::404040404043:role/churn-predictor-prod-sagemaker-execution",
  instanceType: "ml.m5.large",
  instanceCount: 2,
  kmsKeyArn: KEY,
  deployment: canary,
  alarms: { invocation5xxErrorsPerMinute: 5, modelLatencyP99Milliseconds: 250, evaluationPeriods: 3, additionalRollbackAlarmNames: ["team-alarm"] },
  tags: TAGS,
};

let resources: RecordedResource[];
let mod: typeof component;

beforeAll(async () => {
  resources = await recordResources();
  mod = await import("../../components/blue-green-endpoint");
});

/** Builds the component and waits until all its children are registered. */
async function deploy(overrides: Partial<component.BlueGreenEndpointArgs> = {}, opts?: pulumi.ComponentResourceOptions) {
  resources.length = 0;
  const endpoint = new mod.BlueGreenEndpoint(NAME, { ...baseArgs, ...overrides }, opts);
  await valueOf(pulumi.all([endpoint.urn, endpoint.endpointArn, endpoint.modelName]));
  const recorded = [...resources];
  const alarm = (name: string) => ofType(recorded, T.alarm).find((r) => r.name === name)?.inputs;
  return {
    endpoint,
    model: ofType(recorded, T.model).find((r) => r.name === `${NAME}-model`) ?? onlyOfType(recorded, T.model),
    config: onlyOfType(recorded, T.config),
    resource: onlyOfType(recorded, T.endpoint),
    errorAlarm: alarm(`${NAME}-invocation-5xx`),
    latencyAlarm: alarm(`${NAME}-model-latency`),
    recorded,
  };
}

/** The error the constructor throws: an EndpointArgsError (a pulumi.ResourceError); fails when it does not throw one. */
function refusal(overrides: Partial<component.BlueGreenEndpointArgs>, name = REJECTED): component.EndpointArgsError {
  try {
    new mod.BlueGreenEndpoint(name, { ...baseArgs, ...overrides });
  } catch (error) {
    expect(error).toBeInstanceOf(mod.EndpointArgsError);
    expect(error).toBeInstanceOf(pulumi.ResourceError);
    return error as component.EndpointArgsError;
  }
  throw new Error("expected the constructor to throw");
}

/** `field check` of each problem the constructor refused the arguments with. */
function refused(overrides: Partial<component.BlueGreenEndpointArgs>, name = REJECTED): [string, string][] {
  return refusal(overrides, name).problems.map((p) => [p.field, p.check]);
}

describe("BlueGreenEndpoint resources", () => {
  test("GIVEN an endpoint WHEN built THEN the component registers under its type token and stable name", async () => {
    const { recorded } = await deploy();
    expect(recorded.filter((r) => r.type === T.component).map((r) => r.name)).toEqual([NAME]);
  });

  test("GIVEN an endpoint WHEN built THEN the Model has no name input so Pulumi auto-names it", async () => {
    const { model } = await deploy();
    expect(model.name).toBe(`${NAME}-model`);
    expect(model.inputs).not.toHaveProperty("name");
  });

  test("GIVEN an endpoint WHEN built THEN the EndpointConfiguration has no name input so Pulumi auto-names it", async () => {
    const { config } = await deploy();
    expect(config.name).toBe(`${NAME}-config`);
    expect(config.inputs).not.toHaveProperty("name");
  });

  test("GIVEN an endpoint WHEN built THEN the Endpoint carries the explicit stable name", async () => {
    const { resource, endpoint } = await deploy();
    expect(resource.name).toBe(`${NAME}-endpoint`);
    expect(resource.inputs.name).toBe(NAME);
    expect(await valueOf(endpoint.endpointName)).toBe(NAME);
  });

  test("GIVEN an endpoint WHEN built THEN the config has one production variant with the explicit variant name", async () => {
    const { config } = await deploy();
    expect(config.inputs.productionVariants).toEqual([
      { variantName: "primary", initialInstanceCount: 2, instanceType: "ml.m5.large", initialVariantWeight: 1 },
    ]);
  });

  test("GIVEN a volume size WHEN built THEN the variant asks for that volume", async () => {
    const { config } = await deploy({ volumeSizeGiB: 40 });
    expect(config.inputs.productionVariants[0].volumeSizeInGb).toBe(40);
  });

  test("GIVEN a registry model package WHEN built THEN the container names only the package", async () => {
    const { model } = await deploy();
    expect(model.inputs.primaryContainer).toEqual({ modelPackageName: PACKAGE(3) });
    expect(model.inputs.executionRoleArn).toBe(baseArgs.executionRoleArn);
  });

  test("GIVEN an image and model data WHEN built THEN the container carries image, data URL and environment", async () => {
    const image = { image: "404040404041.dkr.ecr.ap-southeast-4.amazonaws.com/churn-predictor-inference:1.4.0", modelDataUrl: "s3://b/m.tar.gz" };
    const { model } = await deploy({ model: { ...image, environment: { MODEL_SERVER_WORKERS: "2" } } });
    expect(model.inputs.primaryContainer).toEqual({ ...image, environment: { MODEL_SERVER_WORKERS: "2" } });
  });

  test("GIVEN an EBS-backed instance type and a key WHEN built THEN the config encrypts the volume with the key", async () => {
    const { config } = await deploy({ instanceType: "ml.m5.large" });
    expect(config.inputs.kmsKeyArn).toBe(KEY);
  });

  test("GIVEN an instance type with local NVMe storage and a key WHEN built THEN the config leaves the key out", async () => {
    const { config } = await deploy({ instanceType: "ml.g5.xlarge" });
    expect(config.inputs).not.toHaveProperty("kmsKeyArn");
  });

  test("GIVEN thresholds WHEN built THEN the error alarm sums 5XX errors per minute of the endpoint variant", async () => {
    const { errorAlarm } = await deploy();
    expect(errorAlarm).toMatchObject({
      name: `${NAME}-invocation-5xx`,
      namespace: "AWS/SageMaker",
      metricName: "Invocation5XXErrors",
      dimensions: { EndpointName: NAME, VariantName: "primary" },
      statistic: "Sum",
      period: 60,
      threshold: 5,
      comparisonOperator: "GreaterThanOrEqualToThreshold",
      evaluationPeriods: 3,
      treatMissingData: "notBreaching",
    });
  });

  test("GIVEN a latency threshold in milliseconds WHEN built THEN the latency alarm compares p99 in microseconds", async () => {
    const { latencyAlarm } = await deploy();
    expect(latencyAlarm).toMatchObject({
      name: `${NAME}-model-latency`,
      namespace: "AWS/SageMaker",
      metricName: "ModelLatency",
      dimensions: { EndpointName: NAME, VariantName: "primary" },
      extendedStatistic: "p99",
      period: 60,
      threshold: 250_000,
      comparisonOperator: "GreaterThanThreshold",
      evaluationPeriods: 3,
      treatMissingData: "notBreaching",
    });
    expect(latencyAlarm).not.toHaveProperty("statistic");
  });

  test("GIVEN additional alarms WHEN built THEN the endpoint rolls back on its two alarms first, then the additional ones", async () => {
    const { resource } = await deploy();
    expect(resource.inputs.deploymentConfig.autoRollbackConfiguration.alarms.map((a: { alarmName: string }) => a.alarmName))
      .toEqual([`${NAME}-invocation-5xx`, `${NAME}-model-latency`, "team-alarm"]);
  });

  test.each<[DeploymentSpec, string]>([
    [{ strategy: "all-at-once", waitSeconds: 0, terminationWaitSeconds: 0 }, "ALL_AT_ONCE"],
    [canary, "CANARY"],
    [{ strategy: "linear", stepSizePercent: 50, waitSeconds: 60, terminationWaitSeconds: 0 }, "LINEAR"],
  ])("GIVEN %o WHEN built THEN the endpoint uses blue/green traffic routing %s", async (deployment, type) => {
    const { resource } = await deploy({ deployment });
    expect(resource.inputs.deploymentConfig.blueGreenUpdatePolicy.trafficRoutingConfiguration.type).toBe(type);
    expect(resource.inputs.deploymentConfig).not.toHaveProperty("rollingUpdatePolicy");
  });

  test("GIVEN rolling WHEN built THEN the endpoint uses a rolling update policy", async () => {
    const { resource } = await deploy({ deployment: { strategy: "rolling", batchSizePercent: 50, waitSeconds: 120 } });
    expect(resource.inputs.deploymentConfig.rollingUpdatePolicy.maximumBatchSize).toEqual({ type: "CAPACITY_PERCENT", value: 50 });
    expect(resource.inputs.deploymentConfig).not.toHaveProperty("blueGreenUpdatePolicy");
  });

  test("GIVEN an endpoint WHEN built THEN the Endpoint depends on both rollback alarms", async () => {
    const seen: pulumi.ResourceTransformationArgs[] = [];
    await deploy({}, { transformations: [(args) => { seen.push(args); return undefined; }] });
    const dependsOn = seen.find((args) => args.type === T.endpoint)?.opts.dependsOn as aws.cloudwatch.MetricAlarm[];
    expect(await Promise.all(dependsOn.map((alarm) => valueOf(alarm.name)))).toEqual([`${NAME}-invocation-5xx`, `${NAME}-model-latency`]);
  });

  test("GIVEN tags WHEN built THEN every child resource carries them", async () => {
    const { recorded } = await deploy();
    const children = recorded.filter((r) => r.custom);
    expect(children.map((r) => r.type).sort()).toEqual([T.alarm, T.alarm, T.endpoint, T.config, T.model].sort());
    for (const child of children) expect(child.inputs.tags).toEqual(TAGS);
  });

  test("GIVEN a new model version WHEN built THEN the Endpoint name and rollback alarms stay the same", async () => {
    const before = await deploy({ model: { modelPackageArn: PACKAGE(3) } });
    const after = await deploy({ model: { modelPackageArn: PACKAGE(4) } });
    expect(after.model.inputs.primaryContainer).not.toEqual(before.model.inputs.primaryContainer);
    expect(after.resource.inputs.name).toBe(before.resource.inputs.name);
    const rollbackOf = (deployed: { resource: RecordedResource }) => deployed.resource.inputs.deploymentConfig.autoRollbackConfiguration;
    expect(rollbackOf(after)).toEqual(rollbackOf(before));
  });

  test("GIVEN a new instance type WHEN built THEN the Endpoint name and rollback alarms stay the same", async () => {
    const before = await deploy({ instanceType: "ml.m5.large" });
    const after = await deploy({ instanceType: "ml.g5.xlarge" });
    expect(after.config.inputs.productionVariants[0].instanceType).toBe("ml.g5.xlarge");
    expect(after.resource.inputs.name).toBe(before.resource.inputs.name);
    const rollbackOf = (deployed: { resource: RecordedResource }) => deployed.resource.inputs.deploymentConfig.autoRollbackConfiguration;
    expect(rollbackOf(after)).toEqual(rollbackOf(before));
  });
});

describe("BlueGreenEndpoint with an A/B test", () => {
  const abTest = {
    weight: 3,
    variants: [{ name: "challenger", model: { modelPackageArn: PACKAGE(4) }, weight: 1, instanceType: "ml.c5.large", instanceCount: 1 }],
  };

  test("GIVEN a challenger WHEN built THEN the config carries both variants with their weights, sizes and models", async () => {
    const { config, recorded } = await deploy({ abTest });
    const models = ofType(recorded, T.model);
    expect(models.map((m) => [m.name, m.inputs.primaryContainer])).toEqual([
      [`${NAME}-model`, { modelPackageName: PACKAGE(3) }],
      [`${NAME}-ab-challenger`, { modelPackageName: PACKAGE(4) }],
    ]);
    const variants = config.inputs.productionVariants as Record<string, unknown>[];
    expect(variants.map((v) => [v.variantName, v.initialVariantWeight, v.instanceType, v.initialInstanceCount])).toEqual([
      ["primary", 3, "ml.m5.large", 2],
      ["challenger", 1, "ml.c5.large", 1],
    ]);
  });

  test("GIVEN a challenger WHEN built THEN the rollback alarms keep their names and watch the worst variant, so the Endpoint's list is unchanged", async () => {
    const single = await deploy();
    const ab = await deploy({ abTest });
    const listed = (r: RecordedResource) => (r.inputs.deploymentConfig as { autoRollbackConfiguration: unknown }).autoRollbackConfiguration;
    expect(listed(ab.resource)).toEqual(listed(single.resource));
    const queries = ab.errorAlarm?.metricQueries as { id: string; expression?: string; metric?: Record<string, unknown> }[];
    expect(queries).toEqual([
      { id: "v0", returnData: false, metric: { namespace: "AWS/SageMaker", metricName: "Invocation5XXErrors", period: 60, stat: "Sum", dimensions: { EndpointName: NAME, VariantName: "primary" } } },
      { id: "v1", returnData: false, metric: { namespace: "AWS/SageMaker", metricName: "Invocation5XXErrors", period: 60, stat: "Sum", dimensions: { EndpointName: NAME, VariantName: "challenger" } } },
      { id: "worst", expression: "MAX([v0, v1])", label: "worst variant: Invocation5XXErrors", returnData: true },
    ]);
    expect(ab.errorAlarm).toMatchObject({ threshold: 5, evaluationPeriods: 3, comparisonOperator: "GreaterThanOrEqualToThreshold" });
    expect(ab.errorAlarm?.metricName).toBeUndefined();
    expect(ab.latencyAlarm?.alarmDescription).toBe(`Rolls back deployments of ${NAME}: p99 model latency of the worst of variants primary, challenger above 250 ms.`);
  });

  test("GIVEN a challenger WHEN built THEN it has its own alarm pair on its variant alone", async () => {
    const { recorded } = await deploy({ abTest });
    const own = ofType(recorded, T.alarm).filter((r) => r.name.startsWith(`${NAME}-challenger-`));
    expect(own.map((r) => [r.name, r.inputs.dimensions, r.inputs.threshold])).toEqual([
      [`${NAME}-challenger-invocation-5xx`, { EndpointName: NAME, VariantName: "challenger" }, 5],
      [`${NAME}-challenger-model-latency`, { EndpointName: NAME, VariantName: "challenger" }, 250_000],
    ]);
  });

  test("GIVEN a challenger on local NVMe storage WHEN built THEN the config drops the volume key for every variant", async () => {
    const { config } = await deploy({ abTest: { ...abTest, variants: [{ ...abTest.variants[0], instanceType: "ml.g5.xlarge" }] } });
    expect(config.inputs.kmsKeyArn).toBeUndefined();
  });

  test("GIVEN a rolling strategy WHEN an A/B test is added THEN the component refuses abTest", () => {
    const error = refusal({ abTest, deployment: { strategy: "rolling", batchSizePercent: 50, waitSeconds: 60 } });
    expect(error.problems.map((p) => p.field)).toEqual(["abTest"]);
  });
});

describe("BlueGreenEndpoint with the canary deployer", () => {
  const deployer: DeploymentSpec = {
    strategy: "step-functions-canary", canaryWeightPercent: 20, canaryInstanceCount: 1, bakeSeconds: 1200, pollSeconds: 30, maxPolls: 60,
  };
  /** Each child's ignoreChanges, by type, as the component asks Pulumi (transformations see every child's options). */
  async function ignoredInputs(deployment: DeploymentSpec): Promise<Record<string, string[]>> {
    const ignored: Record<string, string[]> = {};
    await deploy({ deployment }, {
      transformations: [({ type, props, opts }) => {
        if (opts.ignoreChanges !== undefined) ignored[type] = [...opts.ignoreChanges];
        return { props, opts };
      }],
    });
    return ignored;
  }

  test("GIVEN the deployer WHEN built THEN Pulumi ignores exactly the container, the variants and the served config", async () => {
    expect(await ignoredInputs(deployer)).toEqual({
      [T.model]: ["primaryContainer"],
      [T.config]: ["productionVariants"],
      [T.endpoint]: ["endpointConfigName"],
    });
  });

  test("GIVEN a guardrail strategy WHEN built THEN Pulumi ignores nothing", async () => {
    expect(await ignoredInputs(canary)).toEqual({});
  });

  test("GIVEN the deployer WHEN built THEN the Endpoint has no deploymentConfig and no rollback alarm is created", async () => {
    const { resource, recorded } = await deploy({ deployment: deployer });
    expect(resource.inputs.deploymentConfig).toBeUndefined();
    expect(ofType(recorded, T.alarm).map((r) => r.name)).not.toEqual(expect.arrayContaining([`${NAME}-invocation-5xx`]));
    expect(ofType(recorded, T.alarm).map((r) => r.name)).not.toEqual(expect.arrayContaining([`${NAME}-model-latency`]));
  });
});

describe("BlueGreenEndpoint argument checks", () => {
  test("GIVEN a name with an underscore WHEN built THEN the endpoint itself (field \"\") has a name problem", () => {
    expect(refused({}, "fraud_detection")).toEqual([["", "name"]]);
    expect(refusal({}, "fraud_detection").problems[0].message)
      .toBe('must be letters, digits and hyphens, starting and ending with a letter or digit, got "fraud_detection"');
  });

  test("GIVEN a name that leaves no room for the auto-name suffix WHEN built THEN a name problem says how much to shorten it", () => {
    const [problem] = refusal({}, "a".repeat(50)).problems;
    expect(problem).toMatchObject({ field: "", check: "name", source: RULE_SOURCES.sagemakerName });
    expect(problem.message).toBe(`"${"a".repeat(50)}" is too long: its auto-named children would reach 65 characters (limit 63); shorten it by 2`);
  });

  test("GIVEN a variant name with a dot WHEN built THEN variantName is a name problem", () => {
    expect(refused({ variantName: "v.1" })).toEqual([["variantName", "name"]]);
  });

  test("GIVEN an EC2 instance type WHEN built THEN instanceType is an instance-type problem", () => {
    expect(refused({ instanceType: "m5.large" })).toEqual([["instanceType", "instance-type"]]);
  });

  test("GIVEN a well-formed type SageMaker does not host (ml.t3.medium) WHEN built THEN instanceType is an instance-type problem", () => {
    expect(refused({ instanceType: "ml.t3.medium" })).toEqual([["instanceType", "instance-type"]]);
  });

  test("GIVEN no instances WHEN built THEN instanceCount is a capacity problem", () => {
    expect(refused({ instanceCount: 0 })).toEqual([["instanceCount", "capacity"]]);
  });

  test("GIVEN a volume size on an instance type with local NVMe storage WHEN built THEN volumeSizeGiB is a capacity problem", () => {
    const [problem] = refusal({ instanceType: "ml.g5.xlarge", volumeSizeGiB: 100 }).problems;
    expect(problem).toMatchObject({
      field: "volumeSizeGiB",
      check: "capacity",
      source: RULE_SOURCES.volumeSize,
      message: "ml.g5.xlarge has local NVMe instance storage of a fixed size and takes no volume size; remove volumeSizeGiB",
    });
  });

  test("GIVEN a volume size above 512 GiB WHEN built THEN volumeSizeGiB is a capacity problem", () => {
    expect(refused({ volumeSizeGiB: 600 })).toEqual([["volumeSizeGiB", "capacity"]]);
  });

  test("GIVEN a model data URL of 1025 characters WHEN built THEN the model source is refused", () => {
    const modelDataUrl = `s3://b/${"k".repeat(1025 - "s3://b/".length)}`;
    expect(refused({ model: { image: "404040404041.dkr.ecr.ap-southeast-4.amazonaws.com/churn-predictor-inference:1.4.0", modelDataUrl, environment: {} } }))
      .toEqual([["source.modelDataKey", "model-source"]]);
  });

  test("GIVEN nine additional rollback alarms WHEN built THEN the alarm list is a guardrail-range problem", () => {
    const alarms = { ...baseArgs.alarms, additionalRollbackAlarmNames: Array.from({ length: 9 }, (_, i) => `alarm-${i}`) };
    expect(refused({ alarms })).toEqual([["alarms.additionalRollbackAlarmNames", "guardrail-range"]]);
  });

  test("GIVEN a blank additional alarm name WHEN built THEN the alarm list is refused", () => {
    const alarms = { ...baseArgs.alarms, additionalRollbackAlarmNames: ["team-alarm", "  "] };
    expect(refused({ alarms })).toEqual([["alarms.additionalRollbackAlarmNames", "guardrail-range"]]);
  });

  test("GIVEN an additional alarm that repeats the component's own WHEN built THEN the repeat is named", () => {
    const alarms = { ...baseArgs.alarms, additionalRollbackAlarmNames: [`${REJECTED}-model-latency`] };
    const [problem] = refusal({ alarms }).problems;
    expect(problem).toMatchObject({ field: "alarms.additionalRollbackAlarmNames", check: "guardrail-range" });
    expect(problem.message).toContain(`"${REJECTED}-model-latency"`);
  });

  test("GIVEN an evaluation period of 31 minutes WHEN built THEN that threshold is refused", () => {
    expect(refused({ alarms: { ...baseArgs.alarms, evaluationPeriods: 31 } })).toEqual([["alarms.evaluationPeriods", "guardrail-range"]]);
  });

  test("GIVEN a strategy the fleet cannot run WHEN built THEN the deployment problem is reported", () => {
    expect(refused({ instanceCount: 1, deployment: { strategy: "rolling", batchSizePercent: 50, waitSeconds: 60 } }))
      .toEqual([["deployment.strategy", "guardrail-range"]]);
  });

  test("GIVEN waits that outlast the provider WHEN built THEN the deployment is a rollout-timeout problem", () => {
    expect(refused({ deployment: { strategy: "all-at-once", waitSeconds: 3600, terminationWaitSeconds: 3600 } })).toEqual([["deployment", "rollout-timeout"]]);
  });

  test("GIVEN several bad fields WHEN built THEN one error carries the component, the endpoint and every problem, and says them line by line", () => {
    const error = refusal({ instanceCount: 0, variantName: "v_1" });
    expect(error.component).toBe("BlueGreenEndpoint");
    expect(error.endpointName).toBe(REJECTED);
    expect(error.problems.map((p) => [p.field, p.check])).toEqual([["variantName", "name"], ["instanceCount", "capacity"]]);
    expect(error.message.split("\n")).toEqual([
      `BlueGreenEndpoint "${REJECTED}" has invalid arguments:`,
      '  variantName: must be letters, digits and hyphens (at most 63), got "v_1"',
      "  instanceCount: must be a whole number of at least 1, got 0",
    ]);
  });

  test("GIVEN a bad name WHEN the message is read THEN the endpoint's own problem is on a line named 'name'", () => {
    expect(refusal({}, "bad_name").message.split("\n")[1]).toMatch(/^ {2}name: must be letters, digits and hyphens/);
  });

  test("GIVEN bad arguments WHEN built THEN the problems are exactly the rules' (components/endpoint-rules.ts) for the same arguments", () => {
    const overrides = { instanceType: "ml.g5.xlarge", volumeSizeGiB: 100, deployment: { ...canary, canarySizePercent: 60 } };
    expect(refusal(overrides).problems).toEqual(realtimeEndpointProblems({ ...baseArgs, ...overrides, name: REJECTED }));
  });

  test("GIVEN the error WHEN recognised THEN isEndpointArgsError accepts it and any error carrying its mark, and nothing else", () => {
    const error = refusal({ instanceCount: 0 });
    expect(mod.isEndpointArgsError(error)).toBe(true);
    // A second copy of the module (the plan runs the program from a bundle) makes errors of another class with the same mark.
    expect(mod.isEndpointArgsError({ ...error, endpointArgsError: true })).toBe(true);
    expect(mod.isEndpointArgsError(new Error(error.message))).toBe(false);
    expect(mod.isEndpointArgsError({ endpointArgsError: "yes" })).toBe(false);
    expect(mod.isEndpointArgsError(null)).toBe(false);
    expect(mod.isEndpointArgsError(error.message)).toBe(false);
  });

  test("GIVEN bad arguments WHEN built THEN no child resource is created", async () => {
    const { recorded } = await recordDuring(resources, () => refused({ instanceCount: 0 }));
    expect(recorded.filter((r) => r.custom)).toEqual([]);
  });
});
