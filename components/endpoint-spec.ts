/**
 * What an endpoint component takes, as plain types: the deployment strategy, the rollback alarms
 * and the variant's size. They belong to the components; the config schema (stacks/config/schema.ts)
 * is checked against them (`satisfies`), never the other way round. Rules on their values live in
 * components/endpoint-rules.ts.
 */
import type { ModelSource } from "./model-source";

/** Blue/green settings every blue/green strategy shares. */
interface BlueGreenSpec {
  /**
   * Baking period after each traffic shift, in seconds: SageMaker watches the rollback alarms
   * meanwhile (0-3600).
   */
  readonly waitSeconds: number;
  /**
   * Seconds the old fleet stays up after traffic has moved, for a fast manual rollback (0-3600).
   * @default 0
   */
  readonly terminationWaitSeconds: number;
  /**
   * Longest the whole deployment may take before SageMaker rolls it back, in seconds (600-14400).
   * @default - SageMaker's own limit
   */
  readonly maximumExecutionTimeoutSeconds?: number;
}

/** How a new endpoint config replaces the old one (deployment guardrails, DESIGN §5.5). */
export type DeploymentSpec =
  | ({ readonly strategy: "all-at-once" } & BlueGreenSpec)
  | ({
    readonly strategy: "canary";
    /** Share of the new fleet that takes traffic first, in percent of the instances (1-50). */
    readonly canarySizePercent: number;
  } & BlueGreenSpec)
  | ({
    readonly strategy: "linear";
    /** Share of traffic moved per step, in percent of the instances (10-50). */
    readonly stepSizePercent: number;
  } & BlueGreenSpec)
  | StepFunctionsCanarySpec
  | {
    readonly strategy: "rolling";
    /** Instances replaced per batch, in percent of the fleet (5-50). */
    readonly batchSizePercent: number;
    /** Baking period after each batch, in seconds (0-3600). */
    readonly waitSeconds: number;
    /**
     * Instances rolled back per batch, in percent (5-100).
     * @default - the whole fleet at once
     */
    readonly rollbackBatchSizePercent?: number;
    /**
     * Longest the whole deployment may take, in seconds (600-14400).
     * @default - SageMaker's own limit
     */
    readonly maximumExecutionTimeoutSeconds?: number;
  };

/**
 * The canary deployer (issue 11, seed 003): a Step Functions state machine, not SageMaker's
 * guardrails, moves the endpoint to a new version. Pulumi creates the endpoint once; after that,
 * `npx projen deploy` starts an execution that runs a weighted canary variant, bakes it while
 * watching its alarms, optionally waits for a person's approval, promotes the new version with a
 * single-variant config (or rolls back), re-applies autoscaling, and notifies on an SNS topic.
 * It can bake longer than the provider's 60-minute wait and change the instance type of an
 * autoscaled variant.
 */
export interface StepFunctionsCanarySpec {
  readonly strategy: "step-functions-canary";
  /**
   * Share of requests the canary variant takes while it bakes, in percent (1-50).
   * @default 20 (seed 003's 8:2)
   */
  readonly canaryWeightPercent: number;
  /**
   * Instances of the canary variant (the serving variant keeps its own).
   * @default 1
   */
  readonly canaryInstanceCount: number;
  /**
   * How long the canary bakes while its alarms are watched, in seconds (60-86400).
   * @default 1200 (seed 003: about 20 minutes)
   */
  readonly bakeSeconds: number;
  /**
   * Seconds between two looks at the endpoint's status while it updates (10-300).
   * @default 30
   */
  readonly pollSeconds: number;
  /**
   * Most looks at the endpoint's status per update before the update counts as failed and the
   * deployment rolls back (1-1000): pollSeconds x maxPolls bounds each update.
   * @default 60
   */
  readonly maxPolls: number;
  /**
   * Wait for a person's approval (`npx projen deploy approve|reject`) after a healthy bake.
   * @default - no approval: a healthy canary is promoted at once
   */
  readonly approval?: {
    /** Seconds to wait for the decision before rolling back (300-604800, at most 7 days). */
    readonly timeoutSeconds: number;
  };
}

/** The rollback alarms an endpoint component creates, and further ones it lists. */
export interface RollbackAlarmSpec {
  /**
   * 5XX invocation errors per minute at which a deployment rolls back.
   * @default 1
   */
  readonly invocation5xxErrorsPerMinute: number;
  /**
   * p99 model latency, in milliseconds, at which a deployment rolls back.
   * @default 1000
   */
  readonly modelLatencyP99Milliseconds: number;
  /**
   * Consecutive one-minute periods over the threshold before an alarm fires.
   * @default 2
   */
  readonly evaluationPeriods: number;
  /**
   * Names of further alarms in the endpoint's account that also roll back a deployment. The list
   * is part of the endpoint's identity: changing it replaces the endpoint (DESIGN §5.2).
   * @default []
   */
  readonly additionalRollbackAlarmNames: readonly string[];
}

/**
 * Target-tracking autoscaling of an instance-based variant on invocations per instance (seed 000's
 * example: 2-10 instances, 70 invocations per instance, 600 s in, 30 s out).
 */
