import { ProductionVariantInstanceType } from "@aws-sdk/client-sagemaker";
import {
  autoscalingProblems,
  deploymentProblems,
  deploymentRangeProblems,
  formatRuleProblems,
  modelSourceProblems,
  nameProblems,
  realtimeEndpointProblems,
  rollbackAlarmProblems,
  RULE_SOURCES,
  type RuleProblem,
} from "../../components/endpoint-rules";
import type { AutoscalingSpec, DeploymentSpec, RealtimeEndpointSpec, RollbackAlarmSpec } from "../../components/endpoint-spec";
import { MAX_GUARDRAIL_WAIT_SECONDS } from "../../components/guardrails";
import { PRODUCTION_VARIANT_INSTANCE_TYPES } from "../../components/production-variant-instance-types";
import { FIXTURE } from "../fixtures/service";

/**
 * The rules on an endpoint's arguments (components/endpoint-rules.ts): each returns structured
 * problems naming the argument, the plan's finding class and the source of the rule. Values come
 * from the fixture service (test/fixtures/service.ts).
 */

const NAME = `${FIXTURE.serviceName}-${FIXTURE.models[0]}`;
const REGISTRY = `${FIXTURE.accounts.sandbox}.dkr.ecr.${FIXTURE.region}.amazonaws.com/${FIXTURE.serviceName}-inference`;
const BUCKET = `${FIXTURE.serviceName}-artifacts-${FIXTURE.accounts.sandbox}-${FIXTURE.region}`;
const PACKAGE = `arn:aws:sagemaker:${FIXTURE.region}:${FIXTURE.accounts.sandbox}:model-package/${NAME}/7`;

const allAtOnce: DeploymentSpec = { strategy: "all-at-once", waitSeconds: 120, terminationWaitSeconds: 300 };
const canary: DeploymentSpec = { strategy: "canary", canarySizePercent: 10, waitSeconds: 600, terminationWaitSeconds: 0 };
const linear: DeploymentSpec = { strategy: "linear", stepSizePercent: 25, waitSeconds: 300, terminationWaitSeconds: 60 };
const rolling: DeploymentSpec = { strategy: "rolling", batchSizePercent: 20, waitSeconds: 240 };
const deployer: DeploymentSpec & { strategy: "step-functions-canary" } = {
  strategy: "step-functions-canary", canaryWeightPercent: 20, canaryInstanceCount: 1, bakeSeconds: 1200, pollSeconds: 30, maxPolls: 60,
};
const alarms: RollbackAlarmSpec = {
  invocation5xxErrorsPerMinute: 1, modelLatencyP99Milliseconds: 1000, evaluationPeriods: 2, additionalRollbackAlarmNames: [],
};
const image = (modelDataUrl: string, environment: Record<string, string> = {}) => ({ image: `${REGISTRY}:v1`, modelDataUrl, environment });

const valid: RealtimeEndpointSpec = {
  name: NAME,
  variantName: "primary",
  model: { modelPackageArn: PACKAGE },
  instanceType: "ml.m5.large",
  instanceCount: 2,
  deployment: canary,
  alarms,
};

const spec = (overrides: Partial<RealtimeEndpointSpec>): RealtimeEndpointSpec => ({ ...valid, ...overrides });
/** `field [check]: message` of each problem: what a reader of a failure needs, in one line. */
const lines = (problems: readonly RuleProblem[]) => problems.map((p) => `${p.field} [${p.check}]: ${p.message}`);
const withAlarms = (overrides: Partial<RollbackAlarmSpec>) => rollbackAlarmProblems(NAME, { ...alarms, ...overrides });

