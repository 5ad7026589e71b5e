import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { AsyncInference, BacklogScaling } from "./async-inference";
import { formatRuleProblems, realtimeEndpointProblems, type RuleProblem } from "./endpoint-rules";
import type { AsyncSpec, AutoscalingSpec, DeploymentSpec, RollbackAlarmSpec, ServerlessSpec } from "./endpoint-spec";
import { deploymentConfigFor, rollbackAlarmList, usesGuardrails } from "./guardrails";
import { hasLocalInstanceStorage } from "./instance-types";
import type { ModelSource } from "./model-source";
import { endpointChildNames, multiModelPrefix } from "./names";
import { VariantAutoscaling } from "./variant-autoscaling";

export interface BlueGreenEndpointArgs {
  /** Production variant name: the same in every endpoint config (blue/green and rolling need it). */
  readonly variantName: string;
  /** The model: a registry model package version, or an image plus model data. */
  readonly model: ModelSource;
  /** Role SageMaker assumes to pull the image and model data and to run the container. */
  readonly executionRoleArn: pulumi.Input<string>;
  /**
   * Hosting instance type, such as `ml.m5.large`.
   * @default - none: a serverless variant (serverless)
   */
  readonly instanceType?: string;
  /**
   * Instances the variant starts with (and returns to on every config change).
   * @default - none: a serverless variant (serverless)
   */
  readonly instanceCount?: number;
  /**
   * A serverless variant (memory and concurrency) instead of instances.
   * @default - an instance-based variant
   */
  readonly serverless?: ServerlessSpec;
  /**
   * Size of the EBS ML storage volume per instance, in GiB (1-512). Not allowed on instance types
   * with local NVMe storage, whose size is fixed.
   * @default - SageMaker's default size for the instance type
   */
  readonly volumeSizeGiB?: number;
  /**
   * KMS key that encrypts the ML storage volume. Dropped on instance types with local NVMe storage
   * (SageMaker rejects a key there, and a hardware module on the instance encrypts that storage)
   * and on serverless variants (which have no volume).
   * @default - SageMaker encrypts the volume with a transient key
   */
  readonly kmsKeyArn?: pulumi.Input<string>;
  /** Deployment guardrails: all-at-once, canary, linear or rolling. */
  readonly deployment: DeploymentSpec;
  /** Thresholds of the two rollback alarms the component creates, and further alarm names. */
  readonly alarms: RollbackAlarmSpec;
  /**
   * Target-tracking autoscaling of the variant on invocations per instance. Changing the instance
   * type of an autoscaled variant needs two deployments (the plan diff says so: README).
   * @default - a fixed instanceCount
   */
  readonly autoscaling?: AutoscalingSpec;
  /**
   * Asynchronous inference: results and failures in `stageBucketName`, encrypted with `kmsKeyArn`.
   * @default - a real-time endpoint
   */
  readonly async?: AsyncSpec;
  /**
   * The stage bucket: asynchronous results, and the models of a multi-model endpoint (required with
   * `async` or `multiModel`).
   * @default - none
   */
  readonly stageBucketName?: pulumi.Input<string>;
  /**
   * A multi-model endpoint: the container (mode MultiModel) loads the models under
   * `multi-model/<endpoint>/` of the stage bucket; the model source is an image.
   * @default false
   */
  readonly multiModel?: boolean;
  /**
   * Seconds SageMaker waits for the container's startup health check (60-3600).
   * @default - SageMaker's default
   */
  readonly containerStartupHealthCheckTimeoutSeconds?: number;
  /**
   * Seconds SageMaker waits for the model data to download (60-3600).
   * @default - SageMaker's default
   */
  readonly modelDataDownloadTimeoutSeconds?: number;
  /**
   * Tags on every child resource.
   * @default {}
   */
  readonly tags?: Record<string, string>;
}

/**
 * A real-time SageMaker endpoint with a stable name that updates blue/green: Model and
 * EndpointConfiguration are auto-named, so a new version is created before the Endpoint moves to it
 * (DESIGN §5.1), and deployment guardrails roll back on the component's CloudWatch alarms.
 * The component's logical name is the endpoint name clients call.
 */
export class BlueGreenEndpoint extends pulumi.ComponentResource {
  public readonly endpointName: pulumi.Output<string>;
  public readonly endpointArn: pulumi.Output<string>;
  public readonly modelName: pulumi.Output<string>;
  public readonly endpointConfigName: pulumi.Output<string>;

