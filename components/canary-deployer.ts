import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { CANARY_VARIANT_NAME, canaryDeployerNames } from "./canary-contract";
import { canaryDeployerRolePolicy, canaryDeployerTrustPolicy, canaryTopicPolicy } from "./canary-policy";
import {
  type CanaryDefinitionParams, canaryDefinitionProblems, canaryStateMachineDefinition, definitionActions, type StateMachineDefinition,
} from "./canary-state-machine";
import { formatRuleProblems, type RuleProblem } from "./endpoint-rules";
import type { AutoscalingSpec, RollbackAlarmSpec, StepFunctionsCanarySpec } from "./endpoint-spec";
import type { AccountRef } from "./names";
import { variantAlarmArgs } from "./variant-alarms";

/**
 * The canary deployer of one endpoint (issue 11, seed 003): the alarms on its canary variant, the
 * KMS-encrypted topic of approval requests and outcomes, and the Step Functions state machine
 * (components/canary-state-machine.ts) with a role that reaches only this endpoint's resources.
 * Pulumi creates the endpoint; each deployment is an execution (`npx projen deploy`).
 *
 * The state machine keeps no log group: Step Functions keeps every execution's history (what the
 * CLI reads) for 90 days, while logging to a group would need wildcard log-delivery permissions
 * and, to encrypt it with the stage key, a key policy that admits CloudWatch Logs.
 */

/** Invocation4XXErrors per minute of the canary at which it rolls back (see invocation4xxErrorsPerMinute). */
export const DEFAULT_CANARY_4XX_PER_MINUTE = 5;

export interface CanaryDeployerArgs {
  /** The stage's account, region and partition: the role's resources and its trust. */
  readonly account: AccountRef;
  /** The endpoint's stable name. */
  readonly endpointName: string;
  /** The serving variant's name (the same in every config). */
  readonly variantName: string;
  /** Role the Models of each version run as: the only role the state machine may pass. */
  readonly executionRoleArn: pulumi.Input<string>;
  /**
   * The registry versions the endpoint deploys, as an ARN pattern in the registry's account:
   * `modelPackagesArn(registry, group)` in components/names.ts (`.../model-package/<group>/*`).
   */
  readonly modelPackagesArn: string;
  /** The stage key: it encrypts the topic. */
  readonly kmsKeyArn: pulumi.Input<string>;
  /**
   * Key of the ML storage volumes in the configs the state machine creates. Leave it out when the
   * endpoint's instance type has local NVMe storage (SageMaker refuses a volume key there).
   * @default - SageMaker encrypts the volumes with a key of its own
   */
  readonly volumeKmsKeyArn?: pulumi.Input<string>;
  /** Canary share and size, bake, polling and approval (the stack file's `deployment`). */
  readonly deployment: StepFunctionsCanarySpec;
  /** Thresholds of the canary's 5XX and p99 latency alarms, and how many one-minute periods fire them. */
  readonly alarms: RollbackAlarmSpec;
  /**
   * Invocation4XXErrors per minute of the canary variant that roll it back. Client errors grow when
   * a version validates its input differently; set this above the serving variant's usual 4XX rate
   * times the canary's share of the traffic, or every deployment rolls back.
   * @default 5
   */
  readonly invocation4xxErrorsPerMinute?: number;
  /**
   * Autoscaling of the serving variant, which the state machine re-applies after each change.
   * @default - the state machine leaves Application Auto Scaling alone
   */
  readonly autoscaling?: AutoscalingSpec;
  /**
   * Tags on every child resource.
   * @default {}
   */
  readonly tags?: Record<string, string>;
}

/** Stands in for an ARN that is an Output while the plain arguments are checked; that ARN is checked once known. */
const PENDING_ARNS = {
  executionRoleArn: "arn:aws:iam::000000000000:role/pending",
  topicArn: "arn:aws:sns:pending-1:000000000000:pending",
};

/**
 * The definition of a deployer whose ARNs are known (they may come from Outputs): a bad one fails
 * the deployment with a ResourceError that names the component.
 */
export function checkedDefinition(resource: pulumi.Resource, name: string, params: CanaryDefinitionParams): StateMachineDefinition {
  try {
    return canaryStateMachineDefinition(params);
  } catch (error) {
    throw new pulumi.ResourceError(`CanaryDeployer "${name}": ${(error as Error).message}`, resource);
  }
}

/** The alarms, topic, role and state machine that deploy one endpoint by canary. */
export class CanaryDeployer extends pulumi.ComponentResource {
  public readonly stateMachineArn: pulumi.Output<string>;
  public readonly topicArn: pulumi.Output<string>;
  public readonly roleArn: pulumi.Output<string>;
  /** The canary alarms, in the order the state machine reads them: 4XX, 5XX, p99 model latency. */
  public readonly alarmNames: string[];

