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
  anyAccountRoleArn,
  bucketArn,
  ecrRepositoryArn,
  kmsKeysArn,
  logGroupArn,
  modelPackageGroupArn,
  modelPackageGroupName,
  modelPackagesArn,
  REGISTRY_STACK,
  registryNames,
  roleArn,
  snsTopicArn,
  stageNames,
  TRAINING_OUTPUT_PREFIX,
} from "./names";

export interface Statement {
  Sid?: string;
  Effect: "Allow" | "Deny";
  Principal?: Record<string, string | string[]> | "*";
  Action: string | string[];
  /** Absent in trust policies and in policies attached to one resource (ECR). */
  Resource?: string | string[];
  /** Everything but these (Deny statements only in this project). */
  NotResource?: string | string[];
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

/** The registry's own roles, by ARN: the only principals that may change what every stage loads. */
export function registryRoleArns(serviceName: string, registry: AccountRef) {
  const names = registryNames(serviceName, registry);
  return {
    deployer: roleArn(registry, stageNames(serviceName, REGISTRY_STACK, registry).deployerRole),
    publisher: roleArn(registry, names.publisherRole),
    approver: roleArn(registry, names.approverRole),
    reader: roleArn(registry, names.readerRole),
    training: roleArn(registry, names.trainingRole),
  };
}

/**
 * A condition that holds for the service's roles in any account (its stage deployers, execution
 * roles, previewers) except the listed ones. Deny statements use it so that no role of a stage,
 * nor one a stage could obtain, reaches the registry's resources, whatever its identity policy
 * says; the account's administrators (not named after the service) keep their access.
 */
function serviceRolesExcept(serviceName: string, registry: AccountRef, allowed: readonly string[]): Statement["Condition"] {
  return { ArnLike: { "aws:PrincipalArn": anyAccountRoleArn(registry, `${serviceName}-*`) }, ArnNotEquals: { "aws:PrincipalArn": [...allowed] } };
}

/** Bucket-level actions that change how the artifact bucket protects its objects. */
const BUCKET_ADMIN_ACTIONS = [
  "s3:DeleteBucket", "s3:DeleteBucketPolicy", "s3:PutBucketOwnershipControls", "s3:PutBucketPolicy", "s3:PutBucketPublicAccessBlock",
  "s3:PutBucketVersioning", "s3:PutEncryptionConfiguration", "s3:PutLifecycleConfiguration",
];

/**
 * Registry bucket statements (after the TLS-only deny): artifact read for the consumer execution
 * roles, and the supply-chain guards. Every key outside TRAINING_OUTPUT_PREFIX is write-once: a
 * PutObject (or CompleteMultipartUpload, or copy) must carry `If-None-Match: *`, which S3 refuses
 * when the key exists, and no one may delete an object or a version, so the bytes behind a
 * registered version never change (README, "Supply chain"). Training output is writable only by
 * the training role, and no version may point at it (`registry register` refuses it).
 */
export function registryBucketStatements(serviceName: string, registry: AccountRef, consumers: readonly Consumer[]): Statement[] {
  const arn = bucketArn(registry, registryNames(serviceName, registry).artifactBucket);
  const grant = consumerGrant(serviceName, consumers);
  const roles = registryRoleArns(serviceName, registry);
  const training = `${arn}/${TRAINING_OUTPUT_PREFIX}*`;
  return [
    { Sid: "ConsumersReadArtifacts", Effect: "Allow", ...grant, Action: "s3:GetObject", Resource: `${arn}/*` },
    { Sid: "ConsumersListArtifacts", Effect: "Allow", ...grant, Action: "s3:ListBucket", Resource: arn },
    {
      Sid: "WriteOnce",
      Effect: "Deny",
      Principal: "*",
      Action: "s3:PutObject",
      NotResource: training,
      // ObjectCreationOperation is true for the calls that create an object (PutObject, CopyObject,
      // CompleteMultipartUpload), false for the parts of a multipart upload, which carry no header.
      Condition: { Null: { "s3:if-none-match": "true" }, Bool: { "s3:ObjectCreationOperation": true } },
    },
    { Sid: "NoDeletes", Effect: "Deny", Principal: "*", Action: ["s3:DeleteObject", "s3:DeleteObjectVersion"], NotResource: training },
    {
      Sid: "TrainingOutputByTrainingRoleOnly",
      Effect: "Deny",
      Principal: "*",
      Action: ["s3:DeleteObject", "s3:PutObject"],
      Resource: training,
      Condition: { ArnNotEquals: { "aws:PrincipalArn": roles.training } },
    },
    {
      Sid: "ArtifactWritersOnly",
      Effect: "Deny",
      Principal: "*",
      Action: "s3:PutObject",
      NotResource: training,
      Condition: serviceRolesExcept(serviceName, registry, [roles.publisher]),
    },
    {
      Sid: "BucketSettingsByRegistryDeployerOnly",
      Effect: "Deny",
      Principal: "*",
      Action: BUCKET_ADMIN_ACTIONS,
      Resource: arn,
      Condition: serviceRolesExcept(serviceName, registry, [roles.deployer]),
    },
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

/** Key actions that use the key; every other owner action administers it. */
const KEY_USE_ACTIONS = new Set([
  "kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext",
  "kms:GetKeyPolicy", "kms:GetKeyRotationStatus", "kms:ListAliases", "kms:ListGrants", "kms:ListKeyPolicies",
  "kms:ListResourceTags", "kms:ReEncryptFrom", "kms:ReEncryptTo",
]);

/** KMS actions that administer a key (policy, deletion, grants, aliases, tags). */
export const KEY_ADMIN_ACTIONS = KEY_OWNER_ACTIONS.filter((a) => !KEY_USE_ACTIONS.has(a));

/**
 * Registry key: its own account, decrypt for the consumer execution roles (model artifacts,
 * images), and a deny that keeps its administration from every role of the service but the
 * registry's deployer, whatever their identity policies say.
 */
export function registryKeyPolicy(serviceName: string, registry: AccountRef, consumers: readonly Consumer[]): PolicyDocument {
  return policy(
    keyOwnerStatement(registry),
    { Sid: "ConsumersDecrypt", Effect: "Allow", ...consumerGrant(serviceName, consumers), Action: ["kms:Decrypt", "kms:DescribeKey"], Resource: "*" },
    {
      Sid: "AdministeredByRegistryDeployerOnly",
      Effect: "Deny",
      Principal: "*",
      Action: KEY_ADMIN_ACTIONS,
      Resource: "*",
      Condition: serviceRolesExcept(serviceName, registry, [registryRoleArns(serviceName, registry).deployer]),
    },
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

/** ECR actions that add or remove images. */
export const ECR_PUSH_ACTIONS = [
  "ecr:BatchDeleteImage", "ecr:CompleteLayerUpload", "ecr:InitiateLayerUpload", "ecr:PutImage", "ecr:UploadLayerPart",
];

/** ECR actions that change the repository's settings and policy. */
const ECR_ADMIN_ACTIONS = [
  "ecr:DeleteRepository", "ecr:DeleteRepositoryPolicy", "ecr:PutImageScanningConfiguration", "ecr:PutImageTagMutability",
  "ecr:PutLifecyclePolicy", "ecr:SetRepositoryPolicy",
];

/**
 * Registry ECR repository policy: pull for the consumer execution roles; of the service's roles,
 * only the publisher pushes and only the registry's deployer changes the repository. Tags are
 * immutable (the repository's setting), so a pushed tag always names the same image.
 */
export function ecrRepositoryPolicy(serviceName: string, registry: AccountRef, consumers: readonly Consumer[]): PolicyDocument {
  // A repository policy applies to its own repository: no Resource element.
  const grant = consumerGrant(serviceName, consumers);
  const roles = registryRoleArns(serviceName, registry);
  return policy(
    { Sid: "ConsumersPull", Effect: "Allow", ...grant, Action: ECR_PULL_ACTIONS },
    { Sid: "PushByPublisherOnly", Effect: "Deny", Principal: "*", Action: ECR_PUSH_ACTIONS, Condition: serviceRolesExcept(serviceName, registry, [roles.publisher]) },
    { Sid: "SettingsByRegistryDeployerOnly", Effect: "Deny", Principal: "*", Action: ECR_ADMIN_ACTIONS, Condition: serviceRolesExcept(serviceName, registry, [roles.deployer]) },
  );
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
  /**
   * The retraining database's Secrets Manager secret, which the publisher (and the registry's
   * boundary) admit reading.
   * @default - none
   */
  readonly databaseSecretArn?: string;
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
    { Sid: "OwnKey", Effect: "Allow", Action: ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"], Resource: ownKeyArn },
    { Sid: "RegistryArtifacts", Effect: "Allow", Action: "s3:GetObject", Resource: `${registryBucket}/*` },
    { Sid: "RegistryArtifactsList", Effect: "Allow", Action: "s3:ListBucket", Resource: registryBucket },
    registryKeyByAliasStatement("RegistryKeyByAlias", access),
    { Sid: "RegistryModelGroups", Effect: "Allow", Action: "sagemaker:DescribeModelPackageGroup", Resource: groups.map((g) => modelPackageGroupArn(registry, g)) },
    { Sid: "RegistryModelVersions", Effect: "Allow", Action: "sagemaker:DescribeModelPackage", Resource: groups.map((g) => modelPackagesArn(registry, g)) },
    logWriteStatement("EndpointLogs", stage.account, logGroup),
    // Asynchronous endpoints announce results on their topics (components/async-inference.ts).
    { Sid: "AsyncResultTopics", Effect: "Allow", Action: "sns:Publish", Resource: snsTopicArn(stage.account, `${serviceName}-*-async-*`) },
    // Batch transform jobs of the stage's models (scripts/batch.ts) log here.
    logWriteStatement("TransformJobLogs", stage.account, "/aws/sagemaker/TransformJobs"),
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
 * Identity policy of the registry's training role (assumed by SageMaker training jobs, and by the
 * retraining loop's evaluation models and batch transforms): read the artifacts and datasets,
 * write training output under TRAINING_OUTPUT_PREFIX only, use the registry key, and write the
 * jobs' logs and metrics. It registers nothing: the publisher does.
 */
export function trainingRolePolicy(access: RegistryAccess, keyArn: string): PolicyDocument {
  const { serviceName, registry } = access;
  const bucket = bucketArn(registry, registryNames(serviceName, registry).artifactBucket);
  const statements: Statement[] = [
    { Sid: "ReadArtifacts", Effect: "Allow", Action: "s3:GetObject", Resource: `${bucket}/*` },
    { Sid: "WriteTrainingOutput", Effect: "Allow", Action: "s3:PutObject", Resource: `${bucket}/${TRAINING_OUTPUT_PREFIX}*` },
    { Sid: "ArtifactList", Effect: "Allow", Action: "s3:ListBucket", Resource: bucket },
    { Sid: "RegistryKey", Effect: "Allow", Action: ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"], Resource: keyArn },
    logWriteStatement("TrainingLogs", registry, "/aws/sagemaker/TrainingJobs"),
    // The retraining loop's evaluation (scripts/lib/retrain/evaluation.ts) is a batch transform run as this role.
    logWriteStatement("TransformLogs", registry, "/aws/sagemaker/TransformJobs"),
    {
      // SageMaker publishes a job's metrics as its role; PutMetricData has no resource type, the namespace narrows it.
      Sid: "JobMetrics",
      Effect: "Allow",
      Action: "cloudwatch:PutMetricData",
      Resource: "*",
      Condition: { StringLike: { "cloudwatch:namespace": ["/aws/sagemaker/TrainingJobs", "/aws/sagemaker/TransformJobs"] } },
    },
  ];
  if (access.ecrRepository) statements.push(...ecrPullStatements(access));
  return policy(...statements);
}
