import type { EndpointEstimate, PlannedResource, StackEstimates } from "./types";
import type { DeploymentSpec, StepFunctionsCanarySpec } from "../../components/endpoint-spec";
import { type GuardrailDeploymentSpec, guardrailWaitSeconds, trafficSteps } from "../../components/guardrails";
import { instanceFamily } from "../../components/instance-types";
import { hourlyPrice, PRICE_TABLE } from "../lib/prices";

/**
 * Rollout time and cost of each endpoint, from the Endpoint and EndpointConfiguration the program
 * registered (the provider's view), not from the stack file, so the estimate is of what would deploy.
 *
 * Rollout = provisioning + every wait. Blue/green provisions the whole green fleet once, then bakes
 * (canary twice, linear once per step) and waits before terminating the blue fleet. Rolling
 * provisions one batch per step and bakes after each. The waits come from the same function the
 * endpoint component checks its settings with (components/guardrails.ts guardrailWaitSeconds).
 */

/**
 * ASSUMPTION: minutes SageMaker needs to bring new instances InService (launch, pull the image,
 * download and load the model, pass the health check). CPU endpoints of modest images typically
 * take 5-10 minutes; GPU and accelerator images (CUDA, Triton, Neuron) are larger. Stated in the
 * plan output; change here if your endpoints are measurably slower.
 */
export const PROVISIONING_MINUTES = { cpu: 10, accelerated: 15, serverless: 5 } as const;

/**
 * ASSUMPTION: serverless variants bill per invocation (memory x duration) and per hour of
 * provisioned concurrency; the plan knows no traffic, so it estimates no cost for them and says so.
 * Their "instances" are shown as `serverless <memory> MiB` with their maximum concurrency.
 */
export const SERVERLESS_COST_NOTE = "serverless: billed per invocation (memory x duration) and per hour of provisioned concurrency; not estimated";

/** The provider waits at most 60 minutes for InService (terraform-provider-aws sagemaker/endpoint.go waitEndpointInService). */
export const PROVIDER_WAIT_MINUTES = 60;
/** Rollouts within 25% of that limit get a warning. */
export const WARN_ABOVE_MINUTES = PROVIDER_WAIT_MINUTES * 0.75;

const ACCELERATED = /^(g\d|p\d|inf\d|trn\d|dl\d)/;

export function provisioningMinutes(instanceType: string): number {
  return ACCELERATED.test(instanceFamily(instanceType) ?? "") ? PROVISIONING_MINUTES.accelerated : PROVISIONING_MINUTES.cpu;
}

/** The Endpoint's `deploymentConfig` input, as the provider receives it. */
export interface DeploymentConfigInput {
  readonly blueGreenUpdatePolicy?: {
    readonly trafficRoutingConfiguration?: {
      readonly type?: string;
      readonly waitIntervalInSeconds?: number;
      readonly canarySize?: CapacityInput;
      readonly linearStepSize?: CapacityInput;
    };
    readonly terminationWaitInSeconds?: number;
    readonly maximumExecutionTimeoutInSeconds?: number;
  };
  readonly rollingUpdatePolicy?: {
    readonly maximumBatchSize?: CapacityInput;
    readonly rollbackMaximumBatchSize?: CapacityInput;
    readonly waitIntervalInSeconds?: number;
    readonly maximumExecutionTimeoutInSeconds?: number;
  };
  readonly autoRollbackConfiguration?: { readonly alarms?: readonly { readonly alarmName?: string }[] };
}

export interface CapacityInput {
  readonly type?: string;
  readonly value?: number;
}

/** A capacity size as a percentage of the fleet (INSTANCE_COUNT sizes converted). */
function percentOf(size: CapacityInput | undefined, instanceCount: number): number {
  const value = Number(size?.value ?? 100);
  return size?.type === "INSTANCE_COUNT" ? Math.min(100, (100 * value) / Math.max(1, instanceCount)) : value;
}

/** The guardrail settings of an Endpoint input in the shape of the stack-file schema. */
export function deploymentOf(input: unknown, instanceCount: number): GuardrailDeploymentSpec {
  const config = (input ?? {}) as DeploymentConfigInput;
  const rolling = config.rollingUpdatePolicy;
  if (rolling) {
    return {
      strategy: "rolling",
      batchSizePercent: percentOf(rolling.maximumBatchSize, instanceCount),
      waitSeconds: Number(rolling.waitIntervalInSeconds ?? 0),
      ...(rolling.maximumExecutionTimeoutInSeconds === undefined ? {} : { maximumExecutionTimeoutSeconds: rolling.maximumExecutionTimeoutInSeconds }),
    };
  }
  const blueGreen = config.blueGreenUpdatePolicy ?? {};
  const routing = blueGreen.trafficRoutingConfiguration ?? {};
  const timeout = blueGreen.maximumExecutionTimeoutInSeconds;
  const common = {
    waitSeconds: Number(routing.waitIntervalInSeconds ?? 0),
    terminationWaitSeconds: Number(blueGreen.terminationWaitInSeconds ?? 0),
    ...(timeout === undefined ? {} : { maximumExecutionTimeoutSeconds: timeout }),
  };
  if (routing.type === "CANARY") return { strategy: "canary", canarySizePercent: percentOf(routing.canarySize, instanceCount), ...common };
  if (routing.type === "LINEAR") return { strategy: "linear", stepSizePercent: percentOf(routing.linearStepSize, instanceCount), ...common };
  return { strategy: "all-at-once", ...common };
}