describe("realtimeEndpointProblems", () => {
  test("GIVEN a valid registry endpoint WHEN checked THEN there is no problem", () => {
    expect(realtimeEndpointProblems(valid)).toEqual([]);
  });

  test("GIVEN a valid image endpoint WHEN checked THEN there is no problem", () => {
    expect(realtimeEndpointProblems(spec({ model: image(`s3://${BUCKET}/doc-embedder/v3/model.tar.gz`, { SAGEMAKER_PROGRAM: "serve" }) }))).toEqual([]);
  });

  test("GIVEN a variant name with a dot WHEN checked THEN variantName is a name problem", () => {
    expect(lines(realtimeEndpointProblems(spec({ variantName: "v.1" })))).toEqual([
      'variantName [name]: must be letters, digits and hyphens (at most 63), got "v.1"',
    ]);
  });

  test("GIVEN a 64-character variant name WHEN checked THEN variantName is a name problem", () => {
    expect(realtimeEndpointProblems(spec({ variantName: "v".repeat(64) })).map((p) => [p.field, p.check])).toEqual([["variantName", "name"]]);
    expect(realtimeEndpointProblems(spec({ variantName: "v".repeat(63) }))).toEqual([]);
  });

  test.each(["m5.large", "ml.m5.huge", "ml.t3.medium", "ml.m5.large "])("GIVEN instance type %j, which is no production-variant type, WHEN checked THEN instanceType is rejected", (type) => {
    expect(lines(realtimeEndpointProblems(spec({ instanceType: type })))).toEqual([
      `instanceType [instance-type]: must be a SageMaker production-variant instance type such as ml.m5.large, got "${type}"`,
    ]);
  });

  test("GIVEN the AWS SDK's ProductionVariantInstanceType WHEN each is checked THEN every one is accepted, and the list is exactly the SDK's", () => {
    const sdk = [...new Set<string>(Object.values(ProductionVariantInstanceType))].sort();
    expect([...PRODUCTION_VARIANT_INSTANCE_TYPES].sort()).toEqual(sdk);
    // On the all-at-once strategy, so the instance type's other rules (Inf1 ignores guardrails) stay out of it.
    const refused = sdk.filter((type) => realtimeEndpointProblems(spec({ instanceType: type, deployment: allAtOnce })).length > 0);
    expect(refused).toEqual([]);
  });

  test.each([0, -1, 1.5])("GIVEN an instance count of %p WHEN checked THEN instanceCount is a capacity problem", (count) => {
    // Rolling needs two instances; all-at-once keeps this to the count's own rule.
    expect(lines(realtimeEndpointProblems(spec({ instanceCount: count, deployment: allAtOnce })))).toEqual([
      `instanceCount [capacity]: must be a whole number of at least 1, got ${count}`,
    ]);
  });

  test("GIVEN a volume size on an instance type with local NVMe storage WHEN checked THEN volumeSizeGiB is a capacity problem", () => {
    expect(lines(realtimeEndpointProblems(spec({ instanceType: "ml.g5.xlarge", volumeSizeGiB: 100 })))).toEqual([
      "volumeSizeGiB [capacity]: ml.g5.xlarge has local NVMe instance storage of a fixed size and takes no volume size; remove volumeSizeGiB",
    ]);
  });

  test.each([0, 513, 40.5])("GIVEN a volume of %p GiB WHEN checked THEN volumeSizeGiB is a capacity problem", (volume) => {
    expect(lines(realtimeEndpointProblems(spec({ volumeSizeGiB: volume })))).toEqual([
      `volumeSizeGiB [capacity]: must be a whole number of GiB from 1 to 512, got ${volume}`,
    ]);
  });

  test.each([1, 512])("GIVEN a volume of %p GiB on an EBS-backed type WHEN checked THEN it is accepted", (volume) => {
    expect(realtimeEndpointProblems(spec({ volumeSizeGiB: volume }))).toEqual([]);
  });

  test("GIVEN several bad arguments WHEN checked THEN every one is reported, the name first and the deployment last", () => {
    const problems = realtimeEndpointProblems(spec({
      name: "bad_name",
      variantName: "v_1",
      instanceType: "m5.large",
      instanceCount: 0,
      volumeSizeGiB: 600,
      model: image("ftp://elsewhere/model.tar.gz"),
      alarms: { ...alarms, additionalRollbackAlarmNames: [" "] },
      deployment: { ...canary, canarySizePercent: 60 },
    }));
    expect(problems.map((p) => [p.field, p.check])).toEqual([
      ["", "name"],
      ["variantName", "name"],
      ["source.modelDataKey", "model-source"],
      ["alarms.additionalRollbackAlarmNames", "guardrail-range"],
      ["instanceType", "instance-type"],
      ["instanceCount", "capacity"],
      ["volumeSizeGiB", "capacity"],
      ["deployment.canarySizePercent", "guardrail-range"],
    ]);
  });
});

describe("serverless variants", () => {
  const serverless = { memorySizeMiB: 2048, maxConcurrency: 5 };
  const asServerless = (overrides: Partial<RealtimeEndpointSpec> = {}) =>
    spec({ instanceType: undefined, instanceCount: undefined, serverless, deployment: { strategy: "all-at-once", waitSeconds: 0, terminationWaitSeconds: 0 }, ...overrides });
  const fields = (s: RealtimeEndpointSpec) => realtimeEndpointProblems(s).map((p) => [p.field, p.check]);

  test("GIVEN 2048 MiB and 5 concurrent, all at once THEN no problem", () => {
    expect(realtimeEndpointProblems(asServerless())).toEqual([]);
  });

  test.each<[string, Partial<RealtimeEndpointSpec>, string[][]]>([
    ["memory off the 1024 steps", { serverless: { ...serverless, memorySizeMiB: 3000 } }, [["serverless.memorySizeMiB", "capacity"]]],
    ["memory above 6144", { serverless: { ...serverless, memorySizeMiB: 7168 } }, [["serverless.memorySizeMiB", "capacity"]]],
    ["memory below 1024", { serverless: { ...serverless, memorySizeMiB: 512 } }, [["serverless.memorySizeMiB", "capacity"]]],
    ["max concurrency above 200", { serverless: { ...serverless, maxConcurrency: 201 } }, [["serverless.maxConcurrency", "capacity"]]],
    ["provisioned above max", { serverless: { ...serverless, provisionedConcurrency: 6 } }, [["serverless.provisionedConcurrency", "capacity"]]],
    ["instances as well", { instanceType: "ml.m5.large", instanceCount: 1 }, [["instanceType", "capacity"], ["instanceCount", "capacity"]]],
    ["autoscaling", { autoscaling: { minCapacity: 1, maxCapacity: 2, targetInvocationsPerInstance: 5, scaleInCooldownSeconds: 0, scaleOutCooldownSeconds: 0 } },
      [["autoscaling", "capacity"]]],
    ["a rolling deployment", { deployment: { strategy: "rolling", batchSizePercent: 20, waitSeconds: 60 } }, [["deployment.strategy", "guardrail-range"]]],
  ])("GIVEN %s THEN exactly those fields are named", (_, overrides, expected) => {
    expect(fields(asServerless(overrides))).toEqual(expected);
  });

  test("GIVEN provisioned concurrency equal to the maximum THEN it is allowed", () => {
    expect(realtimeEndpointProblems(asServerless({ serverless: { ...serverless, provisionedConcurrency: 5 } }))).toEqual([]);
  });

  test("GIVEN neither instances nor serverless THEN both instance fields are required, naming the alternative", () => {
    const problems = realtimeEndpointProblems(spec({ instanceType: undefined, instanceCount: undefined }));
    expect(lines(problems)).toEqual([
      "instanceType [capacity]: is required: set instanceType and instanceCount, or serverless instead",
      "instanceCount [capacity]: is required: set instanceType and instanceCount, or serverless instead",
    ]);
  });
});

