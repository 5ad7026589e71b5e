/**
 * IAM, bucket, key and registry policy documents, as pure functions of names and ARNs (the CI
 * roles' policies are in ci-policies.ts). Both sides of every cross-account grant are built here
 * from the same derived names (components/names.ts):
 * the registry's resource policies name the consumer accounts and, where the service supports a
 * condition, exactly the consumer roles; each consumer's identity policy names exactly the
 * registry's resources. No `Allow` statement uses a wildcard action; the only wildcard resources
 * are on actions that AWS does not scope to a resource (noted beside each).
 */
import {
  type AccountRef,
  accountRootArn,
  bucketArn,
  ecrRepositoryArn,
  kmsKeysArn,
  logGroupArn,
  modelPackageGroupArn,
  modelPackageGroupName,
  modelPackagesArn,
  registryNames,
  roleArn,
  stageNames,
} from "./names";

export interface Statement {
  Sid?: string;
  Effect: "Allow" | "Deny";
  Principal?: Record<string, string | string[]> | "*";
  Action: string | string[];
  /** Absent in trust policies and in policies attached to one resource (ECR). */
  Resource?: string | string[];
  Condition?: Record<string, Record<string, string | string[] | boolean>>;
}

export interface PolicyDocument {
  Version: "2012-10-17";
  Statement: Statement[];
}

export function policy(...statements: Statement[]): PolicyDocument {
  return { Version: "2012-10-17", Statement: statements };
}

/** A stage that consumes the registry: its account and the execution role its endpoints run as. */
export interface Consumer {
  readonly stage: string;
  readonly account: AccountRef;
}

/** The execution role ARN of each consumer, as the consumer's stack names it. */
export function consumerRoleArns(serviceName: string, consumers: readonly Consumer[]): string[] {
  return consumers.map((c) => roleArn(c.account, stageNames(serviceName, c.stage, c.account).executionRole));
}

function consumerAccountRoots(consumers: readonly Consumer[]): string[] {
  return [...new Set(consumers.map((c) => accountRootArn(c.account)))];
}

/**
 * A principal block for cross-account grants: the consumer accounts, narrowed to the execution
 * roles with `aws:PrincipalArn`. Naming the accounts (not the roles) keeps the policy valid before
 * the roles exist: S3 and KMS reject principals that do not exist yet.
 */
function consumerGrant(serviceName: string, consumers: readonly Consumer[]): Pick<Statement, "Principal" | "Condition"> {
  return {
    Principal: { AWS: consumerAccountRoots(consumers) },
    Condition: { ArnEquals: { "aws:PrincipalArn": consumerRoleArns(serviceName, consumers) } },
  };
}

/** Denies every request that does not use TLS (a Deny may, and must, cover every action). */
export function tlsOnlyStatement(bucket: string, account: AccountRef): Statement {
  const arn = bucketArn(account, bucket);
  return {
    Sid: "DenyInsecureTransport",
    Effect: "Deny",
    Principal: "*",
    Action: "s3:*",
    Resource: [arn, `${arn}/*`],
    Condition: { Bool: { "aws:SecureTransport": false } },
  };
}

/** Registry bucket statements (after the TLS-only deny): artifact read for the consumer execution roles. */
export function registryBucketStatements(serviceName: string, registry: AccountRef, consumers: readonly Consumer[]): Statement[] {
  const arn = bucketArn(registry, registryNames(serviceName, registry).artifactBucket);
  const grant = consumerGrant(serviceName, consumers);
  return [
    { Sid: "ConsumersReadArtifacts", Effect: "Allow", ...grant, Action: "s3:GetObject", Resource: `${arn}/*` },
    { Sid: "ConsumersListArtifacts", Effect: "Allow", ...grant, Action: "s3:ListBucket", Resource: arn },
  ];
}

/** KMS actions the key's own account may use (administration and use), listed without wildcards. */
export const KEY_OWNER_ACTIONS = [
  "kms:CancelKeyDeletion", "kms:CreateAlias", "kms:CreateGrant", "kms:Decrypt", "kms:DeleteAlias",
  "kms:DescribeKey", "kms:DisableKey", "kms:DisableKeyRotation", "kms:EnableKey", "kms:EnableKeyRotation",
  "kms:Encrypt", "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:GetKeyPolicy",
  "kms:GetKeyRotationStatus", "kms:ListAliases", "kms:ListGrants", "kms:ListKeyPolicies",
  "kms:ListResourceTags", "kms:PutKeyPolicy", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:RetireGrant",
  "kms:RevokeGrant", "kms:ScheduleKeyDeletion", "kms:TagResource", "kms:UntagResource", "kms:UpdateAlias",
  "kms:UpdateKeyDescription",
];