/** How one strategy rolls out an instance fleet: what an estimate is computed from. */
interface Rollout {
  readonly strategy: string;
  /** Fleets or batches provisioned one after another. */
  readonly rounds: number;
  /** Baking and termination waits. */
  readonly waitSeconds: number;
  /** Instance-minutes a deployment runs beside the serving fleet, from the rollout's length in minutes. */
  readonly extraInstanceMinutes: (rolloutMinutes: number, perRound: number) => number;
  readonly maximumExecutionTimeoutSeconds?: number;
}

/**
 * The instances of an endpoint's variants: one type, or several (an A/B test) shown together, priced
 * per instance on average and provisioned as fast as the slowest type.
 */
export interface Fleet {
  readonly instanceType: string;
  readonly instanceCount: number;
  /** Average on-demand price per instance-hour; null when a type has no price. @default - the price of instanceType */
  readonly hourlyUsd?: number | null;
  /** The type whose provisioning takes longest. @default - instanceType */
  readonly provisioningType?: string;
}

/** The fleet of a config's instance variants. */
export function fleetOf(variants: readonly { instanceType?: string; initialInstanceCount?: number }[]): Fleet {
  const counts = variants.map((v) => ({ type: String(v.instanceType ?? ""), count: Number(v.initialInstanceCount ?? 0) }));
  const instanceCount = counts.reduce((n, v) => n + v.count, 0);
  const types = [...new Set(counts.map((v) => v.type))];
  if (types.length === 1) return { instanceType: types[0], instanceCount };
  const prices = counts.map((v) => (hourlyPrice(v.type) === undefined ? null : v.count * (hourlyPrice(v.type) ?? 0)));
  return {
    instanceType: types.join(" + "),
    instanceCount,
    hourlyUsd: prices.includes(null) ? null : (prices as number[]).reduce((a, b) => a + b, 0) / Math.max(1, instanceCount),
    provisioningType: types.reduce((slowest, t) => (provisioningMinutes(t) > provisioningMinutes(slowest) ? t : slowest)),
  };
}

/** An instance endpoint's estimate from how its strategy rolls out. */
function instanceEstimate(endpoint: PlannedResource, variant: Fleet, endpointKey: string | null, rollout: Rollout): EndpointEstimate {
  const { instanceType, instanceCount } = variant;
  const perRound = provisioningMinutes(variant.provisioningType ?? instanceType);
  const rolloutMinutes = rollout.rounds * perRound + rollout.waitSeconds / 60;
  const hourly = variant.hourlyUsd !== undefined ? variant.hourlyUsd : hourlyPrice(instanceType) ?? null;
  return {
    endpointName: endpoint.physicalName ?? endpoint.name,
    urn: endpoint.urn,
    endpointKey,
    instanceType,
    instanceCount,
    strategy: rollout.strategy,
    provisioningMinutes: perRound,
    provisioningRounds: rollout.rounds,
    waitMinutes: round(rollout.waitSeconds / 60, 1),
    rolloutMinutes: round(rolloutMinutes, 1),
    maximumExecutionTimeoutMinutes: rollout.maximumExecutionTimeoutSeconds === undefined
      ? null : round(rollout.maximumExecutionTimeoutSeconds / 60, 1),
    hourlyUsd: hourly,
    deployCostUsd: hourly === null ? null : round((rollout.extraInstanceMinutes(rolloutMinutes, perRound) * hourly) / 60, 2),
    monthlyCostUsd: hourly === null ? null : round(instanceCount * hourly * PRICE_TABLE.hoursPerMonth, 2),
  };
}

/** Rollout time and cost of one Endpoint, from its inputs and its EndpointConfiguration's first variant. */
export function estimateEndpoint(
  endpoint: PlannedResource,
  variant: Fleet,
  endpointKey: string | null,
): EndpointEstimate {
  const { instanceCount } = variant;
  const deployment = deploymentOf(endpoint.inputs.deploymentConfig, instanceCount);
  const steps = deployment.strategy === "rolling" ? trafficSteps(deployment.batchSizePercent, instanceCount) : 1;
  // Blue/green runs a second full fleet for the whole rollout; rolling runs one extra batch.
  const extraInstances = deployment.strategy === "rolling" ? Math.ceil(instanceCount / steps) : instanceCount;
  return instanceEstimate(endpoint, variant, endpointKey, {
    strategy: deployment.strategy,
    rounds: steps,
    waitSeconds: guardrailWaitSeconds(deployment, instanceCount),
    extraInstanceMinutes: (rolloutMinutes) => extraInstances * rolloutMinutes,
    maximumExecutionTimeoutSeconds: deployment.maximumExecutionTimeoutSeconds,
  });
}