describe("nameProblems", () => {
  test("GIVEN the fixture's endpoint name WHEN checked THEN there is no problem", () => {
    expect(nameProblems(NAME)).toEqual([]);
  });

  test("GIVEN a name with an underscore WHEN checked THEN the endpoint itself (field \"\") has a name problem", () => {
    expect(lines(nameProblems("churn_predictor"))).toEqual([
      ' [name]: must be letters, digits and hyphens, starting and ending with a letter or digit, got "churn_predictor"',
    ]);
  });

  test.each(["-churn", "churn-", ""])("GIVEN the name %j WHEN checked THEN it is a name problem", (name) => {
    expect(nameProblems(name).map((p) => [p.field, p.check])).toEqual([["", "name"]]);
  });

  test("GIVEN a 49-character name WHEN checked THEN its auto-named config (49 + -config + 8) passes 63 and how much to shorten it is named", () => {
    expect(lines(nameProblems("a".repeat(49)))).toEqual([
      ` [name]: "${"a".repeat(49)}" is too long: its auto-named children would reach 64 characters (limit 63); shorten it by 1`,
    ]);
  });

  test("GIVEN a 48-character name WHEN checked THEN its children reach exactly 63 and it is accepted", () => {
    expect(nameProblems("a".repeat(48))).toEqual([]);
  });
});

describe("modelSourceProblems", () => {
  const url = (length: number) => {
    const head = `s3://${BUCKET}/`;
    return head + "k".repeat(length - head.length);
  };

  test("GIVEN a registry model package WHEN checked THEN there is nothing to check", () => {
    expect(modelSourceProblems({ modelPackageArn: PACKAGE })).toEqual([]);
  });

  test("GIVEN a model data URL of exactly 1024 characters WHEN checked THEN it is accepted", () => {
    expect(modelSourceProblems(image(url(1024)))).toEqual([]);
  });

  test("GIVEN a model data URL of 1025 characters WHEN checked THEN source.modelDataKey is a model-source error", () => {
    expect(lines(modelSourceProblems(image(url(1025))))).toEqual([
      "source.modelDataKey [model-source]: makes a model data URL of 1025 characters; SageMaker takes an s3:// or https:// URL of at most 1024",
    ]);
  });

  test.each(["ftp://host/model.tar.gz", "s3:/bucket/model.tar.gz", "model.tar.gz"])("GIVEN the model data URL %j WHEN checked THEN it is a model-source error", (bad) => {
    expect(modelSourceProblems(image(bad)).map((p) => [p.field, p.check])).toEqual([["source.modelDataKey", "model-source"]]);
  });

  test("GIVEN an https:// model data URL WHEN checked THEN it is accepted", () => {
    expect(modelSourceProblems(image("https://example.com/model.tar.gz"))).toEqual([]);
  });

  test("GIVEN 101 environment variables WHEN checked THEN source.environment is an environment error", () => {
    const environment = Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`VAR_${i}`, "x"]));
    expect(lines(modelSourceProblems(image(url(100), environment)))).toEqual([
      "source.environment [environment]: 101 environment variables; SageMaker takes at most 100",
    ]);
    delete environment.VAR_100;
    expect(modelSourceProblems(image(url(100), environment))).toEqual([]);
  });

  test.each(["MODEL-NAME", "1ST", "A B"])("GIVEN the environment variable name %j WHEN checked THEN that variable is an environment error", (key) => {
    expect(lines(modelSourceProblems(image(url(100), { [key]: "x" })))).toEqual([
      `source.environment.${key} [environment]: names take letters, digits and _ and must not start with a digit`,
    ]);
  });

  test("GIVEN a variable name or value of 1025 characters WHEN checked THEN that variable is an environment error; 1024 is accepted", () => {
    const long = "A".repeat(1025);
    expect(lines(modelSourceProblems(image(url(100), { [long]: "x", OK: "v".repeat(1025) })))).toEqual([
      `source.environment.${long} [environment]: names and values take at most 1024 characters`,
      "source.environment.OK [environment]: names and values take at most 1024 characters",
    ]);
    expect(modelSourceProblems(image(url(100), { ["A".repeat(1024)]: "v".repeat(1024) }))).toEqual([]);
  });
});

