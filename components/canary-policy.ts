import { canaryNamePrefix } from "./canary-contract";
import { type AccountRef, alarmArn, roleArn, sagemakerArn, stateMachineArn } from "./names";
import { policy, type PolicyDocument, type Statement } from "./policies";
import { VARIANT_SCALABLE_DIMENSION, variantResourceId } from "./variant-autoscaling";

/**
 * The canary deployer's IAM documents, as pure functions of names and ARNs: the state machine
 * role's trust and policy, and the topic's policy. The role's actions come from the definition
 * (definitionActions in components/canary-state-machine.ts): each action it calls maps to the
 * endpoint's own resources here, and an action without a mapping is refused, so a new call in the
 * definition cannot pass unscoped. No statement has a wildcard action.
 */

/** What the role may reach: one endpoint of one stage, its alarms and topic, the registry's versions. */
export interface CanaryRoleScope {
  /** The stage's account, region and partition. */
  readonly account: AccountRef;
  readonly endpointName: string;
  /** The serving variant (its scalable target). */
  readonly variantName: string;
  /** The role the created Models run as: the only role the state machine passes. */
  readonly executionRoleArn: string;
  /** The registry versions the endpoint deploys: `model-package/<group>/*` in the registry's account. */
  readonly modelPackagesArn: string;
  /** The canary alarms the state machine reads. */
  readonly alarmNames: readonly string[];
  readonly topicArn: string;
  /** The key that encrypts the topic (the stage key). */
  readonly topicKeyArn: string;
  /**
   * The key of the ML storage volumes in the configs the state machine creates.
   * @default - no volume key
   */
  readonly volumeKeyArn?: string;
}

/** How one action the definition calls is scoped: its statement and resources. */
interface Grant {
  readonly sid: string;
  readonly resources: (scope: CanaryRoleScope) => string[];
  readonly condition?: Statement["Condition"];
}

const endpoint = (s: CanaryRoleScope) => sagemakerArn(s.account, `endpoint/${s.endpointName}`);
// Every config and Model an execution creates starts with canaryNamePrefix (canaryResourceNames); so
// does the config Pulumi created first (`<endpoint>-config-<suffix>`), which a rollback returns to.
const configs = (s: CanaryRoleScope) => sagemakerArn(s.account, `endpoint-config/${canaryNamePrefix(s.endpointName)}*`);
const models = (s: CanaryRoleScope) => sagemakerArn(s.account, `model/${canaryNamePrefix(s.endpointName)}*`);
// Application Auto Scaling names a scalable target by an id of its own (scalable-target/<random>), unknown
// until it is registered: the resource can only be any target of the account and region, narrowed by the
// conditions the service evaluates for these actions (service namespace and scalable dimension).
const scalableTargets = (s: CanaryRoleScope) =>
  `arn:${s.account.partition ?? "aws"}:application-autoscaling:${s.account.region}:${s.account.accountId}:scalable-target/*`;
const SAGEMAKER_VARIANTS_ONLY = {
  StringEquals: { "application-autoscaling:service-namespace": "sagemaker", "application-autoscaling:scalable-dimension": VARIANT_SCALABLE_DIMENSION },
};

const GRANTS: Readonly<Record<string, Grant>> = {
  "sagemaker:CreateModel": { sid: "ModelsOfRegistryVersions", resources: (s) => [models(s), s.modelPackagesArn] },
  "sagemaker:CreateEndpointConfig": { sid: "EndpointConfigs", resources: (s) => [configs(s)] },
  "sagemaker:DescribeEndpointConfig": { sid: "EndpointConfigs", resources: (s) => [configs(s)] },
  "sagemaker:DescribeEndpoint": { sid: "Endpoint", resources: (s) => [endpoint(s)] },
  "sagemaker:CreateEndpoint": { sid: "EndpointUpdates", resources: (s) => [endpoint(s), configs(s)] },
  "sagemaker:UpdateEndpoint": { sid: "EndpointUpdates", resources: (s) => [endpoint(s), configs(s)] },
  "cloudwatch:DescribeAlarms": { sid: "CanaryAlarms", resources: (s) => s.alarmNames.map((name) => alarmArn(s.account, name)) },
  "sns:Publish": { sid: "Notifications", resources: (s) => [s.topicArn] },
  // DescribeScalableTargets has no resource type: IAM takes only "*" for it (it reads, and changes nothing).
  "application-autoscaling:DescribeScalableTargets": { sid: "ReadScalableTargets", resources: () => ["*"] },
  "application-autoscaling:RegisterScalableTarget": { sid: "VariantScaling", resources: (s) => [scalableTargets(s)], condition: SAGEMAKER_VARIANTS_ONLY },
  "application-autoscaling:DeregisterScalableTarget": { sid: "VariantScaling", resources: (s) => [scalableTargets(s)], condition: SAGEMAKER_VARIANTS_ONLY },
  "application-autoscaling:PutScalingPolicy": { sid: "VariantScaling", resources: (s) => [scalableTargets(s)], condition: SAGEMAKER_VARIANTS_ONLY },
};

