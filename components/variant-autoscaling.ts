import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { AutoscalingSpec } from "./endpoint-spec";

/**
 * Target-tracking autoscaling of one production variant (DESIGN §5.6). Pure helpers for the names
 * Application Auto Scaling knows the variant by, and a component with its scalable target and the
 * policy. Both are keyed by the endpoint's and the variant's stable names, so a new model version
 * (a new Model and EndpointConfiguration) leaves them untouched.
 */

/** The only policy name seed 003 saw work: other names left endpoints stuck in Updating. */
export const SCALING_POLICY_NAME = "SageMakerEndpointInvocationScalingPolicy";

/** The dimension Application Auto Scaling scales for a SageMaker variant. */
export const VARIANT_SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount";

/** The predefined metric of invocations-per-instance target tracking. */
export const INVOCATIONS_PER_INSTANCE_METRIC = "SageMakerVariantInvocationsPerInstance";

/** Application Auto Scaling's id of a variant: `endpoint/<endpoint>/variant/<variant>`. */
export function variantResourceId(endpointName: string, variantName: string): string {
  return `endpoint/${endpointName}/variant/${variantName}`;
}

export interface VariantAutoscalingArgs {
  /** The endpoint's stable name. */
  readonly endpointName: string;
  /** The variant to scale (the same name in every endpoint config). */
  readonly variantName: string;
  /** Bounds, target and cooldowns (checked by components/endpoint-rules.ts). */
  readonly scaling: AutoscalingSpec;
  /** The endpoint: the variant must exist before its target is registered. */
  readonly endpoint: pulumi.Resource;
}

/** A variant's scalable target and its target-tracking policy on invocations per instance. */
export class VariantAutoscaling extends pulumi.ComponentResource {
  public readonly resourceId: string;

  constructor(name: string, args: VariantAutoscalingArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mlplatform:sagemaker:VariantAutoscaling", name, {}, opts);
    const { scaling } = args;
    this.resourceId = variantResourceId(args.endpointName, args.variantName);
    const target = new aws.appautoscaling.Target(`${name}-target`, {
      serviceNamespace: "sagemaker",
      scalableDimension: VARIANT_SCALABLE_DIMENSION,
      resourceId: this.resourceId,
      minCapacity: scaling.minCapacity,
      maxCapacity: scaling.maxCapacity,
    }, { parent: this, dependsOn: [args.endpoint] });
    new aws.appautoscaling.Policy(`${name}-policy`, {
      name: SCALING_POLICY_NAME,
      policyType: "TargetTrackingScaling",
      serviceNamespace: target.serviceNamespace,
      scalableDimension: target.scalableDimension,
      resourceId: target.resourceId,
      targetTrackingScalingPolicyConfiguration: {
        predefinedMetricSpecification: { predefinedMetricType: INVOCATIONS_PER_INSTANCE_METRIC },
        targetValue: scaling.targetInvocationsPerInstance,
        scaleInCooldown: scaling.scaleInCooldownSeconds,
        scaleOutCooldown: scaling.scaleOutCooldownSeconds,
      },
    }, { parent: this });
    this.registerOutputs({ resourceId: this.resourceId });
  }
}