export interface AutoscalingSpec {
  /** Fewest instances (at least 1; the variant's instanceCount must be at least this). */
  readonly minCapacity: number;
  /** Most instances. */
  readonly maxCapacity: number;
  /** Invocations per instance per minute that the policy keeps the variant at. */
  readonly targetInvocationsPerInstance: number;
  /**
   * Seconds after a scale-in before another scale-in.
   * @default 600
   */
  readonly scaleInCooldownSeconds: number;
  /**
   * Seconds after a scale-out before another scale-out.
   * @default 30
   */
  readonly scaleOutCooldownSeconds: number;
}

/**
 * A serverless variant: SageMaker runs the container on demand, billed per invocation; no
 * instances, volumes or autoscaling.
 */
export interface ServerlessSpec {
  /** Memory of each concurrent invocation, in MiB: 1024-6144 in steps of 1024. */
  readonly memorySizeMiB: number;
  /** Most concurrent invocations (1-200). */
  readonly maxConcurrency: number;
  /**
   * Invocations kept warm, at most maxConcurrency (1-200): they skip the cold start, and bill by the hour.
   * @default - none: the first invocations after an idle period wait for a cold start
   */
  readonly provisionedConcurrency?: number;
}

/**
 * Asynchronous inference: requests queue, results and failures land in the stage bucket (encrypted
 * with the stage key), optionally announced on SNS topics; the variant may scale to zero.
 */
export interface AsyncSpec {
  /**
   * Requests each instance works on at once (1-1000).
   * @default - SageMaker chooses
   */
  readonly maxConcurrentInvocationsPerInstance?: number;
  /**
   * Create SNS topics (KMS-encrypted with the stage key) for finished and failed requests.
   * @default false
   */
  readonly notifications: boolean;
  /**
   * Scale between 0 and maxCapacity instances on the queue's backlog per instance
   * (ApproximateBacklogSizePerInstance), with a step policy that scales out from zero when requests
   * arrive (HasBacklogWithoutCapacity).
   * @default - a fixed instanceCount
   */
  readonly scaleToZero?: {
    /** Most instances (1 or more). */
    readonly maxCapacity: number;
    /** Queued requests per instance the policy keeps the variant at. */
    readonly targetBacklogPerInstance: number;
  };
}

/** One more variant of an A/B test: another version of the endpoint's model, on its own instances. */
export interface AbVariantSpec {
  /** Production variant name (letters, digits and hyphens; not the endpoint's own variant name). */
  readonly name: string;
  /** The version this variant serves: a registry version, or an image plus model data. */
  readonly model: ModelSource;
  /** Share of requests relative to the other variants' weights (>= 0). */
  readonly weight: number;
  /**
   * Hosting instance type.
   * @default - the endpoint's instanceType
   */
  readonly instanceType?: string;
  /**
   * Instances of this variant.
   * @default - the endpoint's instanceCount
   */
  readonly instanceCount?: number;
}

/**
 * An A/B test (seed 002): further variants beside the endpoint's own, each with its weight. The
 * endpoint's two rollback alarms then watch the worst variant (their names, part of the endpoint's
 * identity, stay the same), and each further variant gets alarms of its own.
 */
export interface AbTestSpec {
  /** Weight of the endpoint's own variant (>= 0). */
  readonly weight: number;
  /** The further variants (1-9: an endpoint config takes at most 10 variants). */
  readonly variants: readonly AbVariantSpec[];
}

/**
 * One real-time endpoint: its own variant, instance-based (instanceType and instanceCount) or
 * serverless (serverless), and an A/B test's further variants; what its rules look at.
 */
export interface RealtimeEndpointSpec {
  /** The endpoint's stable name (the component's logical name). */
  readonly name: string;
  /** Production variant name. */
  readonly variantName: string;
  /** The model: a registry version, or an image plus model data. */
  readonly model: ModelSource;
  /**
   * Hosting instance type, such as `ml.m5.large`.
   * @default - none: a serverless variant
   */
  readonly instanceType?: string;
  /**
   * Instances the variant starts with (and returns to on every config change).
   * @default - none: a serverless variant
   */
  readonly instanceCount?: number;
  /**
   * A serverless variant instead of instances.
   * @default - an instance-based variant
   */
  readonly serverless?: ServerlessSpec;
  /**
   * A multi-model endpoint (instances, image source): the container (mode MultiModel) loads the
   * models under the endpoint's prefix of the stage bucket, which `npx projen models add` fills.
   * @default false
   */
  readonly multiModel?: boolean;
  /**
   * Seconds SageMaker waits for the container's health check after start (60-3600; seed 000: 60).
   * @default - SageMaker's default
   */
  readonly containerStartupHealthCheckTimeoutSeconds?: number;
  /**
   * Seconds SageMaker waits for the model data to download to an instance (60-3600).
   * @default - SageMaker's default
   */
  readonly modelDataDownloadTimeoutSeconds?: number;
  /**
   * ML storage volume per instance, in GiB (1-512).
   * @default - SageMaker's default for the instance type
   */
  readonly volumeSizeGiB?: number;
  readonly deployment: DeploymentSpec;
  readonly alarms: RollbackAlarmSpec;
  /**
   * Autoscaling of the variant.
   * @default - a fixed instanceCount
   */
  readonly autoscaling?: AutoscalingSpec;
  /**
   * Asynchronous inference (instance-based variants only).
   * @default - a real-time endpoint
   */
  readonly async?: AsyncSpec;
  /**
   * An A/B test: further weighted variants (instance-based, real-time, single-model endpoints with a
   * guardrail strategy other than rolling).
   * @default - the endpoint's own variant only
   */
  readonly abTest?: AbTestSpec;
}
