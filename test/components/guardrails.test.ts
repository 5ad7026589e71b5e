import {
  deploymentConfigFor,
  deploymentProblems,
  guardrailWaitSeconds,
  MAX_GUARDRAIL_WAIT_SECONDS,
  rollbackAlarmList,
} from "../../components/guardrails";
import type { DeploymentConfig } from "../../stacks/config/schema";

const ALARMS = ["svc-ep-invocation-5xx", "svc-ep-model-latency", "team-alarm"];

const allAtOnce: DeploymentConfig = { strategy: "all-at-once", waitSeconds: 120, terminationWaitSeconds: 300 };
const canary: DeploymentConfig = { strategy: "canary", canarySizePercent: 10, waitSeconds: 600, terminationWaitSeconds: 0 };
const linear: DeploymentConfig = { strategy: "linear", stepSizePercent: 25, waitSeconds: 300, terminationWaitSeconds: 60 };
const rolling: DeploymentConfig = { strategy: "rolling", batchSizePercent: 20, waitSeconds: 240 };

describe("rollbackAlarmList", () => {
  test("GIVEN created and additional alarms WHEN listed THEN the error alarm, the latency alarm, then the additional ones in order", () => {
    const list = rollbackAlarmList({ errorAlarm: "e", latencyAlarm: "l" }, ["b", "a"]);
    expect(list).toEqual(["e", "l", "b", "a"]);
  });
});

describe("deploymentConfigFor", () => {
  test("GIVEN all-at-once WHEN built THEN blue/green ALL_AT_ONCE with its wait and termination wait", () => {
    const config = deploymentConfigFor(allAtOnce, ALARMS);
    expect(config.blueGreenUpdatePolicy).toEqual({
      trafficRoutingConfiguration: { type: "ALL_AT_ONCE", waitIntervalInSeconds: 120 },
      terminationWaitInSeconds: 300,
    });
    expect(config).not.toHaveProperty("rollingUpdatePolicy");
  });

  test("GIVEN canary WHEN built THEN blue/green CANARY with a capacity-percent canary size", () => {
    const routing = deploymentConfigFor(canary, ALARMS).blueGreenUpdatePolicy?.trafficRoutingConfiguration;
    expect(routing).toEqual({ type: "CANARY", canarySize: { type: "CAPACITY_PERCENT", value: 10 }, waitIntervalInSeconds: 600 });
  });

  test("GIVEN linear WHEN built THEN blue/green LINEAR with a capacity-percent step size", () => {
    const policy = deploymentConfigFor(linear, ALARMS).blueGreenUpdatePolicy;
    expect(policy?.trafficRoutingConfiguration).toEqual({
      type: "LINEAR", linearStepSize: { type: "CAPACITY_PERCENT", value: 25 }, waitIntervalInSeconds: 300,
    });
    expect(policy?.terminationWaitInSeconds).toBe(60);
  });

  test("GIVEN a blue/green strategy with an execution timeout WHEN built THEN the policy carries it", () => {
    const policy = deploymentConfigFor({ ...canary, maximumExecutionTimeoutSeconds: 3600 }, ALARMS).blueGreenUpdatePolicy;
    expect(policy?.maximumExecutionTimeoutInSeconds).toBe(3600);
  });

  test("GIVEN a blue/green strategy without an execution timeout WHEN built THEN the policy has no timeout key", () => {
    expect(deploymentConfigFor(canary, ALARMS).blueGreenUpdatePolicy).not.toHaveProperty("maximumExecutionTimeoutInSeconds");
  });

  test("GIVEN rolling WHEN built THEN a rolling policy with a capacity-percent batch and no blue/green policy", () => {
    const config = deploymentConfigFor(rolling, ALARMS);
    expect(config.rollingUpdatePolicy).toEqual({ maximumBatchSize: { type: "CAPACITY_PERCENT", value: 20 }, waitIntervalInSeconds: 240 });
    expect(config).not.toHaveProperty("blueGreenUpdatePolicy");
  });

  test("GIVEN rolling with a rollback batch and a timeout WHEN built THEN the policy carries both", () => {
    const policy = deploymentConfigFor({ ...rolling, rollbackBatchSizePercent: 100, maximumExecutionTimeoutSeconds: 1800 }, ALARMS)
      .rollingUpdatePolicy;
    expect(policy?.rollbackMaximumBatchSize).toEqual({ type: "CAPACITY_PERCENT", value: 100 });
    expect(policy?.maximumExecutionTimeoutInSeconds).toBe(1800);
  });

  test.each([allAtOnce, canary, linear, rolling])("GIVEN $strategy WHEN built THEN every alarm rolls back, in the given order", (deployment) => {
    expect(deploymentConfigFor(deployment, ALARMS).autoRollbackConfiguration).toEqual({
      alarms: [{ alarmName: ALARMS[0] }, { alarmName: ALARMS[1] }, { alarmName: ALARMS[2] }],
    });
  });
});

