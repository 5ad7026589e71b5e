import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { AsyncSpec } from "./endpoint-spec";
import { asyncOutputPrefixes, endpointChildNames } from "./names";
import { VARIANT_SCALABLE_DIMENSION, variantResourceId } from "./variant-autoscaling";

/**
 * Asynchronous inference of an endpoint: where results and failures go (the stage bucket, under the
 * endpoint's prefixes, encrypted with the stage key), the optional SNS topics that announce them,
 * and scaling to zero on the request backlog (the developer guide's pattern: minimum capacity 0,
 * target tracking on ApproximateBacklogSizePerInstance, and a step policy that adds an instance
 * when requests wait with none running, on HasBacklogWithoutCapacity).
 */

/** Target tracking on the backlog per instance. */
export const BACKLOG_SCALING_POLICY_NAME = "SageMakerEndpointBacklogScalingPolicy";
/** The step policy that scales out from zero instances. */
export const SCALE_FROM_ZERO_POLICY_NAME = "SageMakerEndpointScaleOutFromZeroPolicy";

export interface AsyncInferenceArgs {
  /** The endpoint's stable name. */
  readonly endpointName: string;
  /** The variant (for scaling). */
  readonly variantName: string;
  readonly spec: AsyncSpec;
  /** The stage bucket, where results and failures are written. */
  readonly bucketName: pulumi.Input<string>;
  /** The stage key: results, failures and topics are encrypted with it. */
  readonly kmsKeyArn: pulumi.Input<string>;
  /**
   * Tags on every child resource.
   * @default {}
   */
  readonly tags?: Record<string, string>;
}

/** The topics of an endpoint's asynchronous results, and the EndpointConfiguration's `asyncInferenceConfig`. */
export class AsyncInference extends pulumi.ComponentResource {
  public readonly asyncInferenceConfig: pulumi.Output<aws.types.input.sagemaker.EndpointConfigurationAsyncInferenceConfig>;
  public readonly successTopicArn: pulumi.Output<string> | undefined;
  public readonly errorTopicArn: pulumi.Output<string> | undefined;

  constructor(name: string, args: AsyncInferenceArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mlplatform:sagemaker:AsyncInference", name, {}, opts);
    const names = endpointChildNames(args.endpointName);
    const prefixes = asyncOutputPrefixes(args.endpointName);
    const tags = args.tags ?? {};
    if (args.spec.notifications) {
      const topic = (topicName: string, role: string) => new aws.sns.Topic(`${name}-${role}-topic`, {
        name: topicName, kmsMasterKeyId: args.kmsKeyArn, tags,
      }, { parent: this });
      this.successTopicArn = topic(names.asyncSuccessTopic, "success").arn;
      this.errorTopicArn = topic(names.asyncErrorTopic, "error").arn;
    }
    const perInstance = args.spec.maxConcurrentInvocationsPerInstance;
    this.asyncInferenceConfig = pulumi.output({
      outputConfig: {
        s3OutputPath: pulumi.interpolate`s3://${args.bucketName}/${prefixes.output}`,
        s3FailurePath: pulumi.interpolate`s3://${args.bucketName}/${prefixes.failure}`,
        kmsKeyId: args.kmsKeyArn,
        ...(this.successTopicArn === undefined ? {} : {
          // The notification names the result's location; the response itself stays in the bucket.
          notificationConfig: { successTopic: this.successTopicArn, errorTopic: this.errorTopicArn },
        }),
      },
      ...(perInstance === undefined ? {} : { clientConfig: { maxConcurrentInvocationsPerInstance: perInstance } }),
    });
    this.registerOutputs({ successTopicArn: this.successTopicArn, errorTopicArn: this.errorTopicArn });
  }
}

export interface BacklogScalingArgs {
  readonly endpointName: string;
  readonly variantName: string;
  readonly scaleToZero: NonNullable<AsyncSpec["scaleToZero"]>;
  /** The endpoint: the variant must exist before its target is registered. */
  readonly endpoint: pulumi.Resource;
  /** @default {} */
  readonly tags?: Record<string, string>;
}

/** Scale to zero on the backlog: the scalable target (min 0), target tracking, and the step policy with its alarm. */
export class BacklogScaling extends pulumi.ComponentResource {
  constructor(name: string, args: BacklogScalingArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mlplatform:sagemaker:BacklogScaling", name, {}, opts);
    const child = { parent: this };
    const names = endpointChildNames(args.endpointName);
    const target = new aws.appautoscaling.Target(`${name}-target`, {
      serviceNamespace: "sagemaker",
      scalableDimension: VARIANT_SCALABLE_DIMENSION,
      resourceId: variantResourceId(args.endpointName, args.variantName),
      minCapacity: 0,
      maxCapacity: args.scaleToZero.maxCapacity,
    }, { parent: this, dependsOn: [args.endpoint] });
    const on = { serviceNamespace: target.serviceNamespace, scalableDimension: target.scalableDimension, resourceId: target.resourceId };
    new aws.appautoscaling.Policy(`${name}-backlog-policy`, {
      name: BACKLOG_SCALING_POLICY_NAME,
      policyType: "TargetTrackingScaling",
      ...on,
      targetTrackingScalingPolicyConfiguration: {
        customizedMetricSpecification: {
          namespace: "AWS/SageMaker",
          metricName: "ApproximateBacklogSizePerInstance",
          dimensions: [{ name: "EndpointName", value: args.endpointName }],
          statistic: "Average",
        },
        targetValue: args.scaleToZero.targetBacklogPerInstance,
        scaleInCooldown: 600,
        scaleOutCooldown: 60,
      },
    }, child);
    const fromZero = new aws.appautoscaling.Policy(`${name}-from-zero-policy`, {
      name: SCALE_FROM_ZERO_POLICY_NAME,
      policyType: "StepScaling",
      ...on,
      stepScalingPolicyConfiguration: {
        adjustmentType: "ChangeInCapacity",
        metricAggregationType: "Average",
        cooldown: 300,
        stepAdjustments: [{ metricIntervalLowerBound: "0", scalingAdjustment: 1 }],
      },
    }, child);
    new aws.cloudwatch.MetricAlarm(names.backlogAlarm, {
      name: names.backlogAlarm,
      alarmDescription: `Scales ${args.endpointName} out from zero instances when requests wait.`,
      namespace: "AWS/SageMaker",
      metricName: "HasBacklogWithoutCapacity",
      dimensions: { EndpointName: args.endpointName },
      statistic: "Average",
      period: 60,
      evaluationPeriods: 2,
      threshold: 1,
      comparisonOperator: "GreaterThanOrEqualToThreshold",
      treatMissingData: "missing",
      alarmActions: [fromZero.arn],
      tags: args.tags ?? {},
    }, child);
    this.registerOutputs({});
  }
}
