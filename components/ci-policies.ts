/**
 * The CI side of each stage account, as pure policy documents: the deployer's identity policy (what
 * `pulumi up` may touch, by the service's name prefix), the previewer's read-only subset, the
 * trust policies that bind them to the CI principal, and the workload permissions boundary every
 * role the deployer creates must carry. No Allow uses a wildcard action.
 */
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
  stageNames,
} from "./names";
import {
  type Consumer,
  ecrPullStatements,
  logWriteStatement,
  policy,
  type PolicyDocument,
  registryKeyByAliasStatement,
  type RegistryAccess,
  type Statement,
} from "./policies";

/** What the stage's deployer role manages: everything the stack creates, by name prefix. */
export interface DeployerScope {
  readonly stage: Consumer;
  /** The registry the stage deploys models from (names, account, models, ECR). */
  readonly access: RegistryAccess;
  /** The stage hosts the registry: the deployer also manages groups, the artifact bucket and ECR. */
  readonly hostsRegistry: boolean;
  /**
   * The stack manages the account's GitHub OIDC provider.
   * @default false
   */
  readonly manageOidcProvider?: boolean;
}

/**
 * Identity policy of a stage's deployer role (the role CI assumes to run `pulumi up`): create,
 * update and delete exactly the resources the stack owns, scoped by the service's name prefix.
 */
export function deployerPolicy(scope: DeployerScope): PolicyDocument {
  const { stage, access } = scope;
  const { serviceName, registry } = access;
  const account = stage.account;
  const names = stageNames(serviceName, stage.stage, account);
  const prefix = `${serviceName}-`;
  const sm = (type: string) => sagemakerArn(account, `${type}/${prefix}*`);
  const buckets = [bucketArn(account, names.bucket)];
  const aliases = [kmsAliasArn(account, names.kmsAlias)];
  const groups = access.models.map((m) => modelPackageGroupName(serviceName, m));
  const boundary = policyArn(account, names.workloadBoundary);
  const reg = registryNames(serviceName, registry);
  const workloadRoles = [roleArn(account, names.executionRole)];
  if (scope.hostsRegistry) {
    workloadRoles.push(roleArn(account, reg.trainingRole));
    buckets.push(bucketArn(account, reg.artifactBucket));
    aliases.push(kmsAliasArn(account, reg.kmsAlias));
  }
  const statements: Statement[] = [
    // GetCallerIdentity, CreateKey and ListAliases have no resource type.
    { Sid: "AccountWide", Effect: "Allow", Action: ["sts:GetCallerIdentity", "kms:CreateKey", "kms:ListAliases"], Resource: "*" },
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
      // Roles the stack creates carry the workload boundary: the deployer can create and change
      // roles only with it (iam:PermissionsBoundary), so it cannot mint a role stronger than the
      // workloads need, nor change its own role or the previewer's (they have no boundary).
      Sid: "BoundedRoles",
      Effect: "Allow",
      Action: ["iam:CreateRole", "iam:DeleteRolePolicy", "iam:PutRolePermissionsBoundary", "iam:PutRolePolicy"],
      Resource: roleArn(account, `${prefix}*`),
      Condition: { StringEquals: { "iam:PermissionsBoundary": boundary } },
    },
    {
      // These actions take no boundary condition: they are limited to the workload roles by name.
      Sid: "WorkloadRoles",
      Effect: "Allow",
      Action: ["iam:DeleteRole", "iam:TagRole", "iam:UntagRole", "iam:UpdateAssumeRolePolicy", "iam:UpdateRole"],
      Resource: workloadRoles,
    },
    {
      Sid: "ReadStackRoles",
      Effect: "Allow",
      Action: ["iam:GetRole", "iam:GetRolePolicy", "iam:ListAttachedRolePolicies", "iam:ListInstanceProfilesForRole", "iam:ListRolePolicies"],
      Resource: roleArn(account, `${prefix}*`),
    },
    {
      Sid: "ReadBoundary",
      Effect: "Allow",
      Action: ["iam:GetPolicy", "iam:GetPolicyVersion", "iam:ListPolicyVersions"],
      Resource: boundary,
    },
    {
      Sid: "KeepBoundaries",
      Effect: "Deny",
      Action: "iam:DeleteRolePermissionsBoundary",
      Resource: roleArn(account, "*"),
    },
    {
      Sid: "PassExecutionRoles",
      Effect: "Allow",
      Action: "iam:PassRole",
      // Only the stage's own workload roles: the training role exists in the registry stage alone.
      Resource: workloadRoles,
      Condition: { StringEquals: { "iam:PassedToService": "sagemaker.amazonaws.com" } },
    },
    {
      Sid: "StackBuckets",
      Effect: "Allow",
      Action: [
        "s3:CreateBucket", "s3:DeleteBucket", "s3:DeleteBucketPolicy", "s3:GetAccelerateConfiguration", "s3:GetBucketAcl",
        "s3:GetBucketCORS", "s3:GetBucketLocation", "s3:GetBucketLogging", "s3:GetBucketObjectLockConfiguration",
        "s3:GetBucketOwnershipControls", "s3:GetBucketPolicy", "s3:GetBucketPublicAccessBlock", "s3:GetBucketRequestPayment",
        "s3:GetBucketTagging", "s3:GetBucketVersioning", "s3:GetBucketWebsite", "s3:GetEncryptionConfiguration",
        "s3:GetLifecycleConfiguration", "s3:GetReplicationConfiguration", "s3:ListBucket", "s3:PutBucketOwnershipControls",
        "s3:PutBucketPolicy", "s3:PutBucketPublicAccessBlock", "s3:PutBucketTagging", "s3:PutBucketVersioning",
        "s3:PutEncryptionConfiguration", "s3:PutLifecycleConfiguration",
      ],
      Resource: buckets,
    },
    {
      // Key ARNs hold a random id: keys are reached by the account's key ARNs, aliases by name.
      Sid: "StackKeys",
      Effect: "Allow",
      Action: [
        "kms:CreateAlias", "kms:DeleteAlias", "kms:DescribeKey", "kms:EnableKeyRotation", "kms:GetKeyPolicy",
        "kms:GetKeyRotationStatus", "kms:ListResourceTags", "kms:PutKeyPolicy", "kms:ScheduleKeyDeletion",
        "kms:TagResource", "kms:UntagResource", "kms:UpdateAlias", "kms:UpdateKeyDescription",
      ],
      Resource: [kmsKeysArn(account), ...aliases],
    },
    {
      // SageMaker (endpoint storage) and ECR create grants on the caller's behalf, never for a person.
      Sid: "ServiceGrants",
      Effect: "Allow",
      Action: "kms:CreateGrant",
      Resource: kmsKeysArn(account),
      Condition: { Bool: { "kms:GrantIsForAWSResource": true } },
    },
    {
      Sid: "RollbackAlarms",
      Effect: "Allow",
      Action: ["cloudwatch:DeleteAlarms", "cloudwatch:DescribeAlarms", "cloudwatch:ListTagsForResource", "cloudwatch:PutMetricAlarm", "cloudwatch:TagResource", "cloudwatch:UntagResource"],
      Resource: alarmArn(account, `${prefix}*`),
    },
  ];
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
  if (scope.hostsRegistry) {
    statements.push({
      Sid: "RegistryGroups",
      Effect: "Allow",
      Action: [
        "sagemaker:AddTags", "sagemaker:CreateModelPackageGroup", "sagemaker:DeleteModelPackageGroup",
        "sagemaker:DeleteModelPackageGroupPolicy", "sagemaker:DescribeModelPackageGroup", "sagemaker:GetModelPackageGroupPolicy",
        "sagemaker:ListTags", "sagemaker:PutModelPackageGroupPolicy",
      ],
      Resource: groups.map((g) => modelPackageGroupArn(registry, g)),
    });
    if (access.ecrRepository) {
      statements.push({
        Sid: "RegistryRepository",
        Effect: "Allow",
        Action: [
          "ecr:CreateRepository", "ecr:DeleteRepository", "ecr:DeleteRepositoryPolicy", "ecr:DescribeRepositories",
          "ecr:GetRepositoryPolicy", "ecr:ListTagsForResource", "ecr:PutImageScanningConfiguration",
          "ecr:PutImageTagMutability", "ecr:SetRepositoryPolicy", "ecr:TagResource", "ecr:UntagResource",
        ],
        Resource: ecrRepositoryArn(registry, reg.ecrRepository),
      });
    }
  }
  return policy(...statements);
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
 * requests. It can see what the stack owns and change nothing.
 */
