import * as pulumi from "@pulumi/pulumi";
import {
  type Consumer,
  ecrRepositoryPolicy,
  modelPackageGroupPolicy,
  type RegistryAccess,
  registryBucketStatements,
  registryKeyPolicy,
  sagemakerTrustPolicy,
  tlsOnlyStatement,
  trainingRolePolicy,
} from "../../components/policies";
import type * as component from "../../components/registry-account";
import { approverPolicy, publisherPolicy, readerPolicy, registryRoleTrustPolicy, type RolePrincipal } from "../../components/registry-roles";
import { FIXTURE } from "../fixtures/service";
import { canAssume } from "../support/iam-eval";
import { ofType, onlyOfType, RecordedResource, valueOf, resourceErrorOf } from "../support/mocks";
import { mockArn, policyInput, recordAccountResources, recordDuring } from "../support/resources";

const NAME = "churn-predictor-registry";
const SERVICE = FIXTURE.serviceName;
const REGION = FIXTURE.region;
const SANDBOX: Consumer = { stage: "sandbox", account: { accountId: FIXTURE.accounts.sandbox, region: REGION } };
const QA: Consumer = { stage: "qa", account: { accountId: FIXTURE.accounts.qa, region: REGION } };
const PROD: Consumer = { stage: "prod", account: { accountId: FIXTURE.accounts.prod, region: REGION } };
const CONSUMERS = [SANDBOX, QA, PROD];
const MODELS = ["churn-scorer", "risk-ranker"];
const ARTIFACT_BUCKET = "churn-predictor-artifacts-404040404041-ap-southeast-4";
const TAGS = { team: "ml-platform" };
const ROLE = {
  training: "churn-predictor-sagemaker-training",
  publisher: "churn-predictor-registry-publisher",
  approver: "churn-predictor-registry-approver",
  reader: "churn-predictor-registry-reader",
};
/** The registry stack's workload boundary, as the stack passes it. */
const BOUNDARY = "arn:aws:iam::404040404041:policy/churn-predictor-registry-workload-boundary";
const PUBLISHERS: RolePrincipal[] = [{ type: "github", repository: FIXTURE.repository, environment: "registry-publish" }];
const APPROVERS: RolePrincipal[] = [
  { type: "github", repository: FIXTURE.repository, environment: "registry-approve" },
  { type: "role", roleArn: "arn:aws:iam::404040404043:role/aws-reserved/sso.amazonaws.com/*/AWSReservedSSO_ModelApprover_*" },
];
/** Promotion's workflow: it reads the registry and neither publishes nor approves. */
const READERS: RolePrincipal[] = [{ type: "github", repository: FIXTURE.repository, environment: "promote" }];
const PROVIDER = "arn:aws:iam::404040404041:oidc-provider/token.actions.githubusercontent.com";
/** The registry key's ARN as the mocks give it (EncryptionKey `${NAME}-key` names its KMS key `${NAME}-key-key`). */
const KEY_ARN = mockArn(`${NAME}-key-key`);
const T = {
  component: "mlplatform:registry:RegistryAccount",
  encryptionKey: "mlplatform:kms:EncryptionKey",
  secureBucket: "mlplatform:storage:SecureBucket",
  key: "aws:kms/key:Key",
  alias: "aws:kms/alias:Alias",
  bucket: "aws:s3/bucket:Bucket",
  encryption: "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
  lifecycle: "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
  bucketPolicy: "aws:s3/bucketPolicy:BucketPolicy",
  group: "aws:sagemaker/modelPackageGroup:ModelPackageGroup",
  groupPolicy: "aws:sagemaker/modelPackageGroupPolicy:ModelPackageGroupPolicy",
  repository: "aws:ecr/repository:Repository",
  repositoryPolicy: "aws:ecr/repositoryPolicy:RepositoryPolicy",
  role: "aws:iam/role:Role",
  rolePolicy: "aws:iam/rolePolicy:RolePolicy",
};