describe("rollbackAlarmProblems", () => {
  const FIELD = "alarms.additionalRollbackAlarmNames";

  test("GIVEN the defaults and eight additional alarms WHEN checked THEN there is no problem", () => {
    expect(withAlarms({})).toEqual([]);
    expect(withAlarms({ additionalRollbackAlarmNames: Array.from({ length: 8 }, (_, i) => `team-alarm-${i}`) })).toEqual([]);
  });

  test("GIVEN nine additional alarms WHEN checked THEN the list is a guardrail-range error (SageMaker takes 10, the component creates 2)", () => {
    expect(lines(withAlarms({ additionalRollbackAlarmNames: Array.from({ length: 9 }, (_, i) => `team-alarm-${i}`) }))).toEqual([
      `${FIELD} [guardrail-range]: allows at most 8 names: SageMaker takes at most 10 rollback alarms and the component creates 2, got 9`,
    ]);
  });

  test.each(["", " ", "\t \n"])("GIVEN the blank alarm name %j WHEN checked THEN it is an error, not a warning", (blank) => {
    expect(lines(withAlarms({ additionalRollbackAlarmNames: ["team-alarm", blank] }))).toEqual([
      `${FIELD} [guardrail-range]: alarm names take 1-255 characters, not only whitespace, got ${JSON.stringify(blank)}`,
    ]);
  });

  test("GIVEN an alarm name of 256 characters WHEN checked THEN it is an error; 255 is accepted", () => {
    expect(lines(withAlarms({ additionalRollbackAlarmNames: ["a".repeat(256)] }))).toEqual([
      `${FIELD} [guardrail-range]: alarm names take 1-255 characters, not only whitespace, got "${"a".repeat(256)}"`,
    ]);
    expect(withAlarms({ additionalRollbackAlarmNames: ["a".repeat(255)] })).toEqual([]);
  });

  test("GIVEN an additional alarm that repeats the component's own latency alarm WHEN checked THEN the repeat is named", () => {
    expect(lines(withAlarms({ additionalRollbackAlarmNames: [`${NAME}-model-latency`] }))).toEqual([
      `${FIELD} [guardrail-range]: must be distinct from each other and from the component's own alarms, got "${NAME}-model-latency"`,
    ]);
  });

  test("GIVEN the same additional alarm twice WHEN checked THEN the repeat is named once", () => {
    expect(lines(withAlarms({ additionalRollbackAlarmNames: ["team-alarm", "team-alarm"] }))).toEqual([
      `${FIELD} [guardrail-range]: must be distinct from each other and from the component's own alarms, got "team-alarm"`,
    ]);
  });

  test.each<[keyof RollbackAlarmSpec, number, string]>([
    ["invocation5xxErrorsPerMinute", 0, "must be a whole number from 1 up, got 0"],
    ["invocation5xxErrorsPerMinute", 1.5, "must be a whole number from 1 up, got 1.5"],
    ["modelLatencyP99Milliseconds", 0, "must be a whole number from 1 to 600000, got 0"],
    ["modelLatencyP99Milliseconds", 600_001, "must be a whole number from 1 to 600000, got 600001"],
    ["evaluationPeriods", 0, "must be a whole number from 1 to 30, got 0"],
    ["evaluationPeriods", 31, "must be a whole number from 1 to 30, got 31"],
  ])("GIVEN %s of %p WHEN checked THEN that threshold is a guardrail-range error", (key, value, message) => {
    expect(lines(withAlarms({ [key]: value }))).toEqual([`alarms.${key} [guardrail-range]: ${message}`]);
  });

  test("GIVEN every threshold at its bound WHEN checked THEN there is no problem", () => {
    expect(withAlarms({ invocation5xxErrorsPerMinute: 1, modelLatencyP99Milliseconds: 600_000, evaluationPeriods: 30 })).toEqual([]);
    expect(withAlarms({ modelLatencyP99Milliseconds: 1, evaluationPeriods: 1 })).toEqual([]);
  });
});

