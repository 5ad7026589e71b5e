import * as pulumi from "@pulumi/pulumi";
import {
  type Consumer,
  ecrRepositoryPolicy,
  modelPackageGroupPolicy,
  registryBucketStatements,
  registryKeyPolicy,
  sagemakerTrustPolicy,
  tlsOnlyStatement,
  trainingRolePolicy,
} from "../../components/policies";
import type * as component from "../../components/registry-account";
import { FIXTURE } from "../fixtures/service";
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
  serviceName: SERVICE, account: SANDBOX.account, consumers: CONSUMERS, models: MODELS, tags: TAGS,
};

let resources: RecordedResource[];
let mod: typeof component;

beforeAll(async () => {
  resources = await recordAccountResources();
  mod = await import("../../components/registry-account");
});

/** Builds the registry and returns what it registered. */
async function build(overrides: Partial<component.RegistryAccountArgs> = {}) {
  const { result: registry, recorded } = await recordDuring(resources, () => new mod.RegistryAccount(NAME, { ...baseArgs, ...overrides }));
  return { registry, recorded, only: (type: string) => onlyOfType(recorded, type) };
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

  test("GIVEN a registry WHEN built THEN its key rotates, has the registry alias and the consumer-decrypt key policy", async () => {
    const { only } = await build();
    expect(only(T.key).inputs.enableKeyRotation).toBe(true);
    expect(only(T.alias).inputs.name).toBe("alias/churn-predictor-registry");
    expect(policyInput(only(T.key))).toEqual(registryKeyPolicy(SERVICE, SANDBOX.account, CONSUMERS));
  });

  test("GIVEN a registry WHEN built THEN the artifact bucket has the derived name and is encrypted with the registry key", async () => {
    const { only } = await build();
    expect(only(T.bucket).inputs.bucket).toBe(ARTIFACT_BUCKET);
    expect(only(T.encryption).inputs.rules[0].applyServerSideEncryptionByDefault).toEqual({ sseAlgorithm: "aws:kms", kmsMasterKeyId: KEY_ARN });
  });

  test("GIVEN consumers WHEN built THEN the bucket policy is the TLS deny plus artifact read for the consumer execution roles", async () => {
    const { only } = await build();
    expect(policyInput(only(T.bucketPolicy)).Statement).toEqual([
      tlsOnlyStatement(ARTIFACT_BUCKET, SANDBOX.account),
      ...registryBucketStatements(SERVICE, SANDBOX.account, CONSUMERS),
    ]);
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

  test("GIVEN ecrRepository WHEN built THEN the repository policy lets the consumer execution roles pull", async () => {
    const { only } = await build({ ecrRepository: true });
    expect(only(T.repositoryPolicy).inputs.repository).toBe("churn-predictor-inference");
    expect(policyInput(only(T.repositoryPolicy))).toEqual(ecrRepositoryPolicy(SERVICE, CONSUMERS));
  });

  test("GIVEN ecrRepository WHEN built THEN it exposes the repository URL", async () => {
    const { registry } = await build({ ecrRepository: true });
    expect(registry.ecrRepositoryUrl).toBeDefined();
    expect(await valueOf(registry.ecrRepositoryUrl as pulumi.Output<string>)).toBe("mock.dkr.ecr.amazonaws.com/churn-predictor-inference");
  });
});

describe("RegistryAccount training role", () => {
  test("GIVEN a registry WHEN built THEN the training role has the derived name and SageMaker may assume it only for the registry account", async () => {
    const { only } = await build();
    expect(only(T.role).inputs.name).toBe("churn-predictor-sagemaker-training");
    expect(policyInput(only(T.role), "assumeRolePolicy")).toEqual(sagemakerTrustPolicy(SANDBOX.account));
  });

  test("GIVEN a registry WHEN built THEN the training policy is attached to the training role and names the registry key by ARN", async () => {
    const { only } = await build();
    expect(only(T.rolePolicy).inputs.role).toBe("churn-predictor-sagemaker-training");
    expect(policyInput(only(T.rolePolicy))).toEqual(trainingRolePolicy({
      serviceName: SERVICE, registry: SANDBOX.account, models: MODELS, ecrRepository: false,
    }, KEY_ARN));
  });

  test("GIVEN ecrRepository WHEN built THEN the training policy includes pull from the repository", async () => {
    const { only } = await build({ ecrRepository: true });
    expect(policyInput(only(T.rolePolicy))).toEqual(trainingRolePolicy({
      serviceName: SERVICE, registry: SANDBOX.account, models: MODELS, ecrRepository: true,
    }, KEY_ARN));
  });

  test("GIVEN a registry WHEN built THEN it exposes the training role ARN", async () => {
    const { registry, only } = await build();
    expect(await valueOf(registry.trainingRoleArn)).toBe(mockArn(only(T.role).name));
  });
});

describe("RegistryAccount tags", () => {
  test("GIVEN tags WHEN built with ECR THEN the key, bucket, groups, repository and role carry them", async () => {
    const { recorded } = await build({ ecrRepository: true });
    const tagged = recorded.filter((r) => [T.key, T.bucket, T.group, T.repository, T.role].includes(r.type));
    expect(tagged).toHaveLength(6);
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

  test("GIVEN no models and no consumers WHEN built THEN one error names both fields", () => {
    expect(rejection({ models: [], consumers: [] }))
      .toBe("rejected-registry: models must list at least one model; consumers must list at least one stage");
  });

  test("GIVEN no models WHEN built THEN no child resource is registered", async () => {
    const { recorded } = await recordDuring(resources, () => rejection({ models: [] }));
    expect(recorded.map((r) => r.type)).toEqual([T.component]);
  });
});