const baseArgs: component.RegistryAccountArgs = {
  serviceName: SERVICE,
  account: SANDBOX.account,
  consumers: CONSUMERS,
  models: MODELS,
  publishers: PUBLISHERS,
  approvers: APPROVERS,
  readers: READERS,
  tags: TAGS,
};

function access(ecrRepository: boolean): RegistryAccess {
  return { serviceName: SERVICE, registry: SANDBOX.account, models: MODELS, ecrRepository };
}

/** Whether a GitHub job of this environment of the fixture repository may assume a role of this trust. */
function environmentAssumes(trust: Parameters<typeof canAssume>[0]["trust"], environment: string): boolean {
  return canAssume({
    trust,
    action: "sts:AssumeRoleWithWebIdentity",
    principal: { federated: PROVIDER },
    context: {
      "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
      "token.actions.githubusercontent.com:sub": `repo:${FIXTURE.repository}:environment:${environment}`,
    },
  });
}

let resources: RecordedResource[];
let mod: typeof component;

beforeAll(async () => {
  resources = await recordAccountResources();
  mod = await import("../../components/registry-account");
});

/** Builds the registry and returns what it registered. */
async function build(overrides: Partial<component.RegistryAccountArgs> = {}) {
  const { result: registry, recorded } = await recordDuring(resources, () => new mod.RegistryAccount(NAME, { ...baseArgs, ...overrides }));
  const role = (roleName: string) => {
    const found = ofType(recorded, T.role).filter((r) => r.inputs.name === roleName);
    if (found.length !== 1) throw new Error(`expected one role ${roleName}, found ${found.length}`);
    return found[0];
  };
  const rolePolicy = (roleName: string) => {
    const found = ofType(recorded, T.rolePolicy).filter((r) => r.inputs.role === roleName);
    if (found.length !== 1) throw new Error(`expected one policy on ${roleName}, found ${found.length}`);
    return policyInput(found[0]);
  };
  return { registry, recorded, only: (type: string) => onlyOfType(recorded, type), role, rolePolicy };
}

/** The message of the error the constructor throws. */
function rejection(overrides: Partial<component.RegistryAccountArgs>): string {
  return resourceErrorOf(() => new mod.RegistryAccount("rejected-registry", { ...baseArgs, ...overrides }));
}

