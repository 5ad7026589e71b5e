/**
 * The CI side of each stage account, as pure policy documents: the deployer's identity policy (what
 * `pulumi up` may touch, by the service's name prefix), the previewer's read-only subset, the
 * trust policies that bind them to the CI principal, and the workload permissions boundary every
 * role the deployer creates must carry. No Allow uses a wildcard action.
 */
import { canaryStageDeployerStatements } from "./canary-policy";
import {
  type AccountRef,
  alarmArn,
  bucketArn,
  ecrRepositoryArn,
  GITHUB_OIDC_HOST,
  githubOidcProviderArn,
  kmsAliasArn,
  kmsKeysArn,
  modelPackageGroupArn,
  modelPackageGroupName,
  modelPackagesArn,
  policyArn,
  registryNames,
  roleArn,
  sagemakerArn,
  snsTopicArn,
  stageNames,
} from "./names";
import {
  type Consumer,
  policy,
  type PolicyDocument,
  type RegistryAccess,
  type Statement,
} from "./policies";

/** The Pulumi DIY state backend the CI roles use, and the key of its `awskms://` secrets provider. */
export interface StateBackendAccess {
  /** The S3 bucket of `pulumi login s3://<bucket>`. */
  readonly bucket: string;
  /** The account (in the service's region) that owns the bucket and the key. */
  readonly account: AccountRef;
  /** The Pulumi project (the service name): state paths are `.pulumi/<kind>/<project>/<stack>...`. */
  readonly project: string;
  /** @default - no KMS secrets provider */
  readonly secretsKeyAlias?: string;
}

/** What a stack's deployer role manages: everything the stack creates, by name prefix and tag. */
export interface DeployerScope {
  /** The stack (a stage, or REGISTRY_STACK) and the account it deploys into. */
  readonly stage: Consumer;
  /** The registry the stage deploys models from (names, account, models, ECR). */
  readonly access: RegistryAccess;
  /** The registry's own stack: it manages the registry and no serving resources. */
  readonly hostsRegistry: boolean;
  /**
   * The stack manages the account's GitHub OIDC provider.
   * @default false
   */
  readonly manageOidcProvider?: boolean;
  /**
   * The state backend, whose objects of this stack the CI roles may read (and the deployer write).
   * @default - no state backend access
   */
  readonly stateBackend?: StateBackendAccess;
}

/** The tags the stack's provider puts on every resource (stacks/program.ts), which key management requires. */
export const STACK_TAG_KEYS = { service: "mlplatform:service", stage: "mlplatform:stage" } as const;

/** The condition that a key carries the stack's tags. */
function stackTags(scope: DeployerScope): Record<string, string> {
  return {
    [`aws:ResourceTag/${STACK_TAG_KEYS.service}`]: scope.access.serviceName,
    [`aws:ResourceTag/${STACK_TAG_KEYS.stage}`]: scope.stage.stage,
  };
}

/** The roles of the stack that carry its boundary (whose inline policies the deployer keeps). */
function workloadRoleArns(scope: DeployerScope): string[] {
  const { serviceName, registry } = scope.access;
  const account = scope.stage.account;
  if (!scope.hostsRegistry) return [roleArn(account, stageNames(serviceName, scope.stage.stage, account).executionRole)];
  const reg = registryNames(serviceName, registry);
  return [roleArn(account, reg.trainingRole), roleArn(account, reg.publisherRole)];
}