/**
 * Rollout of the canary deployer: an update brings up the canary's instances, the canary bakes, and
 * a second update brings up the promoted fleet beside the old one. A person's approval is not
 * counted (the plan cannot know how long it takes; ASSUMPTION: none), nor the polls' granularity.
 * One deployment costs the canary's instances for the whole rollout plus the new fleet while it
 * comes up. The provider's 60-minute wait does not apply: the state machine waits, not Pulumi.
 */
export function estimateCanaryDeployer(
  endpoint: PlannedResource,
  variant: Fleet,
  endpointKey: string | null,
  deployment: StepFunctionsCanarySpec,
): EndpointEstimate {
  return instanceEstimate(endpoint, variant, endpointKey, {
    strategy: deployment.strategy,
    rounds: 2,
    waitSeconds: deployment.bakeSeconds,
    extraInstanceMinutes: (rolloutMinutes, perRound) => deployment.canaryInstanceCount * rolloutMinutes + variant.instanceCount * perRound,
  });
}

/** Rollout time of a serverless endpoint: no fleet to provision, the waits as for instances; no cost (SERVERLESS_COST_NOTE). */
function estimateServerless(
  endpoint: PlannedResource, serverless: { memorySizeInMb?: number; maxConcurrency?: number }, endpointKey: string | null,
): EndpointEstimate {
  const deployment = deploymentOf(endpoint.inputs.deploymentConfig, 1);
  const waitSeconds = guardrailWaitSeconds(deployment, 1);
  const rolloutMinutes = PROVISIONING_MINUTES.serverless + waitSeconds / 60;
  return {
    endpointName: endpoint.physicalName ?? endpoint.name,
    urn: endpoint.urn,
    endpointKey,
    instanceType: `serverless ${String(serverless.memorySizeInMb)} MiB`,
    instanceCount: Number(serverless.maxConcurrency ?? 1),
    strategy: deployment.strategy,
    provisioningMinutes: PROVISIONING_MINUTES.serverless,
    provisioningRounds: 1,
    waitMinutes: round(waitSeconds / 60, 1),
    rolloutMinutes: round(rolloutMinutes, 1),
    maximumExecutionTimeoutMinutes: deployment.maximumExecutionTimeoutSeconds === undefined
      ? null : round(deployment.maximumExecutionTimeoutSeconds / 60, 1),
    hourlyUsd: null,
    deployCostUsd: null,
    monthlyCostUsd: null,
  };
}

/** Every endpoint's estimate and the stack's monthly instance cost. */
export function estimateStack(
  resources: readonly PlannedResource[],
  endpointKeyOf: (r: PlannedResource) => string | null,
  deploymentOfKey: (key: string) => DeploymentSpec | undefined = () => undefined,
): StackEstimates {
  const configs = new Map<string, PlannedResource>();
  for (const r of resources) {
    if (r.type === "aws:sagemaker/endpointConfiguration:EndpointConfiguration" && r.physicalName) configs.set(r.physicalName, r);
  }
  const endpoints: EndpointEstimate[] = [];
  for (const endpoint of resources) {
    if (endpoint.type !== "aws:sagemaker/endpoint:Endpoint") continue;
    const config = configs.get(String(endpoint.inputs.endpointConfigName));
    const variants = (config?.inputs.productionVariants ?? []) as {
      instanceType?: string; initialInstanceCount?: number; serverlessConfig?: { memorySizeInMb?: number; maxConcurrency?: number };
    }[];
    if (variants.length === 0) continue;
    const serverless = variants[0].serverlessConfig;
    if (serverless !== undefined) {
      endpoints.push(estimateServerless(endpoint, serverless, endpointKeyOf(endpoint)));
      continue;
    }
    const fleet = fleetOf(variants);
    // The canary deployer's settings are in its state machine, not in the Endpoint: the stack file says them.
    const key = endpointKeyOf(endpoint);
    const deployment = key === null ? undefined : deploymentOfKey(key);
    endpoints.push(deployment?.strategy === "step-functions-canary"
      ? estimateCanaryDeployer(endpoint, fleet, key, deployment)
      : estimateEndpoint(endpoint, fleet, key));
  }
  return {
    monthlyCostUsd: round(endpoints.reduce((sum, e) => sum + (e.monthlyCostUsd ?? 0), 0), 2),
    endpoints,
    assumptions: {
      provisioningMinutes: { ...PROVISIONING_MINUTES },
      providerWaitMinutes: PROVIDER_WAIT_MINUTES,
      warnAboveMinutes: WARN_ABOVE_MINUTES,
      prices: { source: PRICE_TABLE.source, date: PRICE_TABLE.date, region: PRICE_TABLE.region, hoursPerMonth: PRICE_TABLE.hoursPerMonth },
    },
  };
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