/** The DNS suffix of a partition's service endpoints (kms:ViaService values). */
function dnsSuffix(account: AccountRef): string {
  return account.partition === "aws-cn" ? "amazonaws.com.cn" : "amazonaws.com";
}

/**
 * Permissions the calls need beyond the actions themselves: passing the execution role
 * (CreateModel), the topic's key (Publish to an encrypted topic), the volume key's grants
 * (SageMaker attaches it to the instances' volumes), and what Application Auto Scaling checks
 * with the caller's permissions before it registers a variant or puts a policy (its user guide,
 * "Permissions validation"): the variant's capacity, the target-tracking alarms it creates, and
 * its service-linked role on first use.
 */
function impliedStatements(actions: ReadonlySet<string>, s: CanaryRoleScope): Statement[] {
  const statements: Statement[] = [];
  if (actions.has("sagemaker:CreateModel")) {
    statements.push({
      Sid: "PassExecutionRole",
      Effect: "Allow",
      Action: "iam:PassRole",
      Resource: s.executionRoleArn,
      Condition: { StringEquals: { "iam:PassedToService": "sagemaker.amazonaws.com" } },
    });
  }
  if (actions.has("sns:Publish")) {
    statements.push({
      Sid: "TopicKey",
      Effect: "Allow",
      Action: ["kms:Decrypt", "kms:GenerateDataKey"],
      Resource: s.topicKeyArn,
      Condition: { StringEquals: { "kms:ViaService": `sns.${s.account.region}.${dnsSuffix(s.account)}` } },
    });
  }
  if (s.volumeKeyArn !== undefined && (actions.has("sagemaker:CreateEndpoint") || actions.has("sagemaker:UpdateEndpoint"))) {
    statements.push({ Sid: "VolumeKey", Effect: "Allow", Action: "kms:DescribeKey", Resource: s.volumeKeyArn });
    statements.push({
      Sid: "VolumeKeyGrants",
      Effect: "Allow",
      Action: "kms:CreateGrant",
      Resource: s.volumeKeyArn,
      Condition: { Bool: { "kms:GrantIsForAWSResource": true } },
    });
  }
  if (actions.has("application-autoscaling:RegisterScalableTarget") || actions.has("application-autoscaling:PutScalingPolicy")) {
    const resourceId = variantResourceId(s.endpointName, s.variantName);
    statements.push(
      { Sid: "ScalingChecksVariant", Effect: "Allow", Action: "sagemaker:UpdateEndpointWeightsAndCapacities", Resource: endpoint(s) },
      {
        Sid: "TargetTrackingAlarms",
        Effect: "Allow",
        Action: ["cloudwatch:DeleteAlarms", "cloudwatch:DescribeAlarms", "cloudwatch:PutMetricAlarm"],
        Resource: alarmArn(s.account, `TargetTracking-${resourceId}-*`),
      },
      {
        Sid: "ScalingServiceLinkedRole",
        Effect: "Allow",
        Action: "iam:CreateServiceLinkedRole",
        Resource: roleArn(s.account, `aws-service-role/${SCALING_SERVICE}/AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint`),
        Condition: { StringEquals: { "iam:AWSServiceName": SCALING_SERVICE } },
      },
    );
  }
  return statements;
}

