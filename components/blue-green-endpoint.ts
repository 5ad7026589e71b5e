import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { deploymentConfigFor, deploymentProblems, FieldProblem, MAX_ROLLBACK_ALARMS, rollbackAlarmList } from "./guardrails";
import { hasLocalInstanceStorage, instanceFamily } from "./instance-types";
import type { ModelSource } from "./model-source";
import { endpointChildNames, longestEndpointName, SAGEMAKER_NAME_MAX, SAGEMAKER_NAME_PATTERN } from "./names";
import type { DeploymentConfig, EndpointConfig } from "../stacks/config/schema";

export interface BlueGreenEndpointArgs {
  /** Production variant name: the same in every endpoint config (blue/green and rolling need it). */
  readonly variantName: string;
  /** The model: a registry model package version, or an image plus model data. */
  readonly model: ModelSource;
  /** Role SageMaker assumes to pull the image and model data and to run the container. */
  readonly executionRoleArn: pulumi.Input<string>;
  /** Hosting instance type, such as `ml.m5.large`. */
  readonly instanceType: string;
  /** Instances the variant starts with (and returns to on every config change). */
  readonly instanceCount: number;
  /**
   * Size of the EBS ML storage volume per instance, in GiB (1-512). Not allowed on instance types
   * with local NVMe storage, whose size is fixed.
   * @default - SageMaker's default size for the instance type
   */
  readonly volumeSizeGiB?: number;
  /**
   * KMS key that encrypts the ML storage volume. Dropped on instance types with local NVMe storage:
   * SageMaker rejects a key there, and a hardware module on the instance encrypts that storage.
   * @default - SageMaker encrypts the volume with a transient key
   */
  readonly kmsKeyArn?: pulumi.Input<string>;
  /** Deployment guardrails: all-at-once, canary, linear or rolling. */
  readonly deployment: DeploymentConfig;
  /** Thresholds of the two rollback alarms the component creates, and further alarm names. */
  readonly alarms: EndpointConfig["alarms"];
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
    const problems = checkArgs(name, args, alarmNames);
    if (problems.length > 0) {
      throw new pulumi.ResourceError(
        `BlueGreenEndpoint "${name}" has invalid arguments:\n${problems.map((p) => `  ${p.field}: ${p.message}`).join("\n")}`, this);
    }
    const localStorage = hasLocalInstanceStorage(args.instanceType);

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
          modelDataUrl: args.model.modelDataUrl,
          ...(Object.keys(args.model.environment).length > 0 ? { environment: args.model.environment } : {}),
        },
      tags,
    }, { parent: this });

    const config = new aws.sagemaker.EndpointConfiguration(names.endpointConfigLogical, {
      productionVariants: [{
        variantName: args.variantName,
        modelName: model.name,
        initialInstanceCount: args.instanceCount,
        instanceType: args.instanceType,
        initialVariantWeight: 1,
        ...(args.volumeSizeGiB === undefined ? {} : { volumeSizeInGb: args.volumeSizeGiB }),
      }],
      ...(args.kmsKeyArn === undefined || localStorage ? {} : { kmsKeyArn: args.kmsKeyArn }),
      tags,
    }, { parent: this });

    const dimensions = { EndpointName: name, VariantName: args.variantName };
    const common = {
      namespace: "AWS/SageMaker",
      dimensions,
      period: 60,
      evaluationPeriods: args.alarms.evaluationPeriods,
      treatMissingData: "notBreaching",
      tags,
    };
    const errorAlarm = new aws.cloudwatch.MetricAlarm(names.errorAlarm, {
      ...common,
      name: names.errorAlarm,
      alarmDescription: `Rolls back deployments of ${name}: 5XX invocation errors per minute of variant ${args.variantName}.`,
      metricName: "Invocation5XXErrors",
      statistic: "Sum",
      threshold: args.alarms.invocation5xxErrorsPerMinute,
      comparisonOperator: "GreaterThanOrEqualToThreshold",
    }, { parent: this });
    const latencyAlarm = new aws.cloudwatch.MetricAlarm(names.latencyAlarm, {
      ...common,
      name: names.latencyAlarm,
      alarmDescription: `Rolls back deployments of ${name}: p99 model latency of variant ${args.variantName} `
        + `above ${args.alarms.modelLatencyP99Milliseconds} ms.`,
      metricName: "ModelLatency",
      extendedStatistic: "p99",
      // ModelLatency is reported in microseconds.
      threshold: args.alarms.modelLatencyP99Milliseconds * 1000,
      comparisonOperator: "GreaterThanThreshold",
    }, { parent: this });

    const endpoint = new aws.sagemaker.Endpoint(`${name}-endpoint`, {
      name,
      endpointConfigName: config.name,
      deploymentConfig: deploymentConfigFor(args.deployment, alarmNames),
      tags,
    }, { parent: this, dependsOn: [errorAlarm, latencyAlarm] });

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

/** Every problem with the arguments, one per field. */
function checkArgs(name: string, args: BlueGreenEndpointArgs, alarmNames: readonly string[]): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const longest = longestEndpointName(name);
  if (!SAGEMAKER_NAME_PATTERN.test(name)) {
    problems.push({ field: "name", message: `must be letters, digits and hyphens, starting and ending with a letter or digit, got "${name}"` });
  } else if (longest > SAGEMAKER_NAME_MAX) {
    problems.push({
      field: "name",
      message: `"${name}" is too long: its auto-named children would reach ${longest} characters (limit ${SAGEMAKER_NAME_MAX}); `
        + `use at most ${name.length - (longest - SAGEMAKER_NAME_MAX)} characters`,
    });
  }
  if (!SAGEMAKER_NAME_PATTERN.test(args.variantName)) {
    problems.push({ field: "variantName", message: `must be letters, digits and hyphens, got "${args.variantName}"` });
  }
  if (instanceFamily(args.instanceType) === undefined) {
    problems.push({ field: "instanceType", message: `must be a hosting instance type such as ml.m5.large, got "${args.instanceType}"` });
  }
  if (!Number.isInteger(args.instanceCount) || args.instanceCount < 1) {
    problems.push({ field: "instanceCount", message: `must be a whole number >= 1, got ${args.instanceCount}` });
  }
  const volume = args.volumeSizeGiB;
  if (volume !== undefined && hasLocalInstanceStorage(args.instanceType)) {
    problems.push({
      field: "volumeSizeGiB",
      message: `${args.instanceType} has local NVMe instance storage of a fixed size and takes no volume size; remove volumeSizeGiB`,
    });
  } else if (volume !== undefined && (!Number.isInteger(volume) || volume < 1 || volume > 512)) {
    problems.push({ field: "volumeSizeGiB", message: `must be a whole number of GiB from 1 to 512, got ${volume}` });
  }
  if (alarmNames.length > MAX_ROLLBACK_ALARMS) {
    problems.push({
      field: "alarms.additionalRollbackAlarmNames",
      message: `allows at most ${MAX_ROLLBACK_ALARMS - 2} names: SageMaker takes at most ${MAX_ROLLBACK_ALARMS} rollback alarms and `
        + `the component creates 2, got ${alarmNames.length - 2}`,
    });
  }
  const repeated = alarmNames.filter((alarm, i) => alarm === "" || alarmNames.indexOf(alarm) !== i);
  if (repeated.length > 0) {
    problems.push({
      field: "alarms.additionalRollbackAlarmNames",
      message: `must be non-empty and distinct from each other and from the component's own alarms, got ${repeated.map((a) => `"${a}"`).join(", ")}`,
    });
  }
  return [...problems, ...deploymentProblems(args.deployment, args.instanceType, args.instanceCount)];
}