describe("autoscalingProblems", () => {
  const scaling: AutoscalingSpec = {
    minCapacity: 2, maxCapacity: 6, targetInvocationsPerInstance: 100, scaleInCooldownSeconds: 600, scaleOutCooldownSeconds: 30,
  };
  const fields = (problems: readonly RuleProblem[]) => problems.map((p) => [p.field, p.check]);

  test("GIVEN bounds around the initial count WHEN checked THEN there is no problem", () => {
    expect(autoscalingProblems(scaling, 2)).toEqual([]);
    expect(autoscalingProblems(scaling, 6)).toEqual([]);
  });

  test("GIVEN a minimum of 0 instances WHEN checked THEN minCapacity is a capacity problem", () => {
    expect(fields(autoscalingProblems({ ...scaling, minCapacity: 0 }, 2))).toEqual([["autoscaling.minCapacity", "capacity"]]);
  });

  test("GIVEN a maximum below the minimum WHEN checked THEN maxCapacity is a capacity problem", () => {
    expect(fields(autoscalingProblems({ ...scaling, minCapacity: 4, maxCapacity: 3 }, 4)).filter(([f]) => f === "autoscaling.maxCapacity"))
      .toEqual([["autoscaling.maxCapacity", "capacity"]]);
  });

  test.each([0, -1, Number.POSITIVE_INFINITY, Number.NaN])("GIVEN a target of %p invocations WHEN checked THEN the target is a capacity problem", (target) => {
    expect(fields(autoscalingProblems({ ...scaling, targetInvocationsPerInstance: target }, 2))).toEqual([["autoscaling.targetInvocationsPerInstance", "capacity"]]);
  });

  test("GIVEN negative or fractional cooldowns WHEN checked THEN each is a capacity problem", () => {
    expect(fields(autoscalingProblems({ ...scaling, scaleInCooldownSeconds: -1, scaleOutCooldownSeconds: 1.5 }, 2))).toEqual([
      ["autoscaling.scaleInCooldownSeconds", "capacity"],
      ["autoscaling.scaleOutCooldownSeconds", "capacity"],
    ]);
  });

  test("GIVEN an initial count below the minimum or above the maximum WHEN checked THEN instanceCount is a capacity problem", () => {
    expect(fields(autoscalingProblems(scaling, 1))).toEqual([["instanceCount", "capacity"]]);
    expect(fields(autoscalingProblems(scaling, 7))).toEqual([["instanceCount", "capacity"]]);
  });
});

describe("deploymentRangeProblems", () => {
  test.each<[string, DeploymentSpec, string]>([
    ["a wait beyond 3600 s", { ...canary, waitSeconds: 3601 }, "deployment.waitSeconds [guardrail-range]: must be a whole number of seconds from 0 to 3600, got 3601"],
    ["a negative wait", { ...allAtOnce, waitSeconds: -1 }, "deployment.waitSeconds [guardrail-range]: must be a whole number of seconds from 0 to 3600, got -1"],
    ["an execution timeout below 600 s", { ...allAtOnce, maximumExecutionTimeoutSeconds: 599 },
      "deployment.maximumExecutionTimeoutSeconds [guardrail-range]: must be a whole number of seconds from 600 to 14400, got 599"],
    ["an execution timeout beyond the provider's 14400 s", { ...allAtOnce, maximumExecutionTimeoutSeconds: 14_401 },
      "deployment.maximumExecutionTimeoutSeconds [guardrail-range]: must be a whole number of seconds from 600 to 14400, got 14401"],
    ["a termination wait beyond 3600 s", { ...allAtOnce, terminationWaitSeconds: 4000 },
      "deployment.terminationWaitSeconds [guardrail-range]: must be a whole number of seconds from 0 to 3600, got 4000"],
    ["a canary above 50%", { ...canary, canarySizePercent: 60 }, "deployment.canarySizePercent [guardrail-range]: must be a whole number of percent from 1 to 50, got 60"],
    ["a canary of 0%", { ...canary, canarySizePercent: 0 }, "deployment.canarySizePercent [guardrail-range]: must be a whole number of percent from 1 to 50, got 0"],
    ["a fractional canary", { ...canary, canarySizePercent: 12.5 }, "deployment.canarySizePercent [guardrail-range]: must be a whole number of percent from 1 to 50, got 12.5"],
    ["a linear step below 10%", { ...linear, stepSizePercent: 5 }, "deployment.stepSizePercent [guardrail-range]: must be a whole number of percent from 10 to 50, got 5"],
    ["a rolling batch above 50%", { ...rolling, batchSizePercent: 75 }, "deployment.batchSizePercent [guardrail-range]: must be a whole number of percent from 5 to 50, got 75"],
    ["a rolling rollback batch below 5%", { ...rolling, rollbackBatchSizePercent: 2 },
      "deployment.rollbackBatchSizePercent [guardrail-range]: must be a whole number of percent from 5 to 100, got 2"],
  ])("GIVEN %s WHEN checked THEN that setting is named", (_title, deployment, line) => {
    expect(lines(deploymentRangeProblems(deployment))).toEqual([line]);
  });

  test.each<DeploymentSpec>([
    { strategy: "all-at-once", waitSeconds: 0, terminationWaitSeconds: 0, maximumExecutionTimeoutSeconds: 600 },
    { strategy: "canary", canarySizePercent: 50, waitSeconds: 3600, terminationWaitSeconds: 3600, maximumExecutionTimeoutSeconds: 14_400 },
    { strategy: "linear", stepSizePercent: 10, waitSeconds: 0, terminationWaitSeconds: 0 },
    { strategy: "rolling", batchSizePercent: 5, waitSeconds: 0, rollbackBatchSizePercent: 100 },
  ])("GIVEN $strategy with every setting at a bound WHEN checked THEN there is no problem", (deployment) => {
    expect(deploymentRangeProblems(deployment)).toEqual([]);
  });
});