describe("RegistryAccount key and bucket", () => {
  test("GIVEN a registry WHEN built THEN the component registers under its type token with one key and one bucket component", async () => {
    const { recorded } = await build();
    expect(ofType(recorded, T.component).map((r) => r.name)).toEqual([NAME]);
    expect(ofType(recorded, T.encryptionKey).map((r) => r.name)).toEqual([`${NAME}-key`]);
    expect(ofType(recorded, T.secureBucket).map((r) => r.name)).toEqual([`${NAME}-artifacts`]);
  });

  test("GIVEN a registry WHEN built THEN its key rotates, has the registry alias and the registry key policy", async () => {
    const { only } = await build();
    expect(only(T.key).inputs.enableKeyRotation).toBe(true);
    expect(only(T.alias).inputs.name).toBe("alias/churn-predictor-registry");
    expect(policyInput(only(T.key))).toEqual(registryKeyPolicy(SERVICE, SANDBOX.account, CONSUMERS));
  });

  test("GIVEN a registry WHEN built THEN its key policy keeps administration with the registry's deployer", async () => {
    const { only } = await build();
    const deny = policyInput(only(T.key)).Statement.find((s: { Sid: string }) => s.Sid === "AdministeredByRegistryDeployerOnly");
    expect(deny).toMatchObject({ Effect: "Deny", Condition: { ArnNotEquals: { "aws:PrincipalArn": ["arn:aws:iam::404040404041:role/churn-predictor-registry-deployer"] } } });
  });

  test("GIVEN a registry WHEN built THEN the artifact bucket has the derived name and is encrypted with the registry key", async () => {
    const { only } = await build();
    expect(only(T.bucket).inputs.bucket).toBe(ARTIFACT_BUCKET);
    expect(only(T.encryption).inputs.rules[0].applyServerSideEncryptionByDefault).toEqual({ sseAlgorithm: "aws:kms", kmsMasterKeyId: KEY_ARN });
  });

  test("GIVEN consumers WHEN built THEN the bucket policy is the TLS deny, artifact read for the consumer execution roles, and the supply-chain guards", async () => {
    const { only } = await build();
    const statements = policyInput(only(T.bucketPolicy)).Statement;
    expect(statements).toEqual([
      tlsOnlyStatement(ARTIFACT_BUCKET, SANDBOX.account),
      ...registryBucketStatements(SERVICE, SANDBOX.account, CONSUMERS),
    ]);
    expect(statements.map((s: { Sid: string }) => s.Sid)).toEqual(expect.arrayContaining([
      "WriteOnce", "NoDeletes", "TrainingOutputByTrainingRoleOnly", "ArtifactWritersOnly", "BucketSettingsByRegistryDeployerOnly",
    ]));
  });

  test("GIVEN an expiry of 30 days WHEN built THEN the artifact bucket expires non-current versions after 30 days", async () => {
    const { only } = await build({ noncurrentVersionExpirationDays: 30 });
    expect(only(T.lifecycle).inputs.rules[0].noncurrentVersionExpiration).toEqual({ noncurrentDays: 30 });
  });

  test("GIVEN a registry WHEN built THEN it exposes the artifact bucket name and key ARN", async () => {
    const { registry } = await build();
    expect(await valueOf(pulumi.all([registry.artifactBucketName, registry.kmsKeyArn]))).toEqual([ARTIFACT_BUCKET, KEY_ARN]);
  });
});

describe("RegistryAccount model package groups", () => {
  test("GIVEN two models WHEN built THEN one group each, named service-model, under per-model logical names", async () => {
    const { recorded } = await build();
    expect(ofType(recorded, T.group).map((r) => [r.name, r.inputs.modelPackageGroupName])).toEqual([
      [`${NAME}-churn-scorer-group`, "churn-predictor-churn-scorer"],
      [`${NAME}-risk-ranker-group`, "churn-predictor-risk-ranker"],
    ]);
  });

  test("GIVEN two models WHEN built THEN each group has its own resource policy for the consumer accounts", async () => {
    const { recorded } = await build();
    const policies = ofType(recorded, T.groupPolicy);
    expect(policies.map((r) => [r.name, r.inputs.modelPackageGroupName])).toEqual([
      [`${NAME}-churn-scorer-group-policy`, "churn-predictor-churn-scorer"],
      [`${NAME}-risk-ranker-group-policy`, "churn-predictor-risk-ranker"],
    ]);
    expect(policies.map((r) => policyInput(r, "resourcePolicy"))).toEqual(
      MODELS.map((m) => modelPackageGroupPolicy(SERVICE, m, SANDBOX.account, CONSUMERS)));
  });

  test("GIVEN two models WHEN built THEN it exposes both group names in model order", async () => {
    const { registry } = await build();
    expect(await valueOf(pulumi.all(registry.modelPackageGroupNames))).toEqual(["churn-predictor-churn-scorer", "churn-predictor-risk-ranker"]);
  });
});

