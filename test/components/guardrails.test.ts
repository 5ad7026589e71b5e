import type { DeploymentSpec } from "../../components/endpoint-spec";
import { deploymentConfigFor, guardrailWaitSeconds, rollbackAlarmList, trafficSteps } from "../../components/guardrails";

// The rules on a strategy (deploymentProblems and the ranges) are tested in endpoint-rules.test.ts.

const ALARMS = ["svc-ep-invocation-5xx", "svc-ep-model-latency", "team-alarm"];

const allAtOnce: DeploymentSpec = { strategy: "all-at-once", waitSeconds: 120, terminationWaitSeconds: 300 };
const canary: DeploymentSpec = { strategy: "canary", canarySizePercent: 10, waitSeconds: 600, terminationWaitSeconds: 0 };
const linear: DeploymentSpec = { strategy: "linear", stepSizePercent: 25, waitSeconds: 300, terminationWaitSeconds: 60 };
const rolling: DeploymentSpec = { strategy: "rolling", batchSizePercent: 20, waitSeconds: 240 };

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

describe("trafficSteps", () => {
  test.each<[number, number, number]>([
    [25, 8, 4],
    [10, 3, 3],
    [34, 10, 3],
    [50, 1, 1],
    [0, 5, 5],
  ])("GIVEN steps of %p%% on %p instances WHEN counted THEN %p steps (each at least one instance)", (percent, instances, steps) => {
    expect(trafficSteps(percent, instances)).toBe(steps);
  });
});
