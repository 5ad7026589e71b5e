/**
 * The registry's roles for people and pipelines, as pure policy documents: the publisher (the
 * training pipeline: upload artifacts under new keys, push images, register versions pending
 * approval), the approver (approve or reject, read everything, change nothing else), the reader
 * (read everything: promotion and the registry CLI's reads), and the trust policies that admit the
 * principals the service definition declares for each.
 */
import { STACK_TAG_KEYS } from "./ci-policies";
import {
  type AccountRef,
  accountRootArn,
  bucketArn,
  ecrRepositoryArn,
  GITHUB_OIDC_HOST,
  githubOidcProviderArn,
  kmsKeysArn,
  modelPackageGroupArn,
  modelPackageGroupName,
  modelPackagesArn,
  registryNames,
  roleArn,
  sagemakerArn,
  TRAINING_OUTPUT_PREFIX,
} from "./names";
import { ECR_PULL_ACTIONS, ECR_PUSH_ACTIONS, policy, type PolicyDocument, registryKeyByAliasStatement, type RegistryAccess, type Statement } from "./policies";

/**
 * Who may assume a registry role: a GitHub Actions job (by repository, and environment, branch or
 * workflow file), or IAM roles (`*` may stand for the random suffix of an SSO permission set's role).
 */
export type RolePrincipal =
  | {
    readonly type: "github";
    /** `owner/repo`. */
    readonly repository: string;
    /** @default - any environment (or none) */
    readonly environment?: string;
    /** @default - any branch */
    readonly branch?: string;
    /**
     * A workflow file in .github/workflows; binds `job_workflow_ref`, which the subject claim
     * carries only when the repository's OIDC subject template includes it (README).
     * @default - any workflow
     */
    readonly workflow?: string;
  }
  | { readonly type: "role"; readonly roleArn: string };

/**
 * The GitHub OIDC subject a principal's jobs present: GitHub's default forms
 * (`repo:R:environment:E`, `repo:R:ref:refs/heads/B`) or, with a workflow, the customised form
 * `repo:R:<context>:job_workflow_ref:R/.github/workflows/W@<ref>`. `*` fills what is not bound.
 */
export function githubSubject(p: Extract<RolePrincipal, { type: "github" }>): string {
  // GitHub's default subject of a job with an environment names no branch: binding both needs job_workflow_ref.
  if (p.environment !== undefined && p.branch !== undefined && p.workflow === undefined) {
    throw new Error(`githubSubject: ${p.repository}: an environment and a branch together need a workflow (the default subject carries one or the other)`);
  }
  if (p.environment === undefined && p.branch === undefined) {
    throw new Error(`githubSubject: ${p.repository}: name an environment or a branch (a workflow alone would admit any ref, pull requests included)`);
  }
  const context = p.environment !== undefined ? `environment:${p.environment}` : p.branch !== undefined && p.workflow === undefined ? `ref:refs/heads/${p.branch}` : "*";
  if (p.workflow === undefined) return `repo:${p.repository}:${context}`;
  const ref = p.branch !== undefined ? `refs/heads/${p.branch}` : "*";
  return `repo:${p.repository}:${context}:job_workflow_ref:${p.repository}/.github/workflows/${p.workflow}@${ref}`;
}

/**
 * Trust policy of a registry role: GitHub jobs through the account's OIDC provider (audience
 * sts.amazonaws.com, subject by StringLike), and IAM roles or role patterns through their
 * account's root, narrowed by `aws:PrincipalArn`.
 */
export function registryRoleTrustPolicy(account: AccountRef, principals: readonly RolePrincipal[]): PolicyDocument {
  const statements: Statement[] = [];
  const subjects = principals.flatMap((p) => (p.type === "github" ? [githubSubject(p)] : []));
  if (subjects.length > 0) {
    statements.push({
      Sid: "GithubJobs",
      Effect: "Allow",
      Principal: { Federated: githubOidcProviderArn(account) },
      Action: "sts:AssumeRoleWithWebIdentity",
      Condition: { StringEquals: { [`${GITHUB_OIDC_HOST}:aud`]: "sts.amazonaws.com" }, StringLike: { [`${GITHUB_OIDC_HOST}:sub`]: subjects } },
    });
  }
  // Roles are admitted through their account's root, narrowed by aws:PrincipalArn: IAM refuses a
  // trust policy that names a role which does not exist yet (a stage deployer, before its stack).
  const roles = principals.flatMap((p) => (p.type === "role" ? [p.roleArn] : []));
  const byAccount = new Map<string, { partition: string; arns: string[] }>();
  for (const arn of roles) {
    const owner = /^arn:([\w-]+):iam::(\d{12}):role\//.exec(arn);
    if (owner === null) throw new Error(`registryRoleTrustPolicy: not a role ARN: ${arn}`);
    const entry = byAccount.get(owner[2]) ?? { partition: owner[1], arns: [] };
    entry.arns.push(arn);
    byAccount.set(owner[2], entry);
  }
  for (const [accountId, { partition, arns }] of byAccount) {
    statements.push({
      Sid: `RolesOf${accountId}`,
      Effect: "Allow",
      Principal: { AWS: accountRootArn({ accountId, region: account.region, partition }) },
      Action: "sts:AssumeRole",
      Condition: { ArnLike: { "aws:PrincipalArn": arns } },
    });
  }
  if (statements.length === 0) throw new Error("registryRoleTrustPolicy: at least one principal is required");
  return policy(...statements);
}