describe("deploymentProblems", () => {
  const check = (deployment: DeploymentSpec, instanceType = "ml.m5.large", instanceCount = 4) => lines(deploymentProblems(deployment, instanceType, instanceCount));

  test.each([allAtOnce, canary, linear, rolling])("GIVEN a valid $strategy strategy WHEN checked THEN no problems", (deployment) => {
    expect(check(deployment)).toEqual([]);
  });

  test("GIVEN a range problem WHEN checked THEN it is among the strategy's problems", () => {
    expect(check({ ...canary, canarySizePercent: 60 })).toEqual([
      "deployment.canarySizePercent [guardrail-range]: must be a whole number of percent from 1 to 50, got 60",
    ]);
  });

  test("GIVEN rolling on a single instance WHEN checked THEN the strategy is rejected with the way out", () => {
    expect(check(rolling, "ml.m5.large", 1)).toEqual([
      "deployment.strategy [guardrail-range]: rolling needs at least 2 instances (a batch is at least one instance and at most 50% of the fleet), "
        + "got instanceCount 1; use all-at-once, canary or linear for a single instance",
    ]);
  });

  test("GIVEN canary on Inf1 WHEN checked THEN the strategy is rejected because guardrails would silently not apply", () => {
    expect(check(canary, "ml.inf1.xlarge")).toEqual([
      "deployment.strategy [guardrail-range]: ml.inf1.xlarge endpoints ignore deployment guardrails (SageMaker falls back to all-at-once without baking); "
        + "use strategy all-at-once or another instance type, got canary",
    ]);
  });

  test("GIVEN all-at-once on Inf1 WHEN checked THEN no problems", () => {
    expect(check(allAtOnce, "ml.inf1.xlarge")).toEqual([]);
  });

  test("GIVEN linear waits that outlast the provider WHEN checked THEN the total wait is a rollout-timeout on the deployment", () => {
    const slow: DeploymentSpec = { ...linear, stepSizePercent: 10, waitSeconds: 600, terminationWaitSeconds: 0 };
    expect(check(slow, "ml.m5.large", 10)).toEqual([
      `deployment [rollout-timeout]: baking and termination waits add up to 6000 s; the provider stops waiting for InService after 60 minutes, so keep them at or below ${MAX_GUARDRAIL_WAIT_SECONDS} s (shorter waits or larger steps)`,
    ]);
  });

  test("GIVEN waits of exactly the limit WHEN checked THEN they are accepted", () => {
    expect(check({ ...allAtOnce, waitSeconds: MAX_GUARDRAIL_WAIT_SECONDS - 300, terminationWaitSeconds: 300 })).toEqual([]);
    expect(check({ ...allAtOnce, waitSeconds: MAX_GUARDRAIL_WAIT_SECONDS - 299, terminationWaitSeconds: 300 }).map((l) => l.split(":")[0]))
      .toEqual(["deployment [rollout-timeout]"]);
  });

  test("GIVEN an execution timeout shorter than the waits WHEN checked THEN the timeout is rejected", () => {
    expect(check({ ...canary, maximumExecutionTimeoutSeconds: 1200 })).toEqual([
      "deployment.maximumExecutionTimeoutSeconds [guardrail-range]: 1200 s does not cover the 1200 s of baking and termination waits: every deployment would time out and roll back",
    ]);
  });
});

describe("the canary deployer's rules", () => {
  const check = (overrides: Partial<RealtimeEndpointSpec>) => lines(realtimeEndpointProblems(spec(overrides)));

  test("GIVEN a registry endpoint on instances with autoscaling WHEN it uses the canary deployer THEN there is no problem", () => {
    expect(check({
      deployment: deployer,
      instanceCount: 2,
      autoscaling: {
        minCapacity: 2, maxCapacity: 4, targetInvocationsPerInstance: 70, scaleInCooldownSeconds: 600, scaleOutCooldownSeconds: 30,
      },
    })).toEqual([]);
  });

  test("GIVEN every setting out of range WHEN checked THEN each names its field and range", () => {
    expect(check({
      deployment: {
        ...deployer,
        canaryWeightPercent: 0,
        canaryInstanceCount: 1.5,
        bakeSeconds: 30,
        pollSeconds: 301,
        maxPolls: 1001,
        approval: { timeoutSeconds: 60 },
      },
    })).toEqual([
      "deployment.canaryWeightPercent [guardrail-range]: must be a whole number of percent from 1 to 50, got 0",
      "deployment.canaryInstanceCount [guardrail-range]: must be a whole number of instances from 1 to 100, got 1.5",
      "deployment.bakeSeconds [guardrail-range]: must be a whole number of seconds from 60 to 86400, got 30",
      "deployment.pollSeconds [guardrail-range]: must be a whole number of seconds from 10 to 300, got 301",
      "deployment.maxPolls [guardrail-range]: must be a whole number of polls from 1 to 1000, got 1001",
      "deployment.approval.timeoutSeconds [guardrail-range]: must be a whole number of seconds from 300 to 604800, got 60",
    ]);
  });

  test("GIVEN a bake past SageMaker's guardrail waits and the provider's hour WHEN checked THEN no guardrail rule applies", () => {
    // The state machine waits, not the provider: the 40-minute limit of guardrail waits is not the deployer's.
    expect(check({ deployment: { ...deployer, bakeSeconds: 7200 }, instanceType: "ml.inf1.xlarge" })).toEqual([]);
  });

  test("GIVEN an image source, a serverless, an async and a multi-model endpoint WHEN they use the deployer THEN each is refused", () => {
    const refused = (overrides: Partial<RealtimeEndpointSpec>) => check({ deployment: deployer, ...overrides })
      .filter((line) => line.includes("step-functions-canary"));
    expect(refused({ model: image("s3://b/m") })).toEqual([
      "source [model-source]: an image source (the deployer deploys registry versions) cannot use strategy step-functions-canary: use all-at-once, canary or linear",
    ]);
    expect(refused({ instanceType: undefined, instanceCount: undefined, serverless: { memorySizeMiB: 2048, maxConcurrency: 5 } })).toEqual([
      "deployment.strategy [guardrail-range]: a serverless variant cannot use strategy step-functions-canary: use all-at-once, canary or linear",
    ]);
    expect(refused({ async: { notifications: false } })).toEqual([
      "deployment.strategy [guardrail-range]: an asynchronous endpoint cannot use strategy step-functions-canary: use all-at-once, canary or linear",
    ]);
    expect(refused({ multiModel: true, model: image("s3://b/m") })).toContain(
      "deployment.strategy [guardrail-range]: a multi-model endpoint cannot use strategy step-functions-canary: use all-at-once, canary or linear",
    );
  });
});