describe("RegistryAccount ECR repository", () => {
  test("GIVEN no ecrRepository WHEN built THEN no repository or repository policy exists and no URL is exposed", async () => {
    const { registry, recorded } = await build();
    expect(ofType(recorded, T.repository)).toEqual([]);
    expect(ofType(recorded, T.repositoryPolicy)).toEqual([]);
    expect(registry.ecrRepositoryUrl).toBeUndefined();
  });

  test("GIVEN ecrRepository WHEN built THEN one repository with the derived name, immutable tags and scan on push", async () => {
    const { only } = await build({ ecrRepository: true });
    const repository = only(T.repository).inputs;
    expect(repository.name).toBe("churn-predictor-inference");
    expect(repository.imageTagMutability).toBe("IMMUTABLE");
    expect(repository.imageScanningConfiguration).toEqual({ scanOnPush: true });
  });

  test("GIVEN ecrRepository WHEN built THEN images are encrypted with the registry key", async () => {
    const { only } = await build({ ecrRepository: true });
    expect(only(T.repository).inputs.encryptionConfigurations).toEqual([{ encryptionType: "KMS", kmsKey: KEY_ARN }]);
  });

  test("GIVEN ecrRepository WHEN built THEN the repository policy lets the consumers pull and keeps pushes and settings with the registry's roles", async () => {
    const { only } = await build({ ecrRepository: true });
    expect(only(T.repositoryPolicy).inputs.repository).toBe("churn-predictor-inference");
    const document = policyInput(only(T.repositoryPolicy));
    expect(document).toEqual(ecrRepositoryPolicy(SERVICE, SANDBOX.account, CONSUMERS));
    expect(document.Statement.map((s: { Sid: string }) => s.Sid)).toEqual(["ConsumersPull", "PushByPublisherOnly", "SettingsByRegistryDeployerOnly"]);
  });

  test("GIVEN ecrRepository WHEN built THEN it exposes the repository URL", async () => {
    const { registry } = await build({ ecrRepository: true });
    expect(registry.ecrRepositoryUrl).toBeDefined();
    expect(await valueOf(registry.ecrRepositoryUrl as pulumi.Output<string>)).toBe("mock.dkr.ecr.amazonaws.com/churn-predictor-inference");
  });
});

describe("RegistryAccount training role", () => {
  test("GIVEN a registry WHEN built THEN the training role has the derived name and SageMaker may assume it only for the registry account", async () => {
    const { role } = await build();
    expect(policyInput(role(ROLE.training), "assumeRolePolicy")).toEqual(sagemakerTrustPolicy(SANDBOX.account));
  });

  test("GIVEN a registry WHEN built THEN the training policy is attached to the training role and names the registry key by ARN", async () => {
    const { rolePolicy } = await build();
    expect(rolePolicy(ROLE.training)).toEqual(trainingRolePolicy(access(false), KEY_ARN));
  });

  test("GIVEN a registry WHEN built THEN the training role writes only training output and registers nothing", async () => {
    const { rolePolicy } = await build();
    const statements: { Action: string | string[]; Resource: string | string[] }[] = rolePolicy(ROLE.training).Statement;
    const actions = statements.flatMap((s) => ([] as string[]).concat(s.Action));
    expect(actions.filter((a) => a.startsWith("sagemaker:"))).toEqual([]);
    expect(statements.filter((s) => ([] as string[]).concat(s.Action).includes("s3:PutObject")).map((s) => s.Resource))
      .toEqual([`arn:aws:s3:::${ARTIFACT_BUCKET}/training/*`]);
  });

  test("GIVEN ecrRepository WHEN built THEN the training policy includes pull from the repository", async () => {
    const { rolePolicy } = await build({ ecrRepository: true });
    expect(rolePolicy(ROLE.training)).toEqual(trainingRolePolicy(access(true), KEY_ARN));
  });

  test("GIVEN a permissions boundary WHEN built THEN the training role carries it", async () => {
    const { role } = await build({ permissionsBoundaryArn: BOUNDARY });
    expect(role(ROLE.training).inputs.permissionsBoundary).toBe(BOUNDARY);
  });

  test("GIVEN a registry WHEN built THEN it exposes the training role ARN", async () => {
    const { registry, role } = await build();
    expect(await valueOf(registry.trainingRoleArn)).toBe(mockArn(role(ROLE.training).name));
  });
});

