/**
 * The workload boundary of a stack, as a pure policy document: the most any role its deployer may
 * change the policy of may do (components/ci-policies.ts lets a deployer change only the policies
 * of roles that carry it).
 */
import { STACK_TAG_KEYS } from "./ci-policies";
import {
  bucketArn,
  ecrRepositoryArn,
  kmsKeysArn,
  registryNames,
  roleArn,
  sagemakerArn,
  snsTopicArn,
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

/**
 * The workload boundary: the most any role the deployer may change the policy of may do, written
 * with the service's name prefix so adding a model does not change it (only an administrator may).
 * A stage's (execution role): its own bucket, its own key and the registry's key (each by its
 * alias, not every key of the account), read-only registry artifacts and versions. The registry's
 * (training and publisher roles): artifacts and images, and registration pending approval; never
 * approval, which belongs to the approver role, which carries no boundary and which no deployer
 * can change.
 */
export function workloadBoundaryPolicy(stage: Consumer, access: RegistryAccess, hostsRegistry: boolean): PolicyDocument {
  const { serviceName, registry } = access;
  const account = stage.account;
  const registryBucket = bucketArn(registry, registryNames(serviceName, registry).artifactBucket);
  const registryResources = [sagemakerArn(registry, `model-package-group/${serviceName}-*`), sagemakerArn(registry, `model-package/${serviceName}-*/*`)];
  const statements: Statement[] = [];
  if (hostsRegistry) {
    statements.push(
      { Sid: "Artifacts", Effect: "Allow", Action: ["s3:GetObject", "s3:PutObject"], Resource: `${registryBucket}/*` },
      { Sid: "ArtifactList", Effect: "Allow", Action: "s3:ListBucket", Resource: registryBucket },
      { ...registryKeyByAliasStatement("RegistryKey", access), Action: ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"] },
      {
        Sid: "Registry",
        Effect: "Allow",
        Action: ["sagemaker:DescribeModelPackage", "sagemaker:DescribeModelPackageGroup", "sagemaker:ListModelPackages"],
        Resource: registryResources,
      },
      {
        // Whatever policy the registry's deployer writes on these roles, a version starts pending approval.
        Sid: "RegisterPending",
        Effect: "Allow",
        Action: "sagemaker:CreateModelPackage",
        Resource: registryResources,
        Condition: { StringEquals: { "sagemaker:ModelApprovalStatus": "PendingManualApproval" } },
      },
    );
    const sagemaker = (...types: string[]) => types.map((type) => sagemakerArn(registry, `${type}/*`));
    statements.push(
      {
        // The retraining loop (scripts/retrain.ts, as the publisher) creates its jobs tagged for the service: their names are the models'.
        Sid: "RetrainingJobs",
        Effect: "Allow",
        Action: ["sagemaker:AddTags", "sagemaker:CreateHyperParameterTuningJob", "sagemaker:CreateModel", "sagemaker:CreateTransformJob"],
        Resource: sagemaker("hyper-parameter-tuning-job", "training-job", "model", "transform-job"),
        Condition: { StringEquals: { [`aws:RequestTag/${STACK_TAG_KEYS.service}`]: serviceName } },
      },
      {
        Sid: "RetrainingReads",
        Effect: "Allow",
        Action: ["sagemaker:DescribeHyperParameterTuningJob", "sagemaker:DescribeTrainingJob", "sagemaker:DescribeTransformJob"],
        Resource: sagemaker("hyper-parameter-tuning-job", "training-job", "transform-job"),
      },
      ...(access.databaseSecretArn === undefined ? [] : [{
        // The retraining database's password, which the publisher reads (the service definition names the secret).
        Sid: "ReadDatabaseSecret", Effect: "Allow" as const, Action: "secretsmanager:GetSecretValue", Resource: access.databaseSecretArn,
      }]),
      {
        // The loop's jobs run as the training role.
        Sid: "PassTrainingRole",
        Effect: "Allow",
        Action: "iam:PassRole",
        Resource: roleArn(registry, registryNames(serviceName, registry).trainingRole),
        Condition: { StringEquals: { "iam:PassedToService": "sagemaker.amazonaws.com" } },
      },
    );
    if (access.ecrRepository) {
      const repository = ecrRepositoryArn(registry, registryNames(serviceName, registry).ecrRepository);
      statements.push({ Sid: "Images", Effect: "Allow", Action: ["ecr:CompleteLayerUpload", "ecr:DescribeImages", "ecr:InitiateLayerUpload", "ecr:ListImages", "ecr:PutImage", "ecr:UploadLayerPart"], Resource: repository });
    }
  } else {
    const own = stageNames(serviceName, stage.stage, account);
    const ownBucket = bucketArn(account, own.bucket);
    statements.push(
      { Sid: "OwnObjects", Effect: "Allow", Action: ["s3:GetObject", "s3:PutObject"], Resource: `${ownBucket}/*` },
      { Sid: "RegistryObjects", Effect: "Allow", Action: "s3:GetObject", Resource: `${registryBucket}/*` },
      { Sid: "Buckets", Effect: "Allow", Action: "s3:ListBucket", Resource: [ownBucket, registryBucket] },
      {
        Sid: "OwnKey",
        Effect: "Allow",
        Action: ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"],
        Resource: kmsKeysArn(account),
        Condition: { "ForAnyValue:StringEquals": { "kms:ResourceAliases": own.kmsAlias } },
      },
      registryKeyByAliasStatement("RegistryKey", access),
      { Sid: "Registry", Effect: "Allow", Action: ["sagemaker:DescribeModelPackage", "sagemaker:DescribeModelPackageGroup"], Resource: registryResources },
      { Sid: "AsyncResultTopics", Effect: "Allow", Action: "sns:Publish", Resource: snsTopicArn(account, `${serviceName}-*`) },
    );
  }
  statements.push(
    logWriteStatement("Logs", account, "/aws/sagemaker/*"),
    {
      // PutMetricData has no resource type; the namespace condition narrows it.
      Sid: "Metrics",
      Effect: "Allow",
      Action: "cloudwatch:PutMetricData",
      Resource: "*",
      Condition: { StringLike: { "cloudwatch:namespace": "/aws/sagemaker/*" } },
    },
  );
  if (access.ecrRepository) statements.push(...ecrPullStatements(access));
  return policy(...statements);
}