describe("an A/B test's rules", () => {
  const challenger = { name: "challenger", model: { modelPackageArn: PACKAGE.replace(/7$/, "8") }, weight: 1 };
  const check = (overrides: Partial<RealtimeEndpointSpec>) => lines(realtimeEndpointProblems(spec(overrides)));

  test("GIVEN a challenger beside the endpoint's own variant WHEN checked THEN there is no problem", () => {
    expect(check({ abTest: { weight: 3, variants: [challenger, { ...challenger, name: "image-b", model: image("s3://b/m.tar.gz"), instanceType: "ml.c5.large" }] } }))
      .toEqual([]);
  });

  test.each<[string, Partial<RealtimeEndpointSpec>, string]>([
    ["serverless", { instanceType: undefined, instanceCount: undefined, serverless: { memorySizeMiB: 2048, maxConcurrency: 5 } }, "a serverless endpoint"],
    ["async", { async: { notifications: false } }, "an asynchronous endpoint"],
    ["rolling", { deployment: rolling }, "an endpoint with rolling deployments (SageMaker rolls only single-variant endpoints)"],
    ["the canary deployer", { deployment: { strategy: "step-functions-canary", canaryWeightPercent: 20, canaryInstanceCount: 1, bakeSeconds: 600, pollSeconds: 30, maxPolls: 60 } },
      "an endpoint of the canary deployer (its state machine runs one variant beside its canary)"],
  ])("GIVEN %s WHEN it has an A/B test THEN abTest is refused, naming the kind", (_, overrides, kind) => {
    expect(check({ ...overrides, abTest: { weight: 1, variants: [challenger] } }).filter((l) => l.startsWith("abTest ["))).toEqual([
      `abTest [capacity]: ${kind} takes no A/B test: remove abTest, or serve it from a real-time instance endpoint with strategy all-at-once, canary or linear`,
    ]);
  });

  test("GIVEN no further variant, or ten WHEN checked THEN the count is refused: a config takes at most 10 variants", () => {
    expect(check({ abTest: { weight: 1, variants: [] } })).toEqual(["abTest.variants [capacity]: must list 1-9 further variants (an endpoint config takes at most 10), got 0"]);
    const ten = Array.from({ length: 10 }, (_, i) => ({ ...challenger, name: `v${i}` }));
    expect(check({ abTest: { weight: 1, variants: ten } })).toEqual(["abTest.variants [capacity]: must list 1-9 further variants (an endpoint config takes at most 10), got 10"]);
  });

  test("GIVEN every weight 0 WHEN checked THEN no variant would take requests; a negative weight is refused where it is", () => {
    expect(check({ abTest: { weight: 0, variants: [{ ...challenger, weight: 0 }] } })).toEqual(["abTest.weight [capacity]: every variant has weight 0: no variant would take requests"]);
    expect(check({ abTest: { weight: 0, variants: [{ ...challenger, weight: -2 }] } })).toEqual(["abTest.variants.0.weight [capacity]: must be a number >= 0, got -2"]);
  });

  test("GIVEN bad names WHEN checked THEN the pattern, the repeat and the Model's auto-name length are each named", () => {
    expect(check({ abTest: { weight: 1, variants: [{ ...challenger, name: "b_1" }, { ...challenger, name: "primary" }, { ...challenger, name: "x".repeat(30) }] } })).toEqual([
      "abTest.variants.0.name [name]: must be letters, digits and hyphens (at most 63), got \"b_1\"",
      "abTest.variants.1.name [name]: \"primary\" is already a variant of this endpoint: each variant needs its own name",
      `abTest.variants.2.name [name]: "${"x".repeat(30)}" is too long: its Model's auto-name would reach ${NAME.length + 4 + 30 + 8} characters (limit 63); `
      + `shorten it by ${NAME.length + 4 + 30 + 8 - 63}`,
    ]);
  });

  test("GIVEN a variant's size and source WHEN wrong THEN each is named under the variant", () => {
    expect(check({ abTest: { weight: 1, variants: [{ ...challenger, instanceType: "m5.large", instanceCount: 0, model: image("ftp://x") }] } })).toEqual([
      "abTest.variants.0.instanceType [instance-type]: must be a SageMaker production-variant instance type such as ml.m5.large, got \"m5.large\"",
      "abTest.variants.0.instanceCount [capacity]: must be a whole number of at least 1, got 0",
      "abTest.variants.0.source.modelDataKey [model-source]: makes a model data URL of 7 characters; SageMaker takes an s3:// or https:// URL of at most 1024",
    ]);
  });
});

