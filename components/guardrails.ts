import type { DeploymentSpec } from "./endpoint-spec";

/**
 * Deployment guardrails of a blue/green endpoint: the Endpoint's `deploymentConfig`, the ranges of
 * its settings and the time a strategy takes (DESIGN §5.5); the rules that use them are in
 * components/endpoint-rules.ts. Pure: no Pulumi, no AWS calls.
 *
 * AWS references: BlueGreenUpdatePolicy, TrafficRoutingConfig, RollingUpdatePolicy and
 * AutoRollbackConfig in the SageMaker API reference, and
 * https://docs.aws.amazon.com/sagemaker/latest/dg/deployment-guardrails.html
 */

/** SageMaker takes 1-10 rollback alarms per endpoint. */
export const MAX_ROLLBACK_ALARMS = 10;

/**
 * The Pulumi AWS provider waits at most 60 minutes for an endpoint to return to InService.
 * Baking and termination waits get at most 40 of them; the rest is for provisioning the new fleet.
 */
export const MAX_GUARDRAIL_WAIT_SECONDS = 40 * 60;

/** A batch size as a share of the variant's capacity. */
export interface CapacityPercent {
  readonly type: "CAPACITY_PERCENT";
  readonly value: number;
}

/** The Endpoint's `deploymentConfig`, shaped like `aws.sagemaker.Endpoint`'s input. */
export interface EndpointDeploymentSpec {
  readonly autoRollbackConfiguration: { readonly alarms: { readonly alarmName: string }[] };
  readonly blueGreenUpdatePolicy?: {
    readonly trafficRoutingConfiguration: {
      readonly type: "ALL_AT_ONCE" | "CANARY" | "LINEAR";
      readonly waitIntervalInSeconds: number;
      readonly canarySize?: CapacityPercent;
      readonly linearStepSize?: CapacityPercent;
    };
    readonly terminationWaitInSeconds: number;
    readonly maximumExecutionTimeoutInSeconds?: number;
  };
  readonly rollingUpdatePolicy?: {
    readonly maximumBatchSize: CapacityPercent;
    readonly waitIntervalInSeconds: number;
    readonly rollbackMaximumBatchSize?: CapacityPercent;
    readonly maximumExecutionTimeoutInSeconds?: number;
  };
}

function percent(value: number): CapacityPercent {
  return { type: "CAPACITY_PERCENT", value };
}

/** Adds `key: value` only when the value is set, so absent settings stay absent. */
function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

/** The rollback alarms in their fixed order: the component's two, then the additional ones. */
export function rollbackAlarmList(
  created: { readonly errorAlarm: string; readonly latencyAlarm: string },
  additional: readonly string[],
): string[] {
  return [created.errorAlarm, created.latencyAlarm, ...additional];
}

/**
 * The Endpoint's `deploymentConfig` for a strategy. `rollbackAlarmNames` is used as given, in order:
 * the list is part of the endpoint's identity (changing it replaces the endpoint, DESIGN §5.2).
 */
export function deploymentConfigFor(
  deployment: DeploymentSpec,
  rollbackAlarmNames: readonly string[],
): EndpointDeploymentSpec {
  const autoRollbackConfiguration = { alarms: rollbackAlarmNames.map((alarmName) => ({ alarmName })) };
  if (deployment.strategy === "rolling") {
    return {
      autoRollbackConfiguration,
      rollingUpdatePolicy: {
        maximumBatchSize: percent(deployment.batchSizePercent),
        waitIntervalInSeconds: deployment.waitSeconds,
        ...optional("rollbackMaximumBatchSize", deployment.rollbackBatchSizePercent === undefined
          ? undefined : percent(deployment.rollbackBatchSizePercent)),
        ...optional("maximumExecutionTimeoutInSeconds", deployment.maximumExecutionTimeoutSeconds),
      },
    };
  }
  const routing = deployment.strategy === "canary"
    ? { type: "CANARY" as const, canarySize: percent(deployment.canarySizePercent) }
    : deployment.strategy === "linear"
      ? { type: "LINEAR" as const, linearStepSize: percent(deployment.stepSizePercent) }
      : { type: "ALL_AT_ONCE" as const };
  return {
    autoRollbackConfiguration,
    blueGreenUpdatePolicy: {
      trafficRoutingConfiguration: { ...routing, waitIntervalInSeconds: deployment.waitSeconds },
      terminationWaitInSeconds: deployment.terminationWaitSeconds,
      ...optional("maximumExecutionTimeoutInSeconds", deployment.maximumExecutionTimeoutSeconds),
    },
  };
}

/** Traffic steps (linear) or batches (rolling) of `sizePercent`: each moves at least one instance, so at most `instanceCount`. */
export function trafficSteps(sizePercent: number, instanceCount: number): number {
  return Math.max(1, Math.min(Math.ceil(100 / Math.max(1, sizePercent)), instanceCount));
}

/**
 * The longest a deployment spends in baking periods and the termination wait, besides provisioning.
 * Each traffic step bakes for `waitSeconds` (see trafficSteps). Canary bakes twice (the canary, then
 * the full fleet).
 */
export function guardrailWaitSeconds(deployment: DeploymentSpec, instanceCount: number): number {
  const steps = (sizePercent: number) => trafficSteps(sizePercent, instanceCount);
  switch (deployment.strategy) {
    case "all-at-once":
      return deployment.waitSeconds + deployment.terminationWaitSeconds;
    case "canary":
      return 2 * deployment.waitSeconds + deployment.terminationWaitSeconds;
    case "linear":
      return steps(deployment.stepSizePercent) * deployment.waitSeconds + deployment.terminationWaitSeconds;
    case "rolling":
      return steps(deployment.batchSizePercent) * deployment.waitSeconds;
  }
}

/** SageMaker's ranges for the deployment settings (DESIGN §5.5), by stack-file field under `deployment`. */
export const GUARDRAIL_RANGES = {
  waitSeconds: { min: 0, max: 3600, unit: "seconds" },
  terminationWaitSeconds: { min: 0, max: 3600, unit: "seconds" },
  maximumExecutionTimeoutSeconds: { min: 600, max: 14400, unit: "seconds" },
  canarySizePercent: { min: 1, max: 50, unit: "percent" },
  stepSizePercent: { min: 10, max: 50, unit: "percent" },
  batchSizePercent: { min: 5, max: 50, unit: "percent" },
  rollbackBatchSizePercent: { min: 5, max: 100, unit: "percent" },
} as const;
