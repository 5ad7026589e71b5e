/**
 * Which input changes replace a resource, per resource type the program uses. Pulumi's AWS provider
 * is bridged from terraform-provider-aws, and a property marked `ForceNew: true` in the Terraform
 * schema replaces the resource when it changes. Property paths are Pulumi input names (camelCase,
 * nested with ".", MaxItems=1 blocks as objects).
 *
 * Sources (hashicorp/terraform-provider-aws, `internal/service/...`, read 2026-11-22 through the
 * code index; see each entry):
 */

/** How changes to one resource type are applied. */
export interface ReplacementRule {
  /** Properties whose change forces replacement (prefix match: a change under one counts). */
  readonly forceNew?: readonly string[];
  /** Immutable resources: every property but these forces replacement. */
  readonly allExcept?: readonly string[];
  /** Where the rule comes from. */
  readonly source: string;
}

const TAGS = ["tags", "tagsAll"] as const;

export const REPLACEMENT_RULES: Readonly<Record<string, ReplacementRule>> = {
  "aws:sagemaker/model:Model": {
    allExcept: TAGS,
    source: "sagemaker/model.go: name, execution_role_arn, enable_network_isolation, inference_execution_config, vpc_config and every "
      + "field of primary_container/container are ForceNew; resourceModelUpdate only updates tags",
  },
  "aws:sagemaker/endpointConfiguration:EndpointConfiguration": {
    allExcept: TAGS,
    source: "sagemaker/endpoint_configuration.go: name, name_prefix, kms_key_arn, production_variants.*, shadow_production_variants.*, "
      + "data_capture_config, async_inference_config are ForceNew; only tags update",
  },
  "aws:sagemaker/endpoint:Endpoint": {
    forceNew: ["name", "deploymentConfig.autoRollbackConfiguration"],
    source: "sagemaker/endpoint.go: name and deployment_config.auto_rollback_configuration are ForceNew; endpoint_config_name and the "
      + "rest of deployment_config go through UpdateEndpoint",
  },
  "aws:sagemaker/modelPackageGroup:ModelPackageGroup": {
    forceNew: ["modelPackageGroupName", "modelPackageGroupDescription"],
    source: "sagemaker/model_package_group.go: model_package_group_name and model_package_group_description are ForceNew",
  },
  "aws:sagemaker/modelPackageGroupPolicy:ModelPackageGroupPolicy": {
    forceNew: ["modelPackageGroupName"],
    source: "sagemaker/model_package_group_policy.go: model_package_group_name is ForceNew; resource_policy is Put in place",
  },
  "aws:cloudwatch/metricAlarm:MetricAlarm": {
    forceNew: ["name"],
    source: "cloudwatch/metric_alarm.go: alarm_name (Pulumi `name`) is ForceNew; everything else is PutMetricAlarm in place",
  },
  "aws:iam/role:Role": {
    forceNew: ["name", "namePrefix", "path"],
    source: "iam/role.go: name, name_prefix and path are ForceNew",
  },
  "aws:iam/policy:Policy": {
    forceNew: ["name", "namePrefix", "path", "description"],
    source: "iam/policy.go and docs r/iam_policy: name, name_prefix, path and description force a new resource; policy is a new policy version in place",
  },
  "aws:iam/rolePolicy:RolePolicy": {
    forceNew: ["name", "namePrefix", "role"],
    source: "iam/role_policy.go: name, name_prefix and role are ForceNew; policy is PutRolePolicy in place",
  },
  "aws:iam/openIdConnectProvider:OpenIdConnectProvider": {
    forceNew: ["url"],
    source: "iam/openid_connect_provider.go: url is ForceNew (client_id_list was ForceNew in older provider versions, updatable now)",
  },
  "aws:s3/bucket:Bucket": {
    forceNew: ["bucket", "bucketPrefix", "objectLockEnabled"],
    source: "s3/bucket.go: bucket, bucket_prefix and object_lock_enabled are ForceNew",
  },
  "aws:s3/bucketOwnershipControls:BucketOwnershipControls": {
    forceNew: ["bucket"],
    source: "s3/bucket_ownership_controls.go: bucket is ForceNew",
  },
  "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": {
    forceNew: ["bucket"],
    source: "s3/bucket_public_access_block.go: bucket is ForceNew",
  },
  "aws:s3/bucketVersioning:BucketVersioning": {
    forceNew: ["bucket", "expectedBucketOwner"],
    source: "s3/bucket_versioning.go: bucket and expected_bucket_owner are ForceNew",
  },
  "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": {
    forceNew: ["bucket", "expectedBucketOwner"],
    source: "s3/bucket_server_side_encryption_configuration.go: bucket is ForceNew (expected_bucket_owner too, until its deprecation)",
  },
  "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": {
    forceNew: ["bucket", "expectedBucketOwner"],
    source: "s3/bucket_lifecycle_configuration.go: bucket and expected_bucket_owner are ForceNew (same shape as bucket_versioning.go)",
  },
  "aws:s3/bucketPolicy:BucketPolicy": {
    forceNew: ["bucket"],
    source: "s3/bucket_policy.go: bucket is ForceNew; policy is PutBucketPolicy in place",
  },
  "aws:kms/key:Key": {
    forceNew: ["customerMasterKeySpec", "keyUsage", "multiRegion", "customKeyStoreId", "xksKeyId"],
    source: "kms/key.go: customer_master_key_spec, key_usage, multi_region, custom_key_store_id and xks_key_id are ForceNew; "
      + "policy, description and rotation update in place",
  },
  "aws:kms/alias:Alias": {
    forceNew: ["name", "namePrefix"],
    source: "kms/alias.go: name and name_prefix are ForceNew; target_key_id is UpdateAlias in place",
  },
  "aws:ecr/repository:Repository": {
    forceNew: ["name", "encryptionConfigurations"],
    source: "ecr/repository.go: name and encryption_configuration (with its fields) are ForceNew",
  },
  "aws:ecr/repositoryPolicy:RepositoryPolicy": {
    forceNew: ["repository"],
    source: "ecr/repository_policy.go: repository is ForceNew; policy is SetRepositoryPolicy in place",
  },
  "aws:sns/topic:Topic": {
    forceNew: ["name", "namePrefix", "fifoTopic"],
    source: "sns/topic.go: name, name_prefix and fifo_topic are ForceNew; attributes (KMS key, policy) are SetTopicAttributes in place",
  },
  "aws:sns/topicPolicy:TopicPolicy": {
    forceNew: ["arn"],
    source: "sns/topic_policy.go: arn is ForceNew; policy is SetTopicAttributes in place",
  },
  "aws:sfn/stateMachine:StateMachine": {
    forceNew: ["name", "namePrefix", "type"],
    source: "sfn/state_machine.go: name, name_prefix and type are ForceNew; definition, role_arn, logging and tracing are "
      + "UpdateStateMachine in place",
  },
  "aws:appautoscaling/target:Target": {
    forceNew: ["resourceId", "scalableDimension", "serviceNamespace"],
    source: "appautoscaling/target.go: resource_id, scalable_dimension and service_namespace are ForceNew; min and max capacity "
      + "are RegisterScalableTarget in place",
  },
  "aws:appautoscaling/policy:Policy": {
    forceNew: ["name", "resourceId", "scalableDimension", "serviceNamespace"],
    source: "appautoscaling/policy.go: name, resource_id, scalable_dimension and service_namespace are ForceNew; the policy "
      + "configuration is PutScalingPolicy in place",
  },
  "pulumi:providers:aws": {
    forceNew: [],
    source: "not modelled: the engine diffs provider configuration itself; the plan reports provider changes as updates",
  },
};

