import * as pulumi from "@pulumi/pulumi";
import {
  type CiPrincipal,
  ciTrustPolicy,
  deployerPolicy,
  type DeployerScope,
  previewerPolicy,
  type StateBackendAccess,
} from "../../components/ci-policies";
import type * as component from "../../components/deployment-account";
import { REGISTRY_STACK } from "../../components/names";
import {
  type Consumer,
  executionRolePolicy,
  type RegistryAccess,
  sagemakerTrustPolicy,
  stageKeyPolicy,
  tlsOnlyStatement,
} from "../../components/policies";
import type { RolePrincipal } from "../../components/registry-roles";
import { workloadBoundaryPolicy } from "../../components/workload-boundary";
import { FIXTURE } from "../fixtures/service";
import { ofType, onlyOfType, RecordedResource, valueOf, resourceErrorOf } from "../support/mocks";
import { mockArn, policyInput, recordAccountResources, recordDuring } from "../support/resources";

const NAME = "churn-predictor-qa";
const SERVICE = FIXTURE.serviceName;
const REGION = FIXTURE.region;
const QA: Consumer = { stage: "qa", account: { accountId: FIXTURE.accounts.qa, region: REGION } };
const SANDBOX: Consumer = { stage: "sandbox", account: { accountId: FIXTURE.accounts.sandbox, region: REGION } };
const PROD: Consumer = { stage: "prod", account: { accountId: FIXTURE.accounts.prod, region: REGION } };
/** The registry's own stack, in the sandbox account. */
const REGISTRY_STAGE: Consumer = { stage: REGISTRY_STACK, account: SANDBOX.account };
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
  policy: "aws:iam/policy:Policy",
};
const REGISTRY_ROLE = {
  deployer: "churn-predictor-registry-deployer",
  previewer: "churn-predictor-registry-previewer",
};
/** Principals that read the registry: they assume the registry's reader role, never a previewer. */
const READERS: RolePrincipal[] = [
  { type: "github", repository: FIXTURE.repository, environment: "promote" },
  { type: "role", roleArn: "arn:aws:iam::404040404043:role/aws-reserved/sso.amazonaws.com/*/AWSReservedSSO_ModelApprover_*" },
];
const STATE: StateBackendAccess = {
  bucket: "churn-predictor-pulumi-state", account: PROD.account, project: SERVICE, secretsKeyAlias: "alias/churn-predictor-pulumi",
};

const baseArgs: component.DeploymentAccountArgs = {
  stage: QA, registry: REGISTRY, hostsRegistry: false, ciPrincipal: GITHUB, tags: TAGS,
};

function deployerScope(hostsRegistry: boolean): DeployerScope {
  return hostsRegistry ? { stage: REGISTRY_STAGE, access: REGISTRY, hostsRegistry } : { stage: QA, access: REGISTRY, hostsRegistry };
}

/** The registry's own stack, as stacks/program.ts builds it: it serves nothing. */
const registryArgs: Partial<component.DeploymentAccountArgs> = { stage: REGISTRY_STAGE, hostsRegistry: true };

let resources: RecordedResource[];
let mod: typeof component;

beforeAll(async () => {
  resources = await recordAccountResources();
  mod = await import("../../components/deployment-account");
});