/**
 * Read access to everything in the registry: versions, groups, artifacts, images. Written with the
 * service's name prefix, so adding a model changes no policy that only an administrator may apply
 * (the approver's and the reader's carry no boundary).
 */
function registryReadStatements(access: RegistryAccess): Statement[] {
  const { serviceName, registry } = access;
  const bucket = bucketArn(registry, registryNames(serviceName, registry).artifactBucket);
  const statements: Statement[] = [
    { Sid: "ReadVersions", Effect: "Allow", Action: ["sagemaker:DescribeModelPackage", "sagemaker:ListModelPackages"], Resource: [allPackages(access), allGroups(access)] },
    { Sid: "ReadGroups", Effect: "Allow", Action: "sagemaker:DescribeModelPackageGroup", Resource: allGroups(access) },
    { Sid: "ReadArtifacts", Effect: "Allow", Action: "s3:GetObject", Resource: `${bucket}/*` },
    { Sid: "ListArtifacts", Effect: "Allow", Action: "s3:ListBucket", Resource: bucket },
    registryKeyByAliasStatement("RegistryKeyRead", access),
  ];
  if (access.ecrRepository) {
    const repository = ecrRepositoryArn(registry, registryNames(serviceName, registry).ecrRepository);
    statements.push({ Sid: "ReadImages", Effect: "Allow", Action: [...ECR_PULL_ACTIONS, "ecr:DescribeImages", "ecr:ListImages"], Resource: repository });
    // GetAuthorizationToken has no resource type.
    statements.push({ Sid: "EcrLogin", Effect: "Allow", Action: "ecr:GetAuthorizationToken", Resource: "*" });
  }
  return statements;
}

/** Every package group of the service (by its name prefix). */
function allGroups(access: RegistryAccess): string {
  return modelPackageGroupArn(access.registry, `${access.serviceName}-*`);
}

/** Every version of every package group of the service. */
function allPackages(access: RegistryAccess): string {
  return modelPackagesArn(access.registry, `${access.serviceName}-*`);
}

/** The reader: read everything in the registry, change nothing (promotion, `registry list`). */
export function readerPolicy(access: RegistryAccess): PolicyDocument {
  return policy(...registryReadStatements(access));
}

/** The registry key by its alias, for encryption (artifact uploads, image layers). */
function registryKeyWriteStatement(access: RegistryAccess): Statement {
  const read = registryKeyByAliasStatement("RegistryKeyWrite", access);
  return { ...read, Action: ["kms:Encrypt", "kms:GenerateDataKey"], Resource: kmsKeysArn(access.registry) };
}

/** The SageMaker resources the retraining loop creates, by type. */
const RETRAINING_RESOURCE_TYPES = ["hyper-parameter-tuning-job", "training-job", "model", "transform-job"] as const;
type RetrainingResourceType = (typeof RETRAINING_RESOURCE_TYPES)[number];

/**
 * The retraining loop (scripts/retrain.ts), which runs as the publisher: start and follow a
 * model's tuning job, its evaluation model and batch transform, each created with the service's
 * tag (their names are the models', not the service's: a Create needs the tag instead) and
 * tagged with the stack tags only; pass the training role, and only it, only to SageMaker, which
 * runs the jobs as that role; read the database secret when retraining.yaml names one. Datasets,
 * histories, run state and models are objects of the artifact bucket (UploadArtifacts,
 * ReadArtifacts: the bucket keeps them write-once). The statements have the same size for any
 * number of models (an inline policy holds at most 10,240 characters).
 */