/** The key's own account: lets IAM policies in that account grant use of the key. */
function keyOwnerStatement(account: AccountRef): Statement {
  // In a key policy "Resource" is the key itself, written as "*".
  return { Sid: "KeyOwnerAccount", Effect: "Allow", Principal: { AWS: accountRootArn(account) }, Action: KEY_OWNER_ACTIONS, Resource: "*" };
}

/** Registry key: its own account, plus decrypt for the consumer execution roles (model artifacts, images). */
export function registryKeyPolicy(serviceName: string, registry: AccountRef, consumers: readonly Consumer[]): PolicyDocument {
  return policy(
    keyOwnerStatement(registry),
    { Sid: "ConsumersDecrypt", Effect: "Allow", ...consumerGrant(serviceName, consumers), Action: ["kms:Decrypt", "kms:DescribeKey"], Resource: "*" },
  );
}

/** A stage key: its own account only (the execution role gets use through its identity policy). */
export function stageKeyPolicy(account: AccountRef): PolicyDocument {
  return policy(keyOwnerStatement(account));
}

/**
 * Model package group resource policy: the consumer accounts may describe the group and describe,
 * list and create models from its versions (the AWS cross-account model registry pattern).
 */
export function modelPackageGroupPolicy(serviceName: string, model: string, registry: AccountRef, consumers: readonly Consumer[]): PolicyDocument {
  const group = modelPackageGroupName(serviceName, model);
  const principal = { AWS: consumerAccountRoots(consumers) };
  return policy(
    { Sid: "ConsumersDescribeGroup", Effect: "Allow", Principal: principal, Action: "sagemaker:DescribeModelPackageGroup", Resource: modelPackageGroupArn(registry, group) },
    {
      Sid: "ConsumersUseVersions",
      Effect: "Allow",
      Principal: principal,
      Action: ["sagemaker:DescribeModelPackage", "sagemaker:ListModelPackages", "sagemaker:CreateModel"],
      Resource: modelPackagesArn(registry, group),
    },
  );
}

/** ECR image pull actions (GetAuthorizationToken is account-wide and lives in the identity policy). */
export const ECR_PULL_ACTIONS = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"];

/** Registry ECR repository policy: pull for the consumer execution roles. */
export function ecrRepositoryPolicy(serviceName: string, consumers: readonly Consumer[]): PolicyDocument {
  // A repository policy applies to its own repository: no Resource element.
  const grant = consumerGrant(serviceName, consumers);
  return policy({ Sid: "ConsumersPull", Effect: "Allow", ...grant, Action: ECR_PULL_ACTIONS });
}

/** Trust policy for a role that SageMaker assumes, for this account only (confused-deputy guard). */
export function sagemakerTrustPolicy(account: AccountRef): PolicyDocument {
  return policy({
    Effect: "Allow",
    Principal: { Service: "sagemaker.amazonaws.com" },
    Action: "sts:AssumeRole",
    Condition: { StringEquals: { "aws:SourceAccount": account.accountId } },
  });
}

/** What an execution role in a stage account may reach in the registry account. */
export interface RegistryAccess {
  readonly serviceName: string;
  readonly registry: AccountRef;
  readonly models: readonly string[];
  readonly ecrRepository: boolean;
}

/**
 * Use of the registry key from any account: every key of the registry's account and region,
 * narrowed to the one behind the registry's fixed alias (its ARN holds a random id).
 */
export function registryKeyByAliasStatement(sid: string, access: RegistryAccess): Statement {
  const { serviceName, registry } = access;
  return {
    Sid: sid,
    Effect: "Allow",
    Action: ["kms:Decrypt", "kms:DescribeKey"],
    Resource: kmsKeysArn(registry),
    Condition: { "ForAnyValue:StringEquals": { "kms:ResourceAliases": registryNames(serviceName, registry).kmsAlias } },
  };
}

/** Create and write the log groups of this name (a pattern may hold `*`) and their streams. */
export function logWriteStatement(sid: string, account: AccountRef, logGroup: string): Statement {
  const group = logGroupArn(account, logGroup);
  return {
    Sid: sid,
    Effect: "Allow",
    Action: ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"],
    Resource: [group, `${group}:log-stream:*`],
  };
}

/**
 * Identity policy of a stage's SageMaker execution role: its own bucket and key, the registry's
 * artifacts, key (through its fixed alias), model packages and images, and its endpoints' logs.
 */