/** Bucket actions `pulumi up` needs to create, read, update and delete a SecureBucket. */
const BUCKET_ACTIONS = [
  "s3:CreateBucket", "s3:DeleteBucket", "s3:DeleteBucketPolicy", "s3:GetAccelerateConfiguration", "s3:GetBucketAcl",
  "s3:GetBucketCORS", "s3:GetBucketLocation", "s3:GetBucketLogging", "s3:GetBucketObjectLockConfiguration",
  "s3:GetBucketOwnershipControls", "s3:GetBucketPolicy", "s3:GetBucketPublicAccessBlock", "s3:GetBucketRequestPayment",
  "s3:GetBucketTagging", "s3:GetBucketVersioning", "s3:GetBucketWebsite", "s3:GetEncryptionConfiguration",
  "s3:GetLifecycleConfiguration", "s3:GetReplicationConfiguration", "s3:ListBucket", "s3:PutBucketOwnershipControls",
  "s3:PutBucketPolicy", "s3:PutBucketPublicAccessBlock", "s3:PutBucketTagging", "s3:PutBucketVersioning",
  "s3:PutEncryptionConfiguration", "s3:PutLifecycleConfiguration",
];

/**
 * Identity policy of a stack's deployer role (the role CI assumes to run `pulumi up`): create,
 * update and delete exactly the resources the stack owns, scoped by the service's name prefix and,
 * for KMS keys (whose ARNs hold a random id), by the stack's tags. A stage's deployer manages
 * serving resources only; the registry's deployer manages the registry only, and may never write
 * artifacts, push images, or register or approve versions (its identity denies them, so a
 * resource policy it edits cannot grant them to it). No deployer creates a role or a key, or
 * changes a trust policy: the administrator's first `pulumi up` creates them (README, "Day zero").
 */
export function deployerPolicy(scope: DeployerScope): PolicyDocument {
  const { stage, access } = scope;
  const { serviceName, registry } = access;
  const account = stage.account;
  const names = stageNames(serviceName, stage.stage, account);
  const prefix = `${serviceName}-`;
  const boundary = policyArn(account, names.workloadBoundary);
  const reg = registryNames(serviceName, registry);
  const statements: Statement[] = [
    // GetCallerIdentity and ListAliases have no resource type.
    { Sid: "AccountWide", Effect: "Allow", Action: ["sts:GetCallerIdentity", "kms:ListAliases"], Resource: "*" },
    {
      // Inline policies only on roles that carry the stack's boundary: never its own role or another stack's.
      Sid: "BoundedRolePolicies",
      Effect: "Allow",
      Action: ["iam:DeleteRolePolicy", "iam:PutRolePolicy"],
      Resource: roleArn(account, `${prefix}*`),
      Condition: { StringEquals: { "iam:PermissionsBoundary": boundary } },
    },
    {
      Sid: "ReadStackRoles",
      Effect: "Allow",
      Action: ["iam:GetRole", "iam:GetRolePolicy", "iam:ListAttachedRolePolicies", "iam:ListInstanceProfilesForRole", "iam:ListRolePolicies"],
      Resource: roleArn(account, `${prefix}*`),
    },
    {
      // TagRole takes no boundary condition: the stack's workload roles, by name.
      Sid: "TagWorkloadRoles",
      Effect: "Allow",
      Action: ["iam:TagRole", "iam:UntagRole"],
      Resource: workloadRoleArns(scope),
    },
    { Sid: "ReadBoundary", Effect: "Allow", Action: ["iam:GetPolicy", "iam:GetPolicyVersion", "iam:ListPolicyVersions"], Resource: boundary },
    {
      // Roles and their trust are the administrator's: no role with a trust of the deployer's choosing.
      Sid: "NoRolesOrTrustChanges",
      Effect: "Deny",
      Action: [
        "iam:AttachRolePolicy", "iam:CreateRole", "iam:DeleteRole", "iam:DeleteRolePermissionsBoundary",
        "iam:PutRolePermissionsBoundary", "iam:UpdateAssumeRolePolicy",
      ],
      Resource: roleArn(account, "*"),
    },
    {
      // Keys are the administrator's too: created by the first `up` with the stack's tags, which the
      // deployer cannot put on any other key (TagResource needs them already there).
      Sid: "NoNewKeys",
      Effect: "Deny",
      Action: "kms:CreateKey",
      Resource: "*",
    },
    {
      Sid: "StackKeys",
      Effect: "Allow",
      Action: [
        "kms:CreateAlias", "kms:DeleteAlias", "kms:DescribeKey", "kms:EnableKeyRotation", "kms:GetKeyPolicy",
        "kms:GetKeyRotationStatus", "kms:ListResourceTags", "kms:PutKeyPolicy", "kms:ScheduleKeyDeletion",
        "kms:TagResource", "kms:UntagResource", "kms:UpdateAlias", "kms:UpdateKeyDescription",
      ],
      Resource: kmsKeysArn(account),
      Condition: { StringEquals: stackTags(scope) },
    },
    {
      // Aliases carry no tags; they are named. CreateAlias and UpdateAlias also need StackKeys on the key.
      Sid: "StackAliases",
      Effect: "Allow",
      Action: ["kms:CreateAlias", "kms:DeleteAlias", "kms:UpdateAlias"],
      Resource: kmsAliasArn(account, scope.hostsRegistry ? reg.kmsAlias : names.kmsAlias),
    },
    {
      // SageMaker (endpoint storage) and ECR create grants on the caller's behalf, never for a person.
      Sid: "ServiceGrants",
      Effect: "Allow",
      Action: "kms:CreateGrant",
      Resource: kmsKeysArn(account),
      Condition: { Bool: { "kms:GrantIsForAWSResource": true }, StringEquals: stackTags(scope) },
    },
  ];
  statements.push(...(scope.hostsRegistry ? registryDeployerStatements(scope) : servingDeployerStatements(scope)));
  if (scope.manageOidcProvider) {
    statements.push({
      Sid: "GithubOidcProvider",
      Effect: "Allow",
      Action: [
        "iam:CreateOpenIDConnectProvider", "iam:DeleteOpenIDConnectProvider", "iam:GetOpenIDConnectProvider",
        "iam:TagOpenIDConnectProvider", "iam:UntagOpenIDConnectProvider", "iam:UpdateOpenIDConnectProviderThumbprint",
      ],
      Resource: githubOidcProviderArn(account),
    });
  }
  if (scope.stateBackend !== undefined) statements.push(...stateBackendStatements(scope.stateBackend, stage.stage, "write"));
  return policy(...statements);
}