/** Types the plan knows; anything else is treated as replace-on-any-change, the safe assumption. */
export function replacementRule(type: string): ReplacementRule {
  return REPLACEMENT_RULES[type] ?? { allExcept: TAGS, source: "unknown type: every change but tags assumed to replace" };
}

/** True when a change at `path` (for example `deploymentConfig.autoRollbackConfiguration.alarms[2]`) replaces the resource. */
export function forcesReplacement(type: string, path: string): boolean {
  const rule = replacementRule(type);
  if (rule.allExcept) return !rule.allExcept.includes(topLevel(path));
  return (rule.forceNew ?? []).some((p) => path === p || isUnder(path, p) || isUnder(p, path));
}

/** The part of a resource's inputs that decides its identity: what must change for it to be replaced. */
export function replacementInputs(type: string, inputs: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const rule = replacementRule(type);
  const out: Record<string, unknown> = {};
  if (rule.allExcept) {
    for (const [key, value] of Object.entries(inputs)) if (!rule.allExcept.includes(key)) out[key] = value;
    return out;
  }
  for (const path of rule.forceNew ?? []) {
    const value = valueAt(inputs, path);
    if (value !== undefined) out[path] = value;
  }
  return out;
}

function topLevel(path: string): string {
  return /^[^.[]+/.exec(path)?.[0] ?? path;
}

function isUnder(path: string, parent: string): boolean {
  return path.startsWith(`${parent}.`) || path.startsWith(`${parent}[`);
}

/** The value at a property path such as `a.b[0].c`, or undefined. */
export function valueAt(value: unknown, path: string): unknown {
  let current = value;
  for (const part of path.split(/\.|\[(\d+)\]/).filter((p) => p !== undefined && p !== "")) {
    if (current === null || typeof current !== "object") return undefined;
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}
