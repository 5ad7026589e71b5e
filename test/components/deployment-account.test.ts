import * as pulumi from "@pulumi/pulumi";
import {
  type CiPrincipal,
  ciTrustPolicy,
  deployerPolicy,
  type DeployerScope,
  previewerPolicy,
} from "../../components/ci-policies";
import type * as component from "../../components/deployment-account";
import {
  type Consumer,
  executionRolePolicy,
  type RegistryAccess,
  sagemakerTrustPolicy,
  stageKeyPolicy,
  tlsOnlyStatement,
} from "../../components/policies";
import { FIXTURE } from "../fixtures/service";
import { ofType, onlyOfType, RecordedResource, valueOf, resourceErrorOf } from "../support/mocks";
import { mockArn, policyInput, recordAccountResources, recordDuring } from "../support/resources";

const NAME = "churn-predictor-qa";
const SERVICE = FIXTURE.serviceName;
const REGION = FIXTURE.region;
const QA: Consumer = { stage: "qa", account: { accountId: FIXTURE.accounts.qa, region: REGION } };
const SANDBOX: Consumer = { stage: "sandbox", account: { accountId: FIXTURE.accounts.sandbox, region: REGION } };
const REGISTRY: RegistryAccess = { serviceName: SERVICE, registry: SANDBOX.account, models: ["churn-scorer"], ecrRepository: true };
const GITHUB: CiPrincipal = { type: "github-oidc", repository: FIXTURE.repository };
const CI_ROLE = "arn:aws:iam::999999999999:role/ci-runner";
const QA_BUCKET = "churn-predictor-qa-404040404042-ap-southeast-4";
const TAGS = { team: "ml-platform" };
/** The stage key's ARN as the mocks give it (EncryptionKey `${NAME}-key` names its KMS key `${NAME}-key-key`). */
const KEY_ARN = mockArn(`${NAME}-key-key`);
const ROLE = {
  execution: "churn-predictor-qa-sagemaker-execution",
  deployer: "churn-predictor-qa-deployer",
  previewer: "churn-predictor-qa-previewer",
};
const T = {
  component: "mlplatform:account:DeploymentAccount",
  encryptionKey: "mlplatform:kms:EncryptionKey",
  secureBucket: "mlplatform:storage:SecureBucket",
  key: "aws:kms/key:Key",
  alias: "aws:kms/alias:Alias",
  bucket: "aws:s3/bucket:Bucket",
  encryption: "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
  lifecycle: "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
  bucketPolicy: "aws:s3/bucketPolicy:BucketPolicy",
  role: "aws:iam/role:Role",
  rolePolicy: "aws:iam/rolePolicy:RolePolicy",
  oidc: "aws:iam/openIdConnectProvider:OpenIdConnectProvider",
};

const baseArgs: component.DeploymentAccountArgs = {
  stage: QA, registry: REGISTRY, hostsRegistry: false, ciPrincipal: GITHUB, tags: TAGS,
};

function deployerScope(hostsRegistry: boolean): DeployerScope {
  return { stage: QA, access: REGISTRY, hostsRegistry };
}

let resources: RecordedResource[];
let mod: typeof component;

beforeAll(async () => {
  resources = await recordAccountResources();
  mod = await import("../../components/deployment-account");
});

/** Builds the stage's account and returns what it registered. */
async function build(overrides: Partial<component.DeploymentAccountArgs> = {}) {
  const { result: account, recorded } = await recordDuring(resources, () => new mod.DeploymentAccount(NAME, { ...baseArgs, ...overrides }));
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
  return { account, recorded, only: (type: string) => onlyOfType(recorded, type), role, rolePolicy };
}

/** The message of the error the constructor throws. */
function rejection(overrides: Partial<component.DeploymentAccountArgs>): string {
  return resourceErrorOf(() => new mod.DeploymentAccount("rejected-account", { ...baseArgs, ...overrides }));
}