/** A stage deployer: endpoints, models, configs and alarms by prefix, its bucket, and models from registry versions. */
function servingDeployerStatements(scope: DeployerScope): Statement[] {
  const { stage, access } = scope;
  const { serviceName, registry } = access;
  const account = stage.account;
  const names = stageNames(serviceName, stage.stage, account);
  const prefix = `${serviceName}-`;
  const sm = (type: string) => sagemakerArn(account, `${type}/${prefix}*`);
  const groups = access.models.map((m) => modelPackageGroupName(serviceName, m));
  return [
    {
      Sid: "SageMakerServing",
      Effect: "Allow",
      Action: [
        "sagemaker:AddTags", "sagemaker:CreateEndpoint", "sagemaker:CreateEndpointConfig", "sagemaker:CreateModel",
        "sagemaker:DeleteEndpoint", "sagemaker:DeleteEndpointConfig", "sagemaker:DeleteModel", "sagemaker:DeleteTags",
        "sagemaker:DescribeEndpoint", "sagemaker:DescribeEndpointConfig", "sagemaker:DescribeModel", "sagemaker:ListTags",
        "sagemaker:UpdateEndpoint",
      ],
      Resource: [sm("model"), sm("endpoint-config"), sm("endpoint")],
    },
    {
      Sid: "RegistryVersionsForModels",
      Effect: "Allow",
      Action: ["sagemaker:CreateModel", "sagemaker:DescribeModelPackage"],
      Resource: groups.map((g) => modelPackagesArn(registry, g)),
    },
    {
      Sid: "PassExecutionRole",
      Effect: "Allow",
      Action: "iam:PassRole",
      Resource: roleArn(account, names.executionRole),
      Condition: { StringEquals: { "iam:PassedToService": "sagemaker.amazonaws.com" } },
    },
    { Sid: "StackBuckets", Effect: "Allow", Action: BUCKET_ACTIONS, Resource: bucketArn(account, names.bucket) },
    {
      // Asynchronous endpoints' result topics (components/async-inference.ts), by name prefix.
      Sid: "AsyncTopics",
      Effect: "Allow",
      Action: [
        "sns:CreateTopic", "sns:DeleteTopic", "sns:GetTopicAttributes", "sns:ListTagsForResource", "sns:SetTopicAttributes",
        "sns:TagResource", "sns:UntagResource",
      ],
      Resource: snsTopicArn(account, `${prefix}*`),
    },
    {
      // Multi-model artifacts (scripts/models.ts): write-once copies of approved versions under the prefix.
      Sid: "MultiModelArtifacts",
      Effect: "Allow",
      Action: ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"],
      Resource: `${bucketArn(account, names.bucket)}/multi-model/*`,
    },
    {
      // Their SSE-KMS encryption with the stage key (by the stack's tags, like the key's administration).
      Sid: "MultiModelArtifactKey",
      Effect: "Allow",
      Action: "kms:GenerateDataKey",
      Resource: kmsKeysArn(account),
      Condition: { StringEquals: stackTags(scope) },
    },
    {
      // A/B weights in place (scripts/variants.ts): no new endpoint config, so Pulumi does not see it.
      Sid: "VariantWeights",
      Effect: "Allow",
      Action: "sagemaker:UpdateEndpointWeightsAndCapacities",
      Resource: sm("endpoint"),
    },
    {
      // Per-variant metrics (scripts/variants.ts); GetMetricData has no resource type.
      Sid: "VariantMetrics",
      Effect: "Allow",
      Action: "cloudwatch:GetMetricData",
      Resource: "*",
    },
    {
      // Batch transform (scripts/batch.ts) with the model the endpoint serves; the job runs as that model's role.
      Sid: "BatchTransform",
      Effect: "Allow",
      Action: ["sagemaker:AddTags", "sagemaker:CreateTransformJob", "sagemaker:DescribeTransformJob", "sagemaker:StopTransformJob"],
      Resource: sm("transform-job"),
    },
    {
      // Scalable targets have ARNs with random ids: narrowed to SageMaker variants by the condition keys.
      Sid: "VariantAutoscaling",
      Effect: "Allow",
      Action: [
        "application-autoscaling:DeleteScalingPolicy", "application-autoscaling:DeregisterScalableTarget",
        "application-autoscaling:PutScalingPolicy", "application-autoscaling:RegisterScalableTarget",
      ],
      Resource: `arn:${account.partition ?? "aws"}:application-autoscaling:${account.region}:${account.accountId}:scalable-target/*`,
      Condition: {
        StringEquals: {
          "application-autoscaling:service-namespace": "sagemaker",
          "application-autoscaling:scalable-dimension": "sagemaker:variant:DesiredInstanceCount",
        },
      },
    },
    {
      // The Describe calls have no resource type.
      Sid: "ReadAutoscaling",
      Effect: "Allow",
      Action: ["application-autoscaling:DescribeScalableTargets", "application-autoscaling:DescribeScalingPolicies"],
      Resource: "*",
    },
    {
      // Registering the first SageMaker target creates Application Auto Scaling's service-linked role.
      Sid: "AutoscalingServiceLinkedRole",
      Effect: "Allow",
      Action: "iam:CreateServiceLinkedRole",
      Resource: roleArn(account, "aws-service-role/sagemaker.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint"),
      Condition: { StringEquals: { "iam:AWSServiceName": "sagemaker.application-autoscaling.amazonaws.com" } },
    },
    {
      // Target tracking creates and deletes its alarms with the caller's rights; they are named after the variant.
      Sid: "TargetTrackingAlarms",
      Effect: "Allow",
      Action: ["cloudwatch:DeleteAlarms", "cloudwatch:DescribeAlarms", "cloudwatch:PutMetricAlarm"],
      Resource: alarmArn(account, `TargetTracking-endpoint/${prefix}*`),
    },
    {
      Sid: "RollbackAlarms",
      Effect: "Allow",
      Action: ["cloudwatch:DeleteAlarms", "cloudwatch:DescribeAlarms", "cloudwatch:ListTagsForResource", "cloudwatch:PutMetricAlarm", "cloudwatch:TagResource", "cloudwatch:UntagResource"],
      Resource: alarmArn(account, `${prefix}*`),
    },
    ...canaryStageDeployerStatements(account, prefix),
  ];
}

