import type { DeploymentSpec, StepFunctionsCanarySpec } from "./endpoint-spec";

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

/** The strategies SageMaker's deployment guardrails carry out (all but the canary deployer's). */
export type GuardrailDeploymentSpec = Exclude<DeploymentSpec, StepFunctionsCanarySpec>;

/** Whether SageMaker's guardrails carry out a strategy (the canary deployer's state machine does not use them). */
export function usesGuardrails(deployment: DeploymentSpec): deployment is GuardrailDeploymentSpec {
  return deployment.strategy !== "step-functions-canary";
}

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
  deployment: GuardrailDeploymentSpec,
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
    case "step-functions-canary":
      // The state machine's waits are its own; the provider waits for nothing but the first create.
      return 0;
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

/**
 * Ranges of the canary deployer's settings (StepFunctionsCanarySpec). These are the template's
 * choices within what the services take, each with its reason:
 * - canaryWeightPercent 1-50: a canary takes the smaller share (SageMaker's weights only need to be >= 0);
 * - canaryInstanceCount from 1: ProductionVariant.InitialInstanceCount (min 1);
 * - bakeSeconds 60-86400: CloudWatch alarms evaluate one-minute periods; a bake of a day covers a daily pattern;
 * - pollSeconds 10-300 and maxPolls 1-1000: DescribeEndpoint is cheap, and an update bounded near three days is surely stuck;
 * - approval.timeoutSeconds 300-604800: a person needs minutes; a week is the longest a canary should bill twice.
 * Step Functions itself allows waits and task timeouts of up to a year (a standard execution's limit).
 */
export const CANARY_DEPLOYER_RANGES = {
  "canaryWeightPercent": { min: 1, max: 50, unit: "percent" },
  "canaryInstanceCount": { min: 1, max: 100, unit: "instances" },
  "bakeSeconds": { min: 60, max: 86400, unit: "seconds" },
  "pollSeconds": { min: 10, max: 300, unit: "seconds" },
  "maxPolls": { min: 1, max: 1000, unit: "polls" },
  "approval.timeoutSeconds": { min: 300, max: 604800, unit: "seconds" },
} as const;