function retrainingStatements(access: RegistryAccess, options: PublisherOptions): Statement[] {
  const resources = (...types: RetrainingResourceType[]) => types.map((type) => sagemakerArn(access.registry, `${type}/*`));
  const taggedForService = { StringEquals: { [`aws:RequestTag/${STACK_TAG_KEYS.service}`]: access.serviceName } };
  const statements: Statement[] = [
    {
      Sid: "RetrainStartTuning",
      Effect: "Allow",
      Action: "sagemaker:CreateHyperParameterTuningJob",
      Resource: resources("hyper-parameter-tuning-job"),
      // Training containers without network access, and encrypted traffic between instances.
      Condition: { ...taggedForService, Bool: { "sagemaker:NetworkIsolation": true, "sagemaker:InterContainerTrafficEncryption": true } },
    },
    {
      Sid: "RetrainCreateEvaluationModel",
      Effect: "Allow",
      Action: "sagemaker:CreateModel",
      Resource: resources("model"),
      Condition: { ...taggedForService, Bool: { "sagemaker:NetworkIsolation": true } },
    },
    { Sid: "RetrainStartEvaluation", Effect: "Allow", Action: "sagemaker:CreateTransformJob", Resource: resources("transform-job"), Condition: taggedForService },
    {
      // Read-only, and untagged on purpose: a resumed run describes a job that may not exist yet, which must say so, not be denied.
      Sid: "RetrainFollowJobs",
      Effect: "Allow",
      Action: ["sagemaker:DescribeHyperParameterTuningJob", "sagemaker:DescribeTrainingJob", "sagemaker:DescribeTransformJob"],
      Resource: resources("hyper-parameter-tuning-job", "training-job", "transform-job"),
    },
    {
      // Tags given to a Create call need AddTags; the tuning job's tags reach its training jobs.
      Sid: "RetrainTagOnCreate",
      Effect: "Allow",
      Action: "sagemaker:AddTags",
      Resource: resources(...RETRAINING_RESOURCE_TYPES),
      Condition: { ...taggedForService, "ForAllValues:StringEquals": { "aws:TagKeys": [STACK_TAG_KEYS.service, STACK_TAG_KEYS.stage] } },
    },
    {
      Sid: "PassTrainingRoleToSageMaker",
      Effect: "Allow",
      Action: "iam:PassRole",
      Resource: roleArn(access.registry, registryNames(access.serviceName, access.registry).trainingRole),
      Condition: { StringEquals: { "iam:PassedToService": "sagemaker.amazonaws.com" } },
    },
  ];
  const secret = options.databaseSecretArn ?? access.databaseSecretArn;
  if (secret !== undefined) {
    statements.push({ Sid: "ReadDatabaseSecret", Effect: "Allow", Action: "secretsmanager:GetSecretValue", Resource: secret });
  }
  return statements;
}

/** What the publisher may do besides the registry's own resources. */
export interface PublisherOptions {
  /**
   * The Secrets Manager secret of the retraining database (`database.secretArn` of
   * retraining.yaml), which the loop reads as the publisher.
   * @default - the access's databaseSecretArn (the service definition's retrainingDatabaseSecretArn)
   */
  readonly databaseSecretArn?: string;
}

/**
 * The publisher: everything the reader has, plus uploads of new artifacts (the bucket refuses
 * overwrites and training-output keys), image pushes (tags are immutable), registration of
 * versions only as PendingManualApproval, and the retraining loop's jobs (run as the training
 * role). It cannot approve, delete or change a version.
 */
export function publisherPolicy(access: RegistryAccess, options: PublisherOptions = {}): PolicyDocument {
  const { serviceName, registry } = access;
  const names = registryNames(serviceName, registry);
  const bucket = bucketArn(registry, names.artifactBucket);
  const groups = access.models.map((m) => modelPackageGroupName(serviceName, m));
  const statements: Statement[] = [
    ...registryReadStatements(access),
    { Sid: "UploadArtifacts", Effect: "Allow", Action: "s3:PutObject", Resource: `${bucket}/*` },
    registryKeyWriteStatement(access),
    {
      Sid: "RegisterPendingVersions",
      Effect: "Allow",
      Action: "sagemaker:CreateModelPackage",
      Resource: groups.map((g) => modelPackagesArn(registry, g)),
      Condition: { StringEquals: { "sagemaker:ModelApprovalStatus": "PendingManualApproval" } },
    },
    {
      Sid: "NeverApproveOrDelete",
      Effect: "Deny",
      Action: ["sagemaker:DeleteModelPackage", "sagemaker:UpdateModelPackage"],
      Resource: groups.map((g) => modelPackagesArn(registry, g)),
    },
    { Sid: "NoTrainingOutputWrites", Effect: "Deny", Action: "s3:PutObject", Resource: `${bucket}/${TRAINING_OUTPUT_PREFIX}*` },
    ...retrainingStatements(access, options),
  ];
  if (access.ecrRepository) {
    const repository = ecrRepositoryArn(registry, names.ecrRepository);
    statements.push({ Sid: "PushImages", Effect: "Allow", Action: ECR_PUSH_ACTIONS.filter((a) => a !== "ecr:BatchDeleteImage"), Resource: repository });
  }
  return policy(...statements);
}

/** The approver: read everything, and set a version's status to Approved or Rejected; nothing else. */
export function approverPolicy(access: RegistryAccess): PolicyDocument {
  const { serviceName, registry } = access;
  const names = registryNames(serviceName, registry);
  const packages = allPackages(access);
  return policy(
    ...registryReadStatements(access),
    {
      Sid: "ApproveOrReject",
      Effect: "Allow",
      Action: "sagemaker:UpdateModelPackage",
      Resource: packages,
      Condition: { StringEquals: { "sagemaker:ModelApprovalStatus": ["Approved", "Rejected"] } },
    },
    {
      Sid: "ChangeNothingElse",
      Effect: "Deny",
      Action: ["s3:DeleteObject", "s3:PutObject", "sagemaker:CreateModelPackage", "sagemaker:DeleteModelPackage", ...ECR_PUSH_ACTIONS],
      Resource: [`${bucketArn(registry, names.artifactBucket)}/*`, packages, ecrRepositoryArn(registry, names.ecrRepository)],
    },
  );
}