/**
 * The registry's deployer: the artifact bucket's settings and policy, the package groups and
 * their policies, the ECR repository and its policy. It reads versions (so its previewer can serve
 * promotion) but never writes what a version is made of, nor its status.
 */
function registryDeployerStatements(scope: DeployerScope): Statement[] {
  const { access } = scope;
  const { serviceName, registry } = access;
  const reg = registryNames(serviceName, registry);
  const groups = access.models.map((m) => modelPackageGroupName(serviceName, m));
  const bucket = bucketArn(registry, reg.artifactBucket);
  const repository = ecrRepositoryArn(registry, reg.ecrRepository);
  const packages = groups.map((g) => modelPackagesArn(registry, g));
  const statements: Statement[] = [
    { Sid: "RegistryBucket", Effect: "Allow", Action: BUCKET_ACTIONS, Resource: bucket },
    {
      Sid: "RegistryGroups",
      Effect: "Allow",
      Action: [
        "sagemaker:AddTags", "sagemaker:CreateModelPackageGroup", "sagemaker:DeleteModelPackageGroup",
        "sagemaker:DeleteModelPackageGroupPolicy", "sagemaker:DescribeModelPackageGroup", "sagemaker:GetModelPackageGroupPolicy",
        "sagemaker:ListTags", "sagemaker:PutModelPackageGroupPolicy",
      ],
      Resource: groups.map((g) => modelPackageGroupArn(registry, g)),
    },
    { Sid: "ReadVersions", Effect: "Allow", Action: ["sagemaker:DescribeModelPackage", "sagemaker:ListModelPackages"], Resource: [...packages, ...groups.map((g) => modelPackageGroupArn(registry, g))] },
    {
      Sid: "NeverTheSupplyChainItself",
      Effect: "Deny",
      Action: [
        "ecr:BatchDeleteImage", "ecr:CompleteLayerUpload", "ecr:InitiateLayerUpload", "ecr:PutImage", "ecr:UploadLayerPart",
        "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutObject",
        "sagemaker:CreateModelPackage", "sagemaker:DeleteModelPackage", "sagemaker:UpdateModelPackage",
      ],
      Resource: [`${bucket}/*`, repository, ...packages],
    },
  ];
  if (access.ecrRepository) {
    statements.push({
      Sid: "RegistryRepository",
      Effect: "Allow",
      Action: [
        "ecr:CreateRepository", "ecr:DeleteRepository", "ecr:DeleteRepositoryPolicy", "ecr:DescribeRepositories",
        "ecr:GetRepositoryPolicy", "ecr:ListTagsForResource", "ecr:PutImageScanningConfiguration",
        "ecr:PutImageTagMutability", "ecr:SetRepositoryPolicy", "ecr:TagResource", "ecr:UntagResource",
      ],
      Resource: repository,
    });
  }
  return statements;
}