/** Builds the stage's account and returns what it registered. */
async function build(overrides: Partial<component.DeploymentAccountArgs> = {}, name = NAME) {
  const { result: account, recorded } = await recordDuring(resources, () => new mod.DeploymentAccount(name, { ...baseArgs, ...overrides }));
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

  test("GIVEN a stage WHEN built THEN the deployer policy is a stage deployer's: it serves and manages no registry resources", async () => {
    const { rolePolicy } = await build();
    expect(rolePolicy(ROLE.deployer)).toEqual(deployerPolicy(deployerScope(false)));
    const sids = rolePolicy(ROLE.deployer).Statement.map((s: { Sid: string }) => s.Sid);
    expect(sids).toContain("SageMakerServing");
    expect(sids).not.toContain("RegistryGroups");
  });

  test("GIVEN a stage WHEN built THEN its deployer creates no roles or keys and changes no trust", async () => {
    const { rolePolicy } = await build();
    const statements: { Sid: string; Effect: string; Action: string | string[] }[] = rolePolicy(ROLE.deployer).Statement;
    const allowed = statements.filter((s) => s.Effect === "Allow").flatMap((s) => ([] as string[]).concat(s.Action));
    expect(allowed.filter((a) => ["iam:CreateRole", "iam:DeleteRole", "iam:UpdateAssumeRolePolicy", "iam:PutRolePermissionsBoundary", "kms:CreateKey"].includes(a))).toEqual([]);
    expect(statements.find((s) => s.Sid === "NoRolesOrTrustChanges")?.Effect).toBe("Deny");
    expect(statements.find((s) => s.Sid === "NoNewKeys")).toMatchObject({ Effect: "Deny", Action: "kms:CreateKey" });
  });

  test("GIVEN a stage WHEN built THEN its deployer tags exactly its execution role", async () => {
    const { rolePolicy } = await build();
    const statement = rolePolicy(ROLE.deployer).Statement.find((s: { Sid: string }) => s.Sid === "TagWorkloadRoles");
    expect(statement).toMatchObject({ Effect: "Allow", Resource: [`arn:aws:iam::404040404042:role/${ROLE.execution}`] });
  });

  test("GIVEN a stage WHEN built THEN the previewer policy is the read-only part of the deployer's", async () => {
    const { rolePolicy } = await build();
    expect(rolePolicy(ROLE.previewer)).toEqual(previewerPolicy(deployerScope(false)));
  });

  test("GIVEN a stage WHEN built THEN its workload boundary is the stage's and its execution role carries it", async () => {
    const { only, role } = await build();
    expect(only(T.policy).inputs.name).toBe("churn-predictor-qa-workload-boundary");
    expect(policyInput(only(T.policy))).toEqual(workloadBoundaryPolicy(QA, REGISTRY, false));
    expect(role(ROLE.execution).inputs.permissionsBoundary).toBe(mockArn(only(T.policy).name));
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

describe("DeploymentAccount for the registry's stack", () => {
  const REGISTRY_NAME = "churn-predictor-registry";

  test("GIVEN the registry's stack WHEN built THEN it serves nothing: no key, bucket or execution role, only the CI roles", async () => {
    const { recorded, account } = await build(registryArgs, REGISTRY_NAME);
    expect(ofType(recorded, T.key)).toEqual([]);
    expect(ofType(recorded, T.bucket)).toEqual([]);
    expect(ofType(recorded, T.role).map((r) => r.inputs.name).sort()).toEqual([REGISTRY_ROLE.deployer, REGISTRY_ROLE.previewer]);
    expect([account.bucketName, account.kmsKeyArn, account.executionRoleArn]).toEqual([undefined, undefined, undefined]);
  });

  test("GIVEN the registry's stack WHEN built THEN its deployer policy is the registry deployer's: it manages the registry and may not touch the supply chain", async () => {
    const { rolePolicy } = await build(registryArgs, REGISTRY_NAME);
    expect(rolePolicy(REGISTRY_ROLE.deployer)).toEqual(deployerPolicy(deployerScope(true)));
    const sids = rolePolicy(REGISTRY_ROLE.deployer).Statement.map((s: { Sid: string }) => s.Sid);
    expect(sids).toEqual(expect.arrayContaining(["RegistryBucket", "RegistryGroups", "RegistryRepository", "NeverTheSupplyChainItself"]));
    expect(sids).not.toContain("SageMakerServing");
  });

  test("GIVEN the registry's stack WHEN built THEN its previewer policy is the read-only part of the registry deployer's, denies included", async () => {
    const { rolePolicy } = await build(registryArgs, REGISTRY_NAME);
    expect(rolePolicy(REGISTRY_ROLE.previewer)).toEqual(previewerPolicy(deployerScope(true)));
    expect(rolePolicy(REGISTRY_ROLE.previewer).Statement.map((s: { Sid: string }) => s.Sid)).toContain("NeverTheSupplyChainItself");
  });

  test("GIVEN the registry's stack WHEN built THEN its workload boundary is the registry's", async () => {
    const { only } = await build(registryArgs, REGISTRY_NAME);
    expect(only(T.policy).inputs.name).toBe("churn-predictor-registry-workload-boundary");
    expect(policyInput(only(T.policy))).toEqual(workloadBoundaryPolicy(REGISTRY_STAGE, REGISTRY, true));
  });

  test("GIVEN GitHub OIDC WHEN the registry's stack is built THEN its deployer trusts the GitHub environment named after the registry's stack", async () => {
    const { role } = await build(registryArgs, REGISTRY_NAME);
    expect(policyInput(role(REGISTRY_ROLE.deployer), "assumeRolePolicy")).toEqual(ciTrustPolicy(GITHUB, SANDBOX.account, { environment: REGISTRY_STACK }));
  });
});

describe("DeploymentAccount previewer trust", () => {
  test("GIVEN the registry's stack WHEN built THEN its previewer trusts pull requests of the repository only", async () => {
    const { role } = await build(registryArgs, "churn-predictor-registry");
    const trust = policyInput(role(REGISTRY_ROLE.previewer), "assumeRolePolicy");
    expect(trust).toEqual(ciTrustPolicy(GITHUB, SANDBOX.account, "pull_request"));
    expect(trust.Statement).toHaveLength(1);
  });

  test("GIVEN a leftover previewerAlsoTrusts WHEN the registry's stack is built THEN it is ignored: readers assume the registry's reader role instead", async () => {
    const leftover = { ...registryArgs, previewerAlsoTrusts: READERS } as Partial<component.DeploymentAccountArgs>;
    const { role } = await build(leftover, "churn-predictor-registry");
    expect(policyInput(role(REGISTRY_ROLE.previewer), "assumeRolePolicy")).toEqual(ciTrustPolicy(GITHUB, SANDBOX.account, "pull_request"));
    expect(JSON.stringify(policyInput(role(REGISTRY_ROLE.previewer), "assumeRolePolicy"))).not.toContain("environment:promote");
  });

  test("GIVEN an IAM role principal WHEN the registry's stack is built THEN its previewer trusts exactly that role", async () => {
    const { role } = await build({ ...registryArgs, ciPrincipal: { type: "iam-role", roleArn: CI_ROLE } }, "churn-predictor-registry");
    expect(policyInput(role(REGISTRY_ROLE.previewer), "assumeRolePolicy").Statement).toEqual([
      { Effect: "Allow", Principal: { AWS: CI_ROLE }, Action: "sts:AssumeRole" },
    ]);
  });
});

describe("DeploymentAccount state backend", () => {
  test("GIVEN no state backend WHEN built THEN neither CI role reaches any state", async () => {
    const { rolePolicy } = await build();
    for (const roleName of [ROLE.deployer, ROLE.previewer]) {
      expect(JSON.stringify(rolePolicy(roleName))).not.toContain("churn-predictor-pulumi-state");
    }
  });

  test("GIVEN a state backend WHEN built THEN the deployer writes the stack's state and the previewer reads it", async () => {
    const { rolePolicy } = await build({ stateBackend: STATE });
    expect(rolePolicy(ROLE.deployer)).toEqual(deployerPolicy({ ...deployerScope(false), stateBackend: STATE }));
    expect(rolePolicy(ROLE.previewer)).toEqual(previewerPolicy({ ...deployerScope(false), stateBackend: STATE }));
    const sids = (roleName: string) => rolePolicy(roleName).Statement.map((s: { Sid: string }) => s.Sid);
    expect(sids(ROLE.deployer)).toContain("StateWrite");
    expect(sids(ROLE.previewer)).toEqual(expect.arrayContaining(["StateRead", "StateLocks"]));
    expect(sids(ROLE.previewer)).not.toContain("StateWrite");
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