describe("RegistryAccount publisher, approver and reader roles", () => {
  test("GIVEN a registry WHEN built THEN it has exactly four roles: training, publisher, approver and reader", async () => {
    const { recorded } = await build();
    expect(ofType(recorded, T.role).map((r) => [r.name, r.inputs.name])).toEqual([
      [`${NAME}-training-role`, ROLE.training],
      [`${NAME}-publisher-role`, ROLE.publisher],
      [`${NAME}-approver-role`, ROLE.approver],
      [`${NAME}-reader-role`, ROLE.reader],
    ]);
  });

  test("GIVEN publishers WHEN built THEN exactly they may assume the publisher role", async () => {
    const { role } = await build();
    expect(policyInput(role(ROLE.publisher), "assumeRolePolicy")).toEqual(registryRoleTrustPolicy(SANDBOX.account, PUBLISHERS));
  });

  test("GIVEN approvers WHEN built THEN exactly they may assume the approver role, and not the publishers", async () => {
    const { role } = await build();
    const trust = policyInput(role(ROLE.approver), "assumeRolePolicy");
    expect(trust).toEqual(registryRoleTrustPolicy(SANDBOX.account, APPROVERS));
    expect(JSON.stringify(trust)).not.toContain("environment:registry-publish");
  });

  test("GIVEN readers, publishers and approvers WHEN built THEN all of them, and only they, may assume the reader role", async () => {
    const { role } = await build();
    const trust = policyInput(role(ROLE.reader), "assumeRolePolicy");
    expect(trust).toEqual(registryRoleTrustPolicy(SANDBOX.account, [...READERS, ...PUBLISHERS, ...APPROVERS]));
    expect(["promote", "registry-publish", "registry-approve", "qa"].map((e) => environmentAssumes(trust, e))).toEqual([true, true, true, false]);
  });

  test("GIVEN readers WHEN built THEN they may assume neither the publisher nor the approver role", async () => {
    const { role } = await build();
    expect(environmentAssumes(policyInput(role(ROLE.publisher), "assumeRolePolicy"), "promote")).toBe(false);
    expect(environmentAssumes(policyInput(role(ROLE.approver), "assumeRolePolicy"), "promote")).toBe(false);
  });

  test("GIVEN no readers WHEN built THEN the publishers and approvers may still assume the reader role", async () => {
    const { role } = await build({ readers: [] });
    expect(policyInput(role(ROLE.reader), "assumeRolePolicy")).toEqual(registryRoleTrustPolicy(SANDBOX.account, [...PUBLISHERS, ...APPROVERS]));
  });

  test("GIVEN a registry without ECR WHEN built THEN the publisher's, approver's and reader's policies are theirs", async () => {
    const { rolePolicy } = await build();
    expect(rolePolicy(ROLE.publisher)).toEqual(publisherPolicy(access(false)));
    expect(rolePolicy(ROLE.approver)).toEqual(approverPolicy(access(false)));
    expect(rolePolicy(ROLE.reader)).toEqual(readerPolicy(access(false)));
  });

  test("GIVEN ecrRepository WHEN built THEN the reader's policy reads images too", async () => {
    const { rolePolicy } = await build({ ecrRepository: true });
    expect(rolePolicy(ROLE.reader)).toEqual(readerPolicy(access(true)));
    expect(rolePolicy(ROLE.reader).Statement.map((s: { Sid: string }) => s.Sid)).toContain("ReadImages");
  });

  test("GIVEN ecrRepository WHEN built THEN the publisher's policy pushes images", async () => {
    const { rolePolicy } = await build({ ecrRepository: true });
    expect(rolePolicy(ROLE.publisher)).toEqual(publisherPolicy(access(true)));
    expect(rolePolicy(ROLE.publisher).Statement.map((s: { Sid: string }) => s.Sid)).toContain("PushImages");
  });

  test("GIVEN a permissions boundary WHEN built THEN the publisher carries it and the approver and reader do not (no deployer can change them)", async () => {
    const { role } = await build({ permissionsBoundaryArn: BOUNDARY });
    expect(role(ROLE.publisher).inputs.permissionsBoundary).toBe(BOUNDARY);
    expect(role(ROLE.approver).inputs.permissionsBoundary).toBeUndefined();
    expect(role(ROLE.reader).inputs.permissionsBoundary).toBeUndefined();
  });

  test("GIVEN a registry WHEN built THEN publisher, approver and reader sessions last at most one hour", async () => {
    const { role } = await build();
    expect([ROLE.publisher, ROLE.approver, ROLE.reader].map((r) => role(r).inputs.maxSessionDuration)).toEqual([3600, 3600, 3600]);
  });

  test("GIVEN a registry WHEN built THEN it exposes the publisher, approver and reader role ARNs", async () => {
    const { registry, role } = await build();
    expect(await valueOf(pulumi.all([registry.publisherRoleArn, registry.approverRoleArn, registry.readerRoleArn])))
      .toEqual([ROLE.publisher, ROLE.approver, ROLE.reader].map((r) => mockArn(role(r).name)));
  });
});