/**
 * Access of one stack's CI role to its state in a DIY S3 backend: the stack's checkpoint, history,
 * backups and locks (never another stack's), the backend's meta file, listing under `.pulumi/`,
 * and the secrets provider's key by alias. The previewer reads, and takes locks.
 */
export function stateBackendStatements(backend: StateBackendAccess, stack: string, mode: "read" | "write"): Statement[] {
  const bucket = bucketArn(backend.account, backend.bucket);
  const at = (kind: string, rest: string) => `${bucket}/.pulumi/${kind}/${backend.project}/${stack}${rest}`;
  const own = [at("stacks", ".json*"), at("history", "/*"), at("backups", "/*")];
  const statements: Statement[] = [
    { Sid: "StateList", Effect: "Allow", Action: "s3:ListBucket", Resource: bucket, Condition: { StringLike: { "s3:prefix": ".pulumi/*" } } },
    { Sid: "StateRead", Effect: "Allow", Action: "s3:GetObject", Resource: [...own, at("locks", "/*"), `${bucket}/.pulumi/meta.yaml`] },
    { Sid: "StateLocks", Effect: "Allow", Action: ["s3:DeleteObject", "s3:PutObject"], Resource: at("locks", "/*") },
  ];
  if (mode === "write") statements.push({ Sid: "StateWrite", Effect: "Allow", Action: ["s3:DeleteObject", "s3:PutObject"], Resource: own });
  if (backend.secretsKeyAlias !== undefined) {
    statements.push({
      Sid: "SecretsProviderKey",
      Effect: "Allow",
      Action: mode === "write" ? ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"] : ["kms:Decrypt"],
      Resource: kmsKeysArn(backend.account),
      Condition: { "ForAnyValue:StringEquals": { "kms:ResourceAliases": backend.secretsKeyAlias } },
    });
  }
  return statements;
}