export function previewerPolicy(scope: DeployerScope): PolicyDocument {
  const statements = deployerPolicy(scope).Statement.flatMap((statement) => {
    const actions = ([] as string[]).concat(statement.Action).filter((a) => READ_VERBS.test(a));
    return actions.length === 0 ? [] : [{ ...statement, Action: actions }];
  });
  return policy(...statements);
}

/**
 * The workload boundary: the most any role the deployer creates may do (the execution role and,
 * in the registry stage, the training role). It is a superset of their identity policies, written
 * with the service's name prefix so adding a model does not change it (only an administrator may).
 */
export function workloadBoundaryPolicy(stage: Consumer, access: RegistryAccess, hostsRegistry: boolean): PolicyDocument {
  const { serviceName, registry } = access;
  const account = stage.account;
  const ownBucket = bucketArn(account, stageNames(serviceName, stage.stage, account).bucket);
  const registryBucket = bucketArn(registry, registryNames(serviceName, registry).artifactBucket);
  const sagemakerActions = ["sagemaker:DescribeModelPackage", "sagemaker:DescribeModelPackageGroup"];
  if (hostsRegistry) sagemakerActions.push("sagemaker:CreateModelPackage", "sagemaker:ListModelPackages");
  const statements: Statement[] = [
    { Sid: "Objects", Effect: "Allow", Action: ["s3:GetObject", "s3:PutObject"], Resource: [`${ownBucket}/*`, `${registryBucket}/*`] },
    { Sid: "Buckets", Effect: "Allow", Action: "s3:ListBucket", Resource: [ownBucket, registryBucket] },
    { Sid: "OwnKeys", Effect: "Allow", Action: ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"], Resource: kmsKeysArn(account) },
    registryKeyByAliasStatement("RegistryKey", access),
    {
      Sid: "Registry",
      Effect: "Allow",
      Action: sagemakerActions,
      Resource: [sagemakerArn(registry, `model-package-group/${serviceName}-*`), sagemakerArn(registry, `model-package/${serviceName}-*/*`)],
    },
    logWriteStatement("Logs", account, "/aws/sagemaker/*"),
    {
      // PutMetricData has no resource type; the namespace condition narrows it.
      Sid: "Metrics",
      Effect: "Allow",
      Action: "cloudwatch:PutMetricData",
      Resource: "*",
      Condition: { StringLike: { "cloudwatch:namespace": "/aws/sagemaker/*" } },
    },
  ];
  if (access.ecrRepository) statements.push(...ecrPullStatements(access));
  return policy(...statements);
}