describe("RegistryAccount tags", () => {
  test("GIVEN tags WHEN built with ECR THEN the key, bucket, groups, repository and roles carry them", async () => {
    const { recorded } = await build({ ecrRepository: true });
    const tagged = recorded.filter((r) => [T.key, T.bucket, T.group, T.repository, T.role].includes(r.type));
    expect(tagged).toHaveLength(9);
    for (const resource of tagged) {
      expect({ name: resource.name, tags: resource.inputs.tags }).toEqual({ name: resource.name, tags: TAGS });
    }
  });

  test("GIVEN no tags WHEN built THEN tagged resources get an empty tag map", async () => {
    const { recorded } = await build({ tags: undefined });
    const tagged = recorded.filter((r) => [T.key, T.bucket, T.group, T.role].includes(r.type));
    expect(tagged.map((r) => r.inputs.tags)).toEqual(tagged.map(() => ({})));
  });
});

describe("RegistryAccount checks", () => {
  test("GIVEN no models WHEN built THEN it throws naming models", () => {
    expect(rejection({ models: [] })).toBe("rejected-registry: models must list at least one model");
  });

  test("GIVEN no consumers WHEN built THEN it throws naming consumers", () => {
    expect(rejection({ consumers: [] })).toBe("rejected-registry: consumers must list at least one stage");
  });

  test("GIVEN consumers in another region WHEN built THEN it throws naming the registry region and those stages", () => {
    const elsewhere = (c: Consumer): Consumer => ({ ...c, account: { ...c.account, region: "us-east-1" } });
    expect(rejection({ consumers: [SANDBOX, elsewhere(QA), elsewhere(PROD)] }))
      .toBe("rejected-registry: consumers must be in the registry's region ap-southeast-4: qa, prod");
  });

  test("GIVEN no publishers WHEN built THEN it throws naming publishers", () => {
    expect(rejection({ publishers: [] })).toBe("rejected-registry: publishers must list at least one principal");
  });

  test("GIVEN no approvers WHEN built THEN it throws naming approvers", () => {
    expect(rejection({ approvers: [] })).toBe("rejected-registry: approvers must list at least one principal");
  });

  test("GIVEN no models and no consumers WHEN built THEN one error names both fields", () => {
    expect(rejection({ models: [], consumers: [] }))
      .toBe("rejected-registry: models must list at least one model; consumers must list at least one stage");
  });

  test("GIVEN no models, consumers, publishers or approvers WHEN built THEN one error names all four", () => {
    expect(rejection({ models: [], consumers: [], publishers: [], approvers: [] })).toBe("rejected-registry: models must list at least one model; "
      + "consumers must list at least one stage; publishers must list at least one principal; approvers must list at least one principal");
  });

  test("GIVEN no approvers WHEN built THEN no child resource is registered", async () => {
    const { recorded } = await recordDuring(resources, () => rejection({ approvers: [] }));
    expect(recorded.map((r) => r.type)).toEqual([T.component]);
  });

  test("GIVEN no models WHEN built THEN no child resource is registered", async () => {
    const { recorded } = await recordDuring(resources, () => rejection({ models: [] }));
    expect(recorded.map((r) => r.type)).toEqual([T.component]);
  });
});