/** Who may assume the stage's CI roles (mirrors the `ciPrincipal` project config). */
export type CiPrincipal =
  | { readonly type: "github-oidc"; readonly repository: string }
  | { readonly type: "iam-role"; readonly roleArn: string };

/**
 * Trust policy of a CI role. With GitHub OIDC the deployer is bound to the GitHub environment named
 * after the stage (where approvals are configured), and the read-only previewer to pull requests.
 */
export function ciTrustPolicy(principal: CiPrincipal, account: AccountRef, subject: { environment: string } | "pull_request"): PolicyDocument {
  if (principal.type === "iam-role") {
    return policy({ Effect: "Allow", Principal: { AWS: principal.roleArn }, Action: "sts:AssumeRole" });
  }
  const sub = subject === "pull_request"
    ? `repo:${principal.repository}:pull_request`
    : `repo:${principal.repository}:environment:${subject.environment}`;
  return policy({
    Effect: "Allow",
    Principal: { Federated: githubOidcProviderArn(account) },
    Action: "sts:AssumeRoleWithWebIdentity",
    Condition: { StringEquals: { [`${GITHUB_OIDC_HOST}:aud`]: "sts.amazonaws.com", [`${GITHUB_OIDC_HOST}:sub`]: sub } },
  });
}

const READ_VERBS = /^[a-z0-9]+:(Describe|Get|List)/;

/**
 * The previewer's policy: the read-only part of the deployer's, for `pulumi preview` in pull
 * requests (and, for the registry's previewer, reading versions for promotion and the registry
 * CLI). It can see what the stack owns and change nothing; with a state backend it reads its
 * stack's state and takes the lock.
 */
export function previewerPolicy(scope: DeployerScope): PolicyDocument {
  const { stateBackend, ...withoutState } = scope;
  const statements = deployerPolicy(withoutState).Statement.flatMap((statement) => {
    if (statement.Effect === "Deny") return [statement];
    const actions = ([] as string[]).concat(statement.Action).filter((a) => READ_VERBS.test(a));
    return actions.length === 0 ? [] : [{ ...statement, Action: actions }];
  });
  if (stateBackend !== undefined) statements.push(...stateBackendStatements(stateBackend, scope.stage.stage, "read"));
  return policy(...statements);
}