describe("DeploymentAccount key and bucket", () => {
  test("GIVEN a stage WHEN built THEN the component registers under its type token with one key, one bucket and three roles", async () => {
    const { recorded } = await build();
    expect(ofType(recorded, T.component).map((r) => r.name)).toEqual([NAME]);
    expect(ofType(recorded, T.encryptionKey).map((r) => r.name)).toEqual([`${NAME}-key`]);
    expect(ofType(recorded, T.secureBucket).map((r) => r.name)).toEqual([`${NAME}-bucket`]);
    expect(ofType(recorded, T.role).map((r) => r.name).sort()).toEqual([`${NAME}-deployer-role`, `${NAME}-execution-role`, `${NAME}-previewer-role`]);
  });

  test("GIVEN a stage WHEN built THEN its key rotates, has the stage alias and a policy for its own account only", async () => {
    const { only } = await build();
    expect(only(T.key).inputs.enableKeyRotation).toBe(true);
    expect(only(T.alias).inputs.name).toBe("alias/churn-predictor-qa");
    expect(policyInput(only(T.key))).toEqual(stageKeyPolicy(QA.account));
  });

  test("GIVEN a stage WHEN built THEN its bucket has the derived name, the stage key and a TLS-only policy", async () => {
    const { only } = await build();
    expect(only(T.bucket).inputs.bucket).toBe(QA_BUCKET);
    expect(only(T.encryption).inputs.rules[0].applyServerSideEncryptionByDefault).toEqual({ sseAlgorithm: "aws:kms", kmsMasterKeyId: KEY_ARN });
    expect(policyInput(only(T.bucketPolicy)).Statement).toEqual([tlsOnlyStatement(QA_BUCKET, QA.account)]);
  });

  test("GIVEN an expiry of 14 days WHEN built THEN the stage bucket expires non-current versions after 14 days", async () => {
    const { only } = await build({ noncurrentVersionExpirationDays: 14 });
    expect(only(T.lifecycle).inputs.rules[0].noncurrentVersionExpiration).toEqual({ noncurrentDays: 14 });
  });
});

describe("DeploymentAccount execution role", () => {
  test("GIVEN a stage WHEN built THEN the execution role has the derived name and SageMaker may assume it only for the stage account", async () => {
    const { role } = await build();
    expect(policyInput(role(ROLE.execution), "assumeRolePolicy")).toEqual(sagemakerTrustPolicy(QA.account));
  });

  test("GIVEN a stage WHEN built THEN the execution policy is the stage's, naming the stage key by its ARN", async () => {
    const { rolePolicy } = await build();
    expect(rolePolicy(ROLE.execution)).toEqual(executionRolePolicy(QA, KEY_ARN, REGISTRY));
  });
});

describe("DeploymentAccount CI roles", () => {
  test("GIVEN GitHub OIDC WHEN built THEN the deployer trusts the GitHub environment named after the stage", async () => {
    const { role } = await build();
    expect(policyInput(role(ROLE.deployer), "assumeRolePolicy")).toEqual(ciTrustPolicy(GITHUB, QA.account, { environment: "qa" }));
  });

  test("GIVEN GitHub OIDC WHEN built THEN the previewer trusts pull requests of the repository", async () => {
    const { role } = await build();
    expect(policyInput(role(ROLE.previewer), "assumeRolePolicy")).toEqual(ciTrustPolicy(GITHUB, QA.account, "pull_request"));
  });

  test("GIVEN an IAM role principal WHEN built THEN the deployer and previewer both trust exactly that role", async () => {
    const { role } = await build({ ciPrincipal: { type: "iam-role", roleArn: CI_ROLE } });
    const expected = [{ Effect: "Allow", Principal: { AWS: CI_ROLE }, Action: "sts:AssumeRole" }];
    expect(policyInput(role(ROLE.deployer), "assumeRolePolicy").Statement).toEqual(expected);
    expect(policyInput(role(ROLE.previewer), "assumeRolePolicy").Statement).toEqual(expected);
  });

  test("GIVEN a stage WHEN built THEN CI sessions last at most one hour", async () => {
    const { role } = await build();
    expect([role(ROLE.deployer).inputs.maxSessionDuration, role(ROLE.previewer).inputs.maxSessionDuration]).toEqual([3600, 3600]);
  });

  test("GIVEN a consumer stage WHEN built THEN the deployer policy manages no registry resources", async () => {
    const { rolePolicy } = await build();
    expect(rolePolicy(ROLE.deployer)).toEqual(deployerPolicy(deployerScope(false)));
    expect(JSON.stringify(rolePolicy(ROLE.deployer))).not.toContain("ModelPackageGroupPolicy");
  });

  test("GIVEN a stage that hosts the registry WHEN built THEN the deployer policy also manages the registry", async () => {
    const { rolePolicy } = await build({ hostsRegistry: true });
    expect(rolePolicy(ROLE.deployer)).toEqual(deployerPolicy(deployerScope(true)));
    expect(rolePolicy(ROLE.deployer).Statement.map((s: { Sid: string }) => s.Sid)).toContain("RegistryGroups");
  });

  test("GIVEN a stage WHEN built THEN the previewer policy is the read-only part of the deployer's", async () => {
    const { rolePolicy } = await build({ hostsRegistry: true });
    expect(rolePolicy(ROLE.previewer)).toEqual(previewerPolicy(deployerScope(true)));
  });

  test("GIVEN a stage WHEN built THEN it exposes the three role ARNs", async () => {
    const { account, role } = await build();
    expect(await valueOf(pulumi.all([account.executionRoleArn, account.deployerRoleArn, account.previewerRoleArn])))
      .toEqual([ROLE.execution, ROLE.deployer, ROLE.previewer].map((r) => mockArn(role(r).name)));
  });

  test("GIVEN a stage WHEN built THEN it exposes the bucket name and key ARN", async () => {
    const { account } = await build();
    expect(await valueOf(pulumi.all([account.bucketName, account.kmsKeyArn]))).toEqual([QA_BUCKET, KEY_ARN]);
  });
});