  constructor(name: string, args: CanaryDeployerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mlplatform:sagemaker:CanaryDeployer", name, {}, opts);
    const child = { parent: this };
    const tags = args.tags ?? {};
    const names = canaryDeployerNames(args.endpointName);
    const fourXx = args.invocation4xxErrorsPerMinute ?? DEFAULT_CANARY_4XX_PER_MINUTE;
    this.alarmNames = [names.invocation4xxAlarm, names.invocation5xxAlarm, names.modelLatencyAlarm];
    const params = (arns: { executionRoleArn: string; topicArn: string; kmsKeyArn?: string }): CanaryDefinitionParams => ({
      endpointName: args.endpointName,
      variantName: args.variantName,
      canaryWeightPercent: args.deployment.canaryWeightPercent,
      canaryInstanceCount: args.deployment.canaryInstanceCount,
      bakeSeconds: args.deployment.bakeSeconds,
      pollSeconds: args.deployment.pollSeconds,
      maxPolls: args.deployment.maxPolls,
      approval: args.deployment.approval,
      autoscaling: args.autoscaling,
      canaryAlarmNames: this.alarmNames,
      partition: args.account.partition,
      ...arns,
    });

    // The plain arguments now; the ARNs that are Outputs when they are known (the definition checks them again).
    const plain = (value: pulumi.Input<string> | undefined) => (typeof value === "string" ? value : undefined);
    const problems: RuleProblem[] = canaryDefinitionProblems(params({
      executionRoleArn: plain(args.executionRoleArn) ?? PENDING_ARNS.executionRoleArn,
      topicArn: PENDING_ARNS.topicArn,
      kmsKeyArn: plain(args.volumeKmsKeyArn),
    }));
    if (!Number.isInteger(fourXx) || fourXx < 1) {
      problems.push({ field: "invocation4xxErrorsPerMinute", check: "guardrail-range", message: `must be a whole number of 1 or more, got ${fourXx}`, source: "the component" });
    }
    if (problems.length > 0) throw new pulumi.ResourceError(`CanaryDeployer "${name}" has invalid arguments:\n${formatRuleProblems(problems)}`, this);

    // The canary variant's alarms; missing data (no canary between deployments) is not a breach.
    const purpose = { endpointName: args.endpointName, description: `Rolls back canary deployments of ${args.endpointName}` };
    new aws.cloudwatch.MetricAlarm(`${name}-4xx-alarm`, {
      name: names.invocation4xxAlarm,
      alarmDescription: `${purpose.description}: 4XX invocation errors per minute of variant ${CANARY_VARIANT_NAME}.`,
      namespace: "AWS/SageMaker",
      metricName: "Invocation4XXErrors",
      dimensions: { EndpointName: args.endpointName, VariantName: CANARY_VARIANT_NAME },
      statistic: "Sum",
      period: 60,
      evaluationPeriods: args.alarms.evaluationPeriods,
      threshold: fourXx,
      comparisonOperator: "GreaterThanOrEqualToThreshold",
      treatMissingData: "notBreaching",
      tags,
    }, child);
    new aws.cloudwatch.MetricAlarm(`${name}-5xx-alarm`,
      variantAlarmArgs("errors", names.invocation5xxAlarm, purpose, [CANARY_VARIANT_NAME], args.alarms, tags), child);
    new aws.cloudwatch.MetricAlarm(`${name}-latency-alarm`,
      variantAlarmArgs("latency", names.modelLatencyAlarm, purpose, [CANARY_VARIANT_NAME], args.alarms, tags), child);

    const topic = new aws.sns.Topic(`${name}-topic`, { name: names.topic, kmsMasterKeyId: args.kmsKeyArn, tags }, child);
    new aws.sns.TopicPolicy(`${name}-topic-policy`, { arn: topic.arn, policy: topic.arn.apply((arn) => JSON.stringify(canaryTopicPolicy(arn))) }, child);

    const definition = pulumi.all([args.executionRoleArn, topic.arn, args.volumeKmsKeyArn])
      .apply(([executionRoleArn, topicArn, kmsKeyArn]) => checkedDefinition(this, name, params({ executionRoleArn, topicArn, kmsKeyArn })));
    const role = new aws.iam.Role(`${name}-role`, {
      // IAM role names take 64 characters; the prefix leaves room for the 26 AWS adds.
      // Named, not prefixed: the stage's deployer may pass exactly these roles to Step Functions.
      name: names.role,
      assumeRolePolicy: JSON.stringify(canaryDeployerTrustPolicy(args.account, names.stateMachine)),
      tags,
    }, child);
    const rolePolicy = new aws.iam.RolePolicy(`${name}-policy`, {
      role: role.name,
      policy: pulumi.all([definition, args.executionRoleArn, topic.arn, args.kmsKeyArn, args.volumeKmsKeyArn])
        .apply(([resolved, executionRoleArn, topicArn, topicKeyArn, volumeKeyArn]) => JSON.stringify(canaryDeployerRolePolicy(
          definitionActions(resolved),
          {
            account: args.account,
            endpointName: args.endpointName,
            variantName: args.variantName,
            executionRoleArn,
            modelPackagesArn: args.modelPackagesArn,
            alarmNames: this.alarmNames,
            topicArn,
            topicKeyArn,
            volumeKeyArn,
          },
        ))),
    }, child);
    const stateMachine = new aws.sfn.StateMachine(`${name}-state-machine`, {
      name: names.stateMachine,
      type: "STANDARD",
      roleArn: role.arn,
      definition: definition.apply((resolved) => JSON.stringify(resolved)),
      tags,
    }, { parent: this, dependsOn: [rolePolicy] });

    this.stateMachineArn = stateMachine.arn;
    this.topicArn = topic.arn;
    this.roleArn = role.arn;
    this.registerOutputs({ stateMachineArn: this.stateMachineArn, topicArn: this.topicArn, roleArn: this.roleArn, alarmNames: this.alarmNames });
  }
}
