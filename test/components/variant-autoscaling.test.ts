import * as pulumi from "@pulumi/pulumi";
import type * as component from "../../components/blue-green-endpoint";
import { autoscalingProblems } from "../../components/endpoint-rules";
import type { AutoscalingSpec, DeploymentSpec } from "../../components/endpoint-spec";
import {
  INVOCATIONS_PER_INSTANCE_METRIC, SCALING_POLICY_NAME, VARIANT_SCALABLE_DIMENSION, variantResourceId,
} from "../../components/variant-autoscaling";
import { ofType, onlyOfType, type RecordedResource, recordResources, valueOf } from "../support/mocks";
import { settled } from "../support/resources";

/** Autoscaling of an endpoint's variant: the component's children, and the rules on its settings. */

const NAME = "churn-predictor-churn-scorer";
const canary: DeploymentSpec = { strategy: "canary", canarySizePercent: 34, waitSeconds: 600, terminationWaitSeconds: 0 };
const SCALING: AutoscalingSpec = {
  minCapacity: 2, maxCapacity: 10, targetInvocationsPerInstance: 70, scaleInCooldownSeconds: 600, scaleOutCooldownSeconds: 30,
};
const args: component.BlueGreenEndpointArgs = {
  variantName: "primary",
  model: { modelPackageArn: "arn:aws:sagemaker:ap-southeast-4:404040404041:model-package/churn-predictor-churn-scorer/3" },
  executionRoleArn: "arn:aws:iam::404040404043:role/churn-predictor-prod-sagemaker-execution",
  instanceType: "ml.m5.large",
  instanceCount: 3,
  deployment: canary,
  alarms: { invocation5xxErrorsPerMinute: 1, modelLatencyP99Milliseconds: 250, evaluationPeriods: 2, additionalRollbackAlarmNames: [] },
  autoscaling: SCALING,
};

let resources: RecordedResource[];
let mod: typeof component;
beforeAll(async () => {
  resources = await recordResources();
  mod = await import("../../components/blue-green-endpoint");
});

async function deploy(overrides: Partial<component.BlueGreenEndpointArgs> = {}): Promise<RecordedResource[]> {
  resources.length = 0;
  const endpoint = new mod.BlueGreenEndpoint(NAME, { ...args, ...overrides });
  await valueOf(pulumi.all([endpoint.urn, endpoint.endpointArn]));
  await settled();
  return [...resources];
}

describe("VariantAutoscaling under a BlueGreenEndpoint", () => {
  test("GIVEN autoscaling THEN a scalable target on the variant's desired instance count, by the endpoint's stable name", async () => {
    const target = onlyOfType(await deploy(), "aws:appautoscaling/target:Target");
    expect(target.name).toBe(`${NAME}-scaling-target`);
    expect(target.inputs).toEqual({
      serviceNamespace: "sagemaker",
      scalableDimension: VARIANT_SCALABLE_DIMENSION,
      resourceId: `endpoint/${NAME}/variant/primary`,
      minCapacity: 2,
      maxCapacity: 10,
    });
    expect(VARIANT_SCALABLE_DIMENSION).toBe("sagemaker:variant:DesiredInstanceCount");
  });

  test("GIVEN autoscaling THEN the target-tracking policy is named SageMakerEndpointInvocationScalingPolicy, on invocations per instance", async () => {
    const policy = onlyOfType(await deploy(), "aws:appautoscaling/policy:Policy");
    expect(SCALING_POLICY_NAME).toBe("SageMakerEndpointInvocationScalingPolicy");
    expect(policy.inputs).toMatchObject({
      name: SCALING_POLICY_NAME,
      policyType: "TargetTrackingScaling",
      resourceId: variantResourceId(NAME, "primary"),
      targetTrackingScalingPolicyConfiguration: {
        predefinedMetricSpecification: { predefinedMetricType: INVOCATIONS_PER_INSTANCE_METRIC },
        targetValue: 70,
        scaleInCooldown: 600,
        scaleOutCooldown: 30,
      },
    });
    expect(INVOCATIONS_PER_INSTANCE_METRIC).toBe("SageMakerVariantInvocationsPerInstance");
  });

  test("GIVEN no autoscaling THEN neither a target nor a policy", async () => {
    const recorded = await deploy({ autoscaling: undefined });
    expect(ofType(recorded, "aws:appautoscaling/target:Target")).toEqual([]);
    expect(ofType(recorded, "aws:appautoscaling/policy:Policy")).toEqual([]);
  });

  test("GIVEN an initial count below the minimum THEN the component refuses it, naming instanceCount", () => {
    expect(() => new mod.BlueGreenEndpoint("churn-predictor-low", { ...args, instanceCount: 1 }))
      .toThrow(/instanceCount: must be at least autoscaling.minCapacity 2, got 1/);
  });
});

describe("autoscalingProblems", () => {
  const fields = (scaling: Partial<AutoscalingSpec>, count = 3) =>
    autoscalingProblems({ ...SCALING, ...scaling }, count).map((p) => [p.field, p.check]);

  test("GIVEN seed 000's example THEN no problem", () => {
    expect(autoscalingProblems(SCALING, 2)).toEqual([]);
  });

  test.each<[string, Partial<AutoscalingSpec>, number, string[][]]>([
    ["a minimum of 0", { minCapacity: 0 }, 3, [["autoscaling.minCapacity", "capacity"]]],
    ["a maximum below the minimum", { minCapacity: 4, maxCapacity: 3 }, 4, [["autoscaling.maxCapacity", "capacity"], ["instanceCount", "capacity"]]],
    ["a target of 0", { targetInvocationsPerInstance: 0 }, 3, [["autoscaling.targetInvocationsPerInstance", "capacity"]]],
    ["a negative cooldown", { scaleOutCooldownSeconds: -1 }, 3, [["autoscaling.scaleOutCooldownSeconds", "capacity"]]],
    ["a fractional cooldown", { scaleInCooldownSeconds: 1.5 }, 3, [["autoscaling.scaleInCooldownSeconds", "capacity"]]],
    ["an initial count below the minimum", {}, 1, [["instanceCount", "capacity"]]],
    ["an initial count above the maximum", {}, 11, [["instanceCount", "capacity"]]],
  ])("GIVEN %s THEN exactly those fields are named", (_, scaling, count, expected) => {
    expect(fields(scaling, count)).toEqual(expected);
  });

  test("GIVEN any problem THEN it cites the Application Auto Scaling API model", () => {
    const [problem] = autoscalingProblems({ ...SCALING, minCapacity: 0 }, 3);
    expect(problem.source).toContain("Application Auto Scaling API model");
  });
});
