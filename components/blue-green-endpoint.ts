import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { AsyncInference, BacklogScaling } from "./async-inference";
import { formatRuleProblems, realtimeEndpointProblems, type RuleProblem } from "./endpoint-rules";
import type { AbTestSpec, AsyncSpec, AutoscalingSpec, DeploymentSpec, RollbackAlarmSpec, ServerlessSpec } from "./endpoint-spec";
import { deploymentConfigFor, rollbackAlarmList, usesGuardrails } from "./guardrails";
import { hasLocalInstanceStorage } from "./instance-types";
import type { ModelSource } from "./model-source";
import { abVariantNames, endpointChildNames, multiModelPrefix } from "./names";
import { variantAlarmArgs } from "./variant-alarms";
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
   * An A/B test: further weighted variants, each with its own Model and alarm pair; the rollback
   * alarms then watch the worst variant.
   * @default - the endpoint's own variant only
   */
  readonly abTest?: AbTestSpec;
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
    const abVariants = args.abTest?.variants ?? [];
    // No volume to encrypt: a serverless variant, or local NVMe storage that the instance encrypts
    // itself (the config's key applies to every variant, so one such variant drops it).
    const noVolumeKey = args.serverless !== undefined
      || [args.instanceType, ...abVariants.map((v) => v.instanceType)].some((type) => hasLocalInstanceStorage(type ?? args.instanceType ?? ""));
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
      primaryContainer: args.multiModel === true && !("modelPackageArn" in args.model)
        ? {
          // A multi-model container loads `<prefix>/<TargetModel>` on first call (DESIGN §5.8).
          ...containerOf(args.model),
          mode: "MultiModel",
          modelDataUrl: pulumi.interpolate`s3://${args.stageBucketName ?? ""}/${multiModelPrefix(name)}`,
        }
        : containerOf(args.model),
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

    // An A/B test's further variants: each its own auto-named Model of another version, on instances.
    const abModels = abVariants.map((variant) => new aws.sagemaker.Model(abVariantNames(name, variant.name).modelLogical, {
      executionRoleArn: args.executionRoleArn,
      primaryContainer: containerOf(variant.model),
      tags,
    }, { parent: this }));
    const instanceSettings = (instanceType: string | undefined) => ({
      ...(args.volumeSizeGiB === undefined || hasLocalInstanceStorage(instanceType ?? "") ? {} : { volumeSizeInGb: args.volumeSizeGiB }),
      ...(args.containerStartupHealthCheckTimeoutSeconds === undefined ? {}
        : { containerStartupHealthCheckTimeoutInSeconds: args.containerStartupHealthCheckTimeoutSeconds }),
      ...(args.modelDataDownloadTimeoutSeconds === undefined ? {}
        : { modelDataDownloadTimeoutInSeconds: args.modelDataDownloadTimeoutSeconds }),
    });

    const config = new aws.sagemaker.EndpointConfiguration(names.endpointConfigLogical, {
      productionVariants: [{
        variantName: args.variantName,
        modelName: model.name,
        initialVariantWeight: args.abTest?.weight ?? 1,
        ...(args.serverless === undefined
          ? { initialInstanceCount: args.instanceCount, instanceType: args.instanceType, ...instanceSettings(args.instanceType) }
          : {
            serverlessConfig: {
              memorySizeInMb: args.serverless.memorySizeMiB,
              maxConcurrency: args.serverless.maxConcurrency,
              ...(args.serverless.provisionedConcurrency === undefined ? {} : { provisionedConcurrency: args.serverless.provisionedConcurrency }),
            },
          }),
      }, ...abVariants.map((variant, i) => {
        const instanceType = variant.instanceType ?? args.instanceType;
        return {
          variantName: variant.name,
          modelName: abModels[i].name,
          initialVariantWeight: variant.weight,
          initialInstanceCount: variant.instanceCount ?? args.instanceCount,
          instanceType,
          ...instanceSettings(instanceType),
        };
      })],
      ...(args.kmsKeyArn === undefined || noVolumeKey ? {} : { kmsKeyArn: args.kmsKeyArn }),
      ...(asyncInference === undefined ? {} : { asyncInferenceConfig: asyncInference.asyncInferenceConfig }),
      tags,
    }, { parent: this, ...createdOnce("productionVariants") });

    // SageMaker's guardrails roll back on these; the canary deployer watches alarms of its own canary
    // variant. In an A/B test they watch the worst variant, under the same names (DESIGN §5.2).
    const purpose = { endpointName: name, description: `Rolls back deployments of ${name}` };
    const allVariants = [args.variantName, ...abVariants.map((v) => v.name)];
    const rollbackAlarms = deployer !== undefined ? [] : [
      new aws.cloudwatch.MetricAlarm(names.errorAlarm, variantAlarmArgs("errors", names.errorAlarm, purpose, allVariants, args.alarms, tags), { parent: this }),
      new aws.cloudwatch.MetricAlarm(names.latencyAlarm, variantAlarmArgs("latency", names.latencyAlarm, purpose, allVariants, args.alarms, tags), { parent: this }),
    ];
    // Each further variant's own pair: what `npx projen variants metrics` compares, as alarms.
    for (const variant of abVariants) {
      const variantNames = abVariantNames(name, variant.name);
      const own = { endpointName: name, description: `A/B variant ${variant.name} of ${name}` };
      new aws.cloudwatch.MetricAlarm(variantNames.errorAlarm,
        variantAlarmArgs("errors", variantNames.errorAlarm, own, [variant.name], args.alarms, tags), { parent: this });
      new aws.cloudwatch.MetricAlarm(variantNames.latencyAlarm,
        variantAlarmArgs("latency", variantNames.latencyAlarm, own, [variant.name], args.alarms, tags), { parent: this });
    }

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

/** The container of a single-model variant: a registry version, or an image with its model data. */
function containerOf(model: ModelSource): aws.types.input.sagemaker.ModelPrimaryContainer {
  if ("modelPackageArn" in model) return { modelPackageName: model.modelPackageArn };
  return {
    image: model.image,
    modelDataUrl: model.modelDataUrl,
    ...(Object.keys(model.environment).length > 0 ? { environment: model.environment } : {}),
  };
}