export function executionRolePolicy(stage: Consumer, ownKeyArn: string, access: RegistryAccess): PolicyDocument {
  const { serviceName, registry } = access;
  const own = stageNames(serviceName, stage.stage, stage.account);
  const ownBucket = bucketArn(stage.account, own.bucket);
  const registryBucket = bucketArn(registry, registryNames(serviceName, registry).artifactBucket);
  const groups = access.models.map((m) => modelPackageGroupName(serviceName, m));
  const logGroup = `/aws/sagemaker/Endpoints/${serviceName}-*`;
  const statements: Statement[] = [
    { Sid: "OwnBucketObjects", Effect: "Allow", Action: ["s3:GetObject", "s3:PutObject"], Resource: `${ownBucket}/*` },
    { Sid: "OwnBucketList", Effect: "Allow", Action: "s3:ListBucket", Resource: ownBucket },
    { Sid: "OwnKey", Effect: "Allow", Action: ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey"], Resource: ownKeyArn },
    { Sid: "RegistryArtifacts", Effect: "Allow", Action: "s3:GetObject", Resource: `${registryBucket}/*` },
    { Sid: "RegistryArtifactsList", Effect: "Allow", Action: "s3:ListBucket", Resource: registryBucket },
    registryKeyByAliasStatement("RegistryKeyByAlias", access),
    { Sid: "RegistryModelGroups", Effect: "Allow", Action: "sagemaker:DescribeModelPackageGroup", Resource: groups.map((g) => modelPackageGroupArn(registry, g)) },
    { Sid: "RegistryModelVersions", Effect: "Allow", Action: "sagemaker:DescribeModelPackage", Resource: groups.map((g) => modelPackagesArn(registry, g)) },
    logWriteStatement("EndpointLogs", stage.account, logGroup),
    {
      // PutMetricData has no resource type; the namespace condition narrows it.
      Sid: "EndpointMetrics",
      Effect: "Allow",
      Action: "cloudwatch:PutMetricData",
      Resource: "*",
      Condition: { StringLike: { "cloudwatch:namespace": "/aws/sagemaker/Endpoints*" } },
    },
  ];
  if (access.ecrRepository) statements.push(...ecrPullStatements(access));
  return policy(...statements);
}

/** Pull of the registry's inference images, for a role in any account. */
export function ecrPullStatements(access: RegistryAccess): Statement[] {
  const repository = ecrRepositoryArn(access.registry, registryNames(access.serviceName, access.registry).ecrRepository);
  return [
    // GetAuthorizationToken has no resource type.
    { Sid: "EcrLogin", Effect: "Allow", Action: "ecr:GetAuthorizationToken", Resource: "*" },
    { Sid: "RegistryImages", Effect: "Allow", Action: ECR_PULL_ACTIONS, Resource: repository },
  ];
}

/**
 * Identity policy of the registry's training / registration role: read and write the artifacts,
 * use the registry key, register versions in the service's groups, and write training logs.
 */
export function trainingRolePolicy(access: RegistryAccess, keyArn: string): PolicyDocument {
  const { serviceName, registry, models } = access;
  const names = registryNames(serviceName, registry);
  const bucket = bucketArn(registry, names.artifactBucket);
  const groups = models.map((m) => modelPackageGroupName(serviceName, m));
  const logGroup = "/aws/sagemaker/TrainingJobs";
  const statements: Statement[] = [
    { Sid: "ArtifactObjects", Effect: "Allow", Action: ["s3:GetObject", "s3:PutObject"], Resource: `${bucket}/*` },
    { Sid: "ArtifactList", Effect: "Allow", Action: "s3:ListBucket", Resource: bucket },
    { Sid: "RegistryKey", Effect: "Allow", Action: ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"], Resource: keyArn },
    {
      Sid: "RegisterVersions",
      Effect: "Allow",
      Action: ["sagemaker:CreateModelPackage", "sagemaker:DescribeModelPackage", "sagemaker:ListModelPackages"],
      Resource: [...groups.map((g) => modelPackageGroupArn(registry, g)), ...groups.map((g) => modelPackagesArn(registry, g))],
    },
    { Sid: "DescribeGroups", Effect: "Allow", Action: "sagemaker:DescribeModelPackageGroup", Resource: groups.map((g) => modelPackageGroupArn(registry, g)) },
    logWriteStatement("TrainingLogs", registry, logGroup),
  ];
  if (access.ecrRepository) statements.push(...ecrPullStatements(access));
  return policy(...statements);
}