/** The service principal of Application Auto Scaling for SageMaker variants (its service-linked role's). */
const SCALING_SERVICE = "sagemaker.application-autoscaling.amazonaws.com";

/**
 * The state machine role's policy: each action of `actions` (definitionActions) on the resources
 * of `scope`, one statement per kind of resource, and what those calls imply. Throws for an action
 * it has no scope for.
 */
export function canaryDeployerRolePolicy(actions: readonly string[], scope: CanaryRoleScope): PolicyDocument {
  const unknown = actions.filter((action) => GRANTS[action] === undefined);
  if (unknown.length > 0) throw new Error(`canary deployer role: no resource scope for ${unknown.join(", ")}: add it to components/canary-policy.ts`);
  const bySid = new Map<string, Statement>();
  for (const action of [...actions].sort()) {
    const grant = GRANTS[action];
    const statement = bySid.get(grant.sid);
    if (statement === undefined) {
      bySid.set(grant.sid, {
        Sid: grant.sid, Effect: "Allow", Action: [action], Resource: grant.resources(scope), ...grant.condition === undefined ? {} : { Condition: grant.condition },
      });
    } else {
      (statement.Action as string[]).push(action);
    }
  }
  return policy(...bySid.values(), ...impliedStatements(new Set(actions), scope));
}


/** Trust policy of the state machine's role: Step Functions, for this state machine of this account only (confused-deputy guard). */
export function canaryDeployerTrustPolicy(account: AccountRef, stateMachineName: string): PolicyDocument {
  return policy({
    Effect: "Allow",
    Principal: { Service: "states.amazonaws.com" },
    Action: "sts:AssumeRole",
    Condition: {
      StringEquals: { "aws:SourceAccount": account.accountId },
      ArnLike: { "aws:SourceArn": stateMachineArn(account, stateMachineName) },
    },
  });
}

/** The topic's policy: publishing and subscribing only over TLS (the account's roles get access from their own policies). */
export function canaryTopicPolicy(topicArn: string): PolicyDocument {
  return policy({
    Sid: "DenyInsecureTransport",
    Effect: "Deny",
    Principal: "*",
    Action: ["sns:Publish", "sns:Subscribe"],
    Resource: topicArn,
    Condition: { Bool: { "aws:SecureTransport": false } },
  });
}

/**
 * What a stage's deployer needs for the canary deployers of its endpoints (components/ci-policies.ts
 * adds these to its policy): create, update and delete their state machines, pass their roles to
 * Step Functions, and run `npx projen deploy` (start, watch, approve or reject executions). The
 * roles and their policies are an administrator's, as every role's is: the deployer may not create
 * roles nor change the policy of a role without the stack's boundary, which these roles do not carry.
 */
export function canaryStageDeployerStatements(account: AccountRef, prefix: string): Statement[] {
  const partition = account.partition ?? "aws";
  return [
    {
      Sid: "CanaryStateMachines",
      Effect: "Allow",
      Action: [
        "states:CreateStateMachine", "states:DeleteStateMachine", "states:DescribeStateMachine", "states:ListExecutions",
        "states:ListTagsForResource", "states:StartExecution", "states:TagResource", "states:UntagResource", "states:UpdateStateMachine",
      ],
      Resource: stateMachineArn(account, `${prefix}*-canary-deployer`),
    },
    {
      Sid: "CanaryExecutions",
      Effect: "Allow",
      Action: ["states:DescribeExecution", "states:GetExecutionHistory"],
      Resource: `arn:${partition}:states:${account.region}:${account.accountId}:execution:${prefix}*-canary-deployer:*`,
    },
    {
      // SendTaskSuccess and SendTaskFailure have no resource type: the task token names the execution.
      Sid: "CanaryApprovals",
      Effect: "Allow",
      Action: ["states:SendTaskFailure", "states:SendTaskSuccess"],
      Resource: "*",
    },
    {
      Sid: "PassCanaryRoles",
      Effect: "Allow",
      Action: "iam:PassRole",
      Resource: roleArn(account, `${prefix}*-canary-deployer`),
      Condition: { StringEquals: { "iam:PassedToService": "states.amazonaws.com" } },
    },
  ];
}