describe("RegistryAccount principal checks", () => {
  const REPO = FIXTURE.repository;
  const BOTH = `${REPO}: an environment and a branch together need a workflow (the default subject carries one or the other)`;
  const NEITHER = `${REPO}: name an environment or a branch (a workflow alone would admit any ref, pull requests included)`;

  test.each<[string, Partial<component.RegistryAccountArgs>, string]>([
    ["a publisher whose role ARN is not a role", { publishers: [{ type: "role", roleArn: "arn:aws:iam::404040404043:user/alice" }] },
      'publishers[0].roleArn must be an IAM role ARN, got "arn:aws:iam::404040404043:user/alice"'],
    ["a publisher whose role pattern has no account", { publishers: [...PUBLISHERS, { type: "role", roleArn: "arn:aws:iam::*:role/ml-*" }] },
      'publishers[1].roleArn must be an IAM role ARN, got "arn:aws:iam::*:role/ml-*"'],
    ["an approver with an environment and a branch but no workflow", { approvers: [APPROVERS[0], { type: "github", repository: REPO, environment: "registry-approve", branch: "main" }] },
      `approvers[1]: ${BOTH}`],
    ["a reader with neither environment nor branch", { readers: [{ type: "github", repository: REPO }] }, `readers[0]: ${NEITHER}`],
    ["a reader with a workflow alone", { readers: [{ type: "github", repository: REPO, workflow: "promote.yml" }] }, `readers[0]: ${NEITHER}`],
  ])("GIVEN %s WHEN built THEN it throws one ResourceError naming the field and its index", (_, overrides, problem) => {
    expect(rejection(overrides)).toBe(`rejected-registry: ${problem}`);
  });

  test("GIVEN bad publishers, approvers and readers at once WHEN built THEN one error names each, in that order", () => {
    expect(rejection({
      publishers: [{ type: "role", roleArn: "ml-pipeline" }],
      approvers: [{ type: "github", repository: REPO }],
      readers: [READERS[0], { type: "github", repository: REPO, environment: "promote", branch: "main" }],
    })).toBe(`rejected-registry: publishers[0].roleArn must be an IAM role ARN, got "ml-pipeline"; approvers[0]: ${NEITHER}; readers[1]: ${BOTH}`);
  });

  test("GIVEN a bad reader and no models WHEN built THEN one error names both", () => {
    expect(rejection({ models: [], readers: [{ type: "github", repository: REPO }] }))
      .toBe(`rejected-registry: models must list at least one model; readers[0]: ${NEITHER}`);
  });

  test.each<[string, Partial<component.RegistryAccountArgs>]>([
    ["a bad role ARN", { publishers: [{ type: "role", roleArn: "not-an-arn" }] }],
    ["a GitHub principal githubSubject refuses", { readers: [{ type: "github", repository: REPO, workflow: "promote.yml" }] }],
  ])("GIVEN %s WHEN built THEN no child resource is registered", async (_, overrides) => {
    const { recorded } = await recordDuring(resources, () => rejection(overrides));
    expect(recorded.map((r) => r.type)).toEqual([T.component]);
  });

  test("GIVEN GitHub principals with a workflow and both an environment and a branch, and exact and pattern roles WHEN built THEN it is accepted", async () => {
    const { role } = await build({
      publishers: [{ type: "github", repository: REPO, environment: "registry-publish", branch: "main", workflow: "publish.yml" }],
      readers: [{ type: "role", roleArn: "arn:aws:iam::404040404043:role/ml-release" }, { type: "github", repository: REPO, branch: "main" }],
    });
    expect(role(ROLE.reader).inputs.name).toBe(ROLE.reader);
  });
});