describe("the sources of the rules", () => {
  const scalingBase: AutoscalingSpec = {
    minCapacity: 1, maxCapacity: 4, targetInvocationsPerInstance: 10, scaleInCooldownSeconds: 0, scaleOutCooldownSeconds: 0,
  };
  /** Specs that break every rule at least once, so every problem the rules can make is seen. */
  const broken: RealtimeEndpointSpec[] = [
    spec({ name: "bad_name", variantName: "v_1", instanceType: "m5.large", instanceCount: 0 }),
    spec({ name: "a".repeat(49), instanceType: "ml.g5.xlarge", volumeSizeGiB: 100 }),
    spec({ volumeSizeGiB: 600, model: image("ftp://elsewhere/model.tar.gz", { "BAD-KEY": "v".repeat(1025) }) }),
    spec({ model: image("s3://b/m", Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`V${i}`, "x"]))) }),
    spec({
      alarms: {
        invocation5xxErrorsPerMinute: 0,
        modelLatencyP99Milliseconds: 0,
        evaluationPeriods: 0,
        additionalRollbackAlarmNames: [" ", "dup", "dup", ...Array.from({ length: 8 }, (_, i) => `a${i}`)],
      },
    }),
    spec({ autoscaling: { ...scalingBase, minCapacity: 0, maxCapacity: 0, targetInvocationsPerInstance: 0, scaleInCooldownSeconds: -1 } }),
    spec({ instanceCount: 1, autoscaling: { ...scalingBase, minCapacity: 2, maxCapacity: 4 } }),
    spec({ instanceCount: 1, deployment: { ...rolling, batchSizePercent: 75, rollbackBatchSizePercent: 2 } }),
    spec({ instanceType: "ml.inf1.xlarge", deployment: { ...canary, canarySizePercent: 60, maximumExecutionTimeoutSeconds: 600 } }),
    spec({ instanceCount: 10, deployment: { ...linear, stepSizePercent: 5, waitSeconds: 3601, terminationWaitSeconds: 3601 } }),
    spec({ instanceType: undefined, instanceCount: undefined }),
    spec({ serverless: { memorySizeMiB: 1500, maxConcurrency: 0, provisionedConcurrency: 300 }, deployment: rolling }),
    spec({ async: { notifications: false, maxConcurrentInvocationsPerInstance: 0, scaleToZero: { maxCapacity: 0, targetBacklogPerInstance: 0 } } }),
    spec({ multiModel: true, containerStartupHealthCheckTimeoutSeconds: 30 }),
    spec({ model: image("s3://b/m"), deployment: { ...deployer, canaryWeightPercent: 60, maxPolls: 0 } }),
    spec({ deployment: rolling, abTest: { weight: -1, variants: [{ name: "primary", model: image("ftp://x"), weight: -1, instanceCount: 0 }] } }),
  ];
  const problems = broken.flatMap((s) => realtimeEndpointProblems(s));

  test("GIVEN every problem the rules make WHEN its source is read THEN it is one of RULE_SOURCES", () => {
    const sources = new Set<string>(Object.values(RULE_SOURCES));
    expect(problems.length).toBeGreaterThan(30);
    expect(problems.filter((p) => !sources.has(p.source)).map((p) => `${p.field}: ${p.source}`)).toEqual([]);
  });

  test("GIVEN RULE_SOURCES WHEN the problems are read THEN each source is cited by some rule (none is left over)", () => {
    const cited = new Set(problems.map((p) => p.source));
    expect(Object.entries(RULE_SOURCES).filter(([, text]) => !cited.has(text)).map(([key]) => key)).toEqual([]);
  });

  test("GIVEN every problem the rules make WHEN its check is read THEN it is one of the plan's rule classes", () => {
    const checks = new Set(problems.map((p) => p.check));
    expect([...checks].sort()).toEqual(["capacity", "environment", "guardrail-range", "instance-type", "model-source", "name", "rollout-timeout"]);
  });

  test("GIVEN the sources WHEN read THEN each names the API model, the provider, a guide or DESIGN", () => {
    for (const [key, text] of Object.entries(RULE_SOURCES)) {
      expect([key, /API model|terraform-provider-aws|Pulumi AWS provider|developer guide|DESIGN §/.test(text)]).toEqual([key, true]);
    }
  });
});

describe("formatRuleProblems", () => {
  test("GIVEN problems of the endpoint itself and of a field WHEN formatted THEN one indented line each, the endpoint's named 'name'", () => {
    const problems = [...nameProblems("bad_name"), ...deploymentRangeProblems({ ...canary, canarySizePercent: 60 })];
    expect(formatRuleProblems(problems).split("\n")).toEqual([
      '  name: must be letters, digits and hyphens, starting and ending with a letter or digit, got "bad_name"',
      "  deployment.canarySizePercent: must be a whole number of percent from 1 to 50, got 60",
    ]);
  });
});