  constructor(name: string, args: BlueGreenEndpointArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mlplatform:sagemaker:BlueGreenEndpoint", name, {}, opts);
    const names = endpointChildNames(name);
    const tags = args.tags ?? {};
    const alarmNames = rollbackAlarmList(names, args.alarms.additionalRollbackAlarmNames);
    const problems = realtimeEndpointProblems({ ...args, name });
    if (args.async !== undefined && (args.stageBucketName === undefined || args.kmsKeyArn === undefined)) {
      problems.push({ field: "async", check: "capacity", message: "needs stageBucketName and kmsKeyArn (the stage bucket and key)", source: "the component's wiring" });
    }
    if (args.multiModel === true && args.stageBucketName === undefined) {
      problems.push({ field: "multiModel", check: "capacity", message: "needs stageBucketName (the stage bucket)", source: "the component's wiring" });
    }
    if (problems.length > 0) throw new EndpointArgsError("BlueGreenEndpoint", name, problems, this);
    // No volume to encrypt: a serverless variant, or local NVMe storage that the instance encrypts itself.
    const noVolumeKey = args.serverless !== undefined || hasLocalInstanceStorage(args.instanceType ?? "");
    // With the canary deployer, Pulumi creates the Model, the config and the Endpoint once (the first
    // deploy of the stack file's version) and leaves to the state machine what moves with each new
    // version: the Model's container (the deployer creates a Model per version), the config's variants
    // (version, instance type and count: the deployer's configs carry them) and the config the
    // Endpoint serves. Everything else (tags, roles, keys, alarms, scaling) stays Pulumi's.
    const deployer = usesGuardrails(args.deployment) ? undefined : args.deployment;
    const createdOnce = (...inputs: string[]) => (deployer === undefined ? {} : { ignoreChanges: inputs });

    // No `name`: auto-naming lets Pulumi create the replacement before deleting the old model.
    // enableNetworkIsolation stays unset (false). AWS documents no conflict between isolation and a
    // model package from another account: isolation is required only for AWS Marketplace packages
    // (docs: mkt-algo-model-internet-free.html; aws/aws-cdk#16779). It does forbid every outbound
    // call from the container (S3, other AWS APIs, model hubs), which not every inference image
    // allows for; turning it on is a per-image decision, and changing it replaces the model.
    const model = new aws.sagemaker.Model(names.modelLogical, {
      executionRoleArn: args.executionRoleArn,
      primaryContainer: "modelPackageArn" in args.model
        ? { modelPackageName: args.model.modelPackageArn }
        : {
          image: args.model.image,
          // A multi-model container loads `<prefix>/<TargetModel>` on first call (DESIGN §5.8).
          ...(args.multiModel === true
            ? { mode: "MultiModel", modelDataUrl: pulumi.interpolate`s3://${args.stageBucketName ?? ""}/${multiModelPrefix(name)}` }
            : { modelDataUrl: args.model.modelDataUrl }),
          ...(Object.keys(args.model.environment).length > 0 ? { environment: args.model.environment } : {}),
        },
      tags,
    }, { parent: this, ...createdOnce("primaryContainer") });

    const asyncInference = args.async === undefined ? undefined : new AsyncInference(`${name}-async`, {
      endpointName: name,
      variantName: args.variantName,
      spec: args.async,
      bucketName: args.stageBucketName ?? "",
      kmsKeyArn: args.kmsKeyArn ?? "",
      tags,
    }, { parent: this });

    const config = new aws.sagemaker.EndpointConfiguration(names.endpointConfigLogical, {
      productionVariants: [{
        variantName: args.variantName,
        modelName: model.name,
        initialVariantWeight: 1,
        ...(args.serverless === undefined
          ? {
            initialInstanceCount: args.instanceCount,
            instanceType: args.instanceType,
            ...(args.volumeSizeGiB === undefined ? {} : { volumeSizeInGb: args.volumeSizeGiB }),
            ...(args.containerStartupHealthCheckTimeoutSeconds === undefined ? {}
              : { containerStartupHealthCheckTimeoutInSeconds: args.containerStartupHealthCheckTimeoutSeconds }),
            ...(args.modelDataDownloadTimeoutSeconds === undefined ? {}
              : { modelDataDownloadTimeoutInSeconds: args.modelDataDownloadTimeoutSeconds }),
          }
          : {
            serverlessConfig: {
              memorySizeInMb: args.serverless.memorySizeMiB,
              maxConcurrency: args.serverless.maxConcurrency,
              ...(args.serverless.provisionedConcurrency === undefined ? {} : { provisionedConcurrency: args.serverless.provisionedConcurrency }),
            },
          }),
      }],
      ...(args.kmsKeyArn === undefined || noVolumeKey ? {} : { kmsKeyArn: args.kmsKeyArn }),
      ...(asyncInference === undefined ? {} : { asyncInferenceConfig: asyncInference.asyncInferenceConfig }),
      tags,
    }, { parent: this, ...createdOnce("productionVariants") });

    const dimensions = { EndpointName: name, VariantName: args.variantName };
    const common = {
      namespace: "AWS/SageMaker",
      dimensions,
      period: 60,
      evaluationPeriods: args.alarms.evaluationPeriods,
      treatMissingData: "notBreaching",
      tags,
    };
    // SageMaker's guardrails roll back on these; the canary deployer watches alarms of its own canary variant.
    const rollbackAlarms = deployer !== undefined ? [] : [new aws.cloudwatch.MetricAlarm(names.errorAlarm, {
      ...common,
      name: names.errorAlarm,
      alarmDescription: `Rolls back deployments of ${name}: 5XX invocation errors per minute of variant ${args.variantName}.`,
      metricName: "Invocation5XXErrors",
      statistic: "Sum",
      threshold: args.alarms.invocation5xxErrorsPerMinute,
      comparisonOperator: "GreaterThanOrEqualToThreshold",
    }, { parent: this }), new aws.cloudwatch.MetricAlarm(names.latencyAlarm, {
      ...common,
      name: names.latencyAlarm,
      alarmDescription: `Rolls back deployments of ${name}: p99 model latency of variant ${args.variantName} `
        + `above ${args.alarms.modelLatencyP99Milliseconds} ms.`,
      metricName: "ModelLatency",
      extendedStatistic: "p99",
      // ModelLatency is reported in microseconds.
      threshold: args.alarms.modelLatencyP99Milliseconds * 1000,
      comparisonOperator: "GreaterThanThreshold",
    }, { parent: this })];

    const endpoint = new aws.sagemaker.Endpoint(`${name}-endpoint`, {
      name,
      endpointConfigName: config.name,
      ...(usesGuardrails(args.deployment) ? { deploymentConfig: deploymentConfigFor(args.deployment, alarmNames) } : {}),
      tags,
    }, { parent: this, dependsOn: rollbackAlarms, ...createdOnce("endpointConfigName") });

    if (args.async?.scaleToZero !== undefined) {
      new BacklogScaling(`${name}-backlog-scaling`, {
        endpointName: name, variantName: args.variantName, scaleToZero: args.async.scaleToZero, endpoint, tags,
      }, { parent: this });
    }
    if (args.autoscaling !== undefined) {
      new VariantAutoscaling(`${name}-scaling`, {
        endpointName: name, variantName: args.variantName, scaling: args.autoscaling, endpoint,
      }, { parent: this });
    }

    this.endpointName = endpoint.name;
    this.endpointArn = endpoint.arn;
    this.modelName = model.name;
    this.endpointConfigName = config.name;
    this.registerOutputs({
      endpointName: this.endpointName,
      endpointArn: this.endpointArn,
      modelName: this.modelName,
      endpointConfigName: this.endpointConfigName,
    });
  }
}

/**
 * An endpoint component refused its arguments: the structured problems (components/endpoint-rules.ts)
 * travel with the error, so the offline plan reports them without reading the message.
 */
export class EndpointArgsError extends pulumi.ResourceError {
  /** Marks the error across module copies (the plan runs the program from a bundle). */
  public readonly endpointArgsError = true;

  constructor(
    public readonly component: string,
    public readonly endpointName: string,
    public readonly problems: readonly RuleProblem[],
    resource: pulumi.Resource,
  ) {
    super(`${component} "${endpointName}" has invalid arguments:\n${formatRuleProblems(problems)}`, resource);
  }
}

/** Whether an error is an EndpointArgsError (by its mark, so a second copy of this module still counts). */
export function isEndpointArgsError(error: unknown): error is EndpointArgsError {
  return typeof error === "object" && error !== null && (error as { endpointArgsError?: unknown }).endpointArgsError === true;
}