describe("DeploymentAccount OIDC provider", () => {
  test("GIVEN no createOidcProvider WHEN built THEN no OIDC provider is created", async () => {
    const { recorded } = await build();
    expect(ofType(recorded, T.oidc)).toEqual([]);
  });

  test("GIVEN createOidcProvider with GitHub OIDC WHEN built THEN one provider for the GitHub token host with the STS audience", async () => {
    const { only } = await build({ createOidcProvider: true });
    expect(only(T.oidc).inputs).toMatchObject({
      url: "https://token.actions.githubusercontent.com",
      clientIdLists: ["sts.amazonaws.com"],
      tags: TAGS,
    });
  });

  test("GIVEN createOidcProvider WHEN built THEN the deployer may manage that provider", async () => {
    const { rolePolicy } = await build({ createOidcProvider: true });
    const deployer = rolePolicy("churn-predictor-qa-deployer") as { Statement: { Sid: string }[] };
    expect(deployer.Statement.map((s) => s.Sid)).toContain("GithubOidcProvider");
  });

  test("GIVEN createOidcProvider with an IAM role principal WHEN built THEN it throws naming createOidcProvider and the principal type", () => {
    expect(rejection({ createOidcProvider: true, ciPrincipal: { type: "iam-role", roleArn: CI_ROLE } }))
      .toBe("rejected-account: createOidcProvider needs a github-oidc ciPrincipal, got iam-role");
  });

  test("GIVEN createOidcProvider with an IAM role principal WHEN built THEN no child resource is registered", async () => {
    const { recorded } = await recordDuring(resources, () => rejection({ createOidcProvider: true, ciPrincipal: { type: "iam-role", roleArn: CI_ROLE } }));
    expect(recorded.map((r) => r.type)).toEqual([T.component]);
  });
});

describe("DeploymentAccount tags", () => {
  test("GIVEN tags WHEN built with an OIDC provider THEN the key, bucket, roles and provider carry them", async () => {
    const { recorded } = await build({ createOidcProvider: true });
    const tagged = recorded.filter((r) => [T.key, T.bucket, T.role, T.oidc].includes(r.type));
    expect(tagged).toHaveLength(6);
    for (const resource of tagged) {
      expect({ name: resource.name, tags: resource.inputs.tags }).toEqual({ name: resource.name, tags: TAGS });
    }
  });

  test("GIVEN no tags WHEN built THEN tagged resources get an empty tag map", async () => {
    const { recorded } = await build({ tags: undefined });
    const tagged = recorded.filter((r) => [T.key, T.bucket, T.role].includes(r.type));
    expect(tagged.map((r) => r.inputs.tags)).toEqual(tagged.map(() => ({})));
  });
});