describe("guardrailWaitSeconds", () => {
  test("GIVEN all-at-once WHEN estimated THEN one bake plus the termination wait", () => {
    expect(guardrailWaitSeconds(allAtOnce, 4)).toBe(120 + 300);
  });

  test("GIVEN canary WHEN estimated THEN the canary bake and the final bake plus the termination wait", () => {
    expect(guardrailWaitSeconds({ ...canary, terminationWaitSeconds: 30 }, 4)).toBe(2 * 600 + 30);
  });

  test("GIVEN linear steps of 25% on 8 instances WHEN estimated THEN four bakes plus the termination wait", () => {
    expect(guardrailWaitSeconds(linear, 8)).toBe(4 * 300 + 60);
  });

  test("GIVEN rolling batches of 20% on 2 instances WHEN estimated THEN at most one bake per instance", () => {
    expect(guardrailWaitSeconds(rolling, 2)).toBe(2 * 240);
  });
});

describe("deploymentProblems", () => {
  const messagesOf = (deployment: DeploymentConfig, instanceType = "ml.m5.large", instanceCount = 4) =>
    deploymentProblems(deployment, instanceType, instanceCount).map((p) => `${p.field}: ${p.message}`);

  test.each([allAtOnce, canary, linear, rolling])("GIVEN a valid $strategy strategy WHEN checked THEN no problems", (deployment) => {
    expect(messagesOf(deployment)).toEqual([]);
  });

  test("GIVEN a wait beyond 3600 s WHEN checked THEN waitSeconds is named", () => {
    expect(messagesOf({ ...canary, waitSeconds: 3601 })).toContain("deployment.waitSeconds: must be a whole number of seconds from 0 to 3600, got 3601");
  });

  test("GIVEN an execution timeout below 600 s WHEN checked THEN maximumExecutionTimeoutSeconds is named", () => {
    expect(messagesOf({ ...allAtOnce, maximumExecutionTimeoutSeconds: 599 }))
      .toContain("deployment.maximumExecutionTimeoutSeconds: must be a whole number of seconds from 600 to 14400, got 599");
  });

  test("GIVEN a termination wait beyond 3600 s WHEN checked THEN terminationWaitSeconds is named", () => {
    expect(messagesOf({ ...allAtOnce, terminationWaitSeconds: 4000 }))
      .toContain("deployment.terminationWaitSeconds: must be a whole number of seconds from 0 to 3600, got 4000");
  });

  test("GIVEN a canary above 50% WHEN checked THEN canarySizePercent is named", () => {
    expect(messagesOf({ ...canary, canarySizePercent: 60 })).toContain("deployment.canarySizePercent: must be a whole number of percent from 1 to 50, got 60");
  });

  test("GIVEN a linear step below 10% WHEN checked THEN stepSizePercent is named", () => {
    expect(messagesOf({ ...linear, stepSizePercent: 5 })).toContain("deployment.stepSizePercent: must be a whole number of percent from 10 to 50, got 5");
  });

  test("GIVEN a rolling batch above 50% WHEN checked THEN batchSizePercent is named", () => {
    expect(messagesOf({ ...rolling, batchSizePercent: 75 })).toContain("deployment.batchSizePercent: must be a whole number of percent from 5 to 50, got 75");
  });

  test("GIVEN a rolling rollback batch below 5% WHEN checked THEN rollbackBatchSizePercent is named", () => {
    expect(messagesOf({ ...rolling, rollbackBatchSizePercent: 2 }))
      .toContain("deployment.rollbackBatchSizePercent: must be a whole number of percent from 5 to 100, got 2");
  });

  test("GIVEN rolling on a single instance WHEN checked THEN the strategy is rejected with the way out", () => {
    expect(messagesOf(rolling, "ml.m5.large", 1)).toEqual([
      "deployment.strategy: rolling needs at least 2 instances (a batch is at least one instance and at most 50% of the fleet), "
        + "got instanceCount 1; use all-at-once, canary or linear for a single instance",
    ]);
  });

  test("GIVEN canary on Inf1 WHEN checked THEN the strategy is rejected because guardrails would silently not apply", () => {
    expect(messagesOf(canary, "ml.inf1.xlarge")).toEqual([
      "deployment.strategy: ml.inf1.xlarge endpoints ignore deployment guardrails (SageMaker falls back to all-at-once without baking); "
        + "use strategy all-at-once or another instance type, got canary",
    ]);
  });

  test("GIVEN all-at-once on Inf1 WHEN checked THEN no problems", () => {
    expect(messagesOf(allAtOnce, "ml.inf1.xlarge")).toEqual([]);
  });

  test("GIVEN linear waits that outlast the provider WHEN checked THEN the total wait is rejected", () => {
    const slow: DeploymentConfig = { ...linear, stepSizePercent: 10, waitSeconds: 600, terminationWaitSeconds: 0 };
    expect(messagesOf(slow, "ml.m5.large", 10)).toEqual([
      `deployment: baking and termination waits add up to 6000 s; the provider stops waiting for InService after 60 minutes, so keep them at or below ${MAX_GUARDRAIL_WAIT_SECONDS} s (shorter waits or larger steps)`,
    ]);
  });

  test("GIVEN an execution timeout shorter than the waits WHEN checked THEN the timeout is rejected", () => {
    expect(messagesOf({ ...canary, maximumExecutionTimeoutSeconds: 1200 })).toEqual([
      "deployment.maximumExecutionTimeoutSeconds: 1200 s does not cover the 1200 s of baking and termination waits: every deployment would time out and roll back",
    ]);
  });
});
