import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseDocument, stringify } from "yaml";
import { pulumiProjectDocument } from "../../projen/pulumi-project";
import { parseServiceDefinition, type ServiceDefinition } from "../../projen/service";
import { starterStackFile } from "../../projen/stack-files";
import { main } from "../../scripts/plan/cli";
import { planStacks, readProjectInfo } from "../../scripts/plan/engine";
import { deploymentStacks, REGISTRY_STACK } from "../../stacks/config/schema";
import type { OfflineRun, RegisteredResource } from "../../stacks/offline-run";
import { FIXTURE_ROOT, FIXTURE_STAGES } from "../fixtures/project";
import { FIXTURE, FIXTURE_DEFINITION } from "../fixtures/service";
import { ofType } from "../support/mocks";
import { policyInput } from "../support/resources";
import { copyProject, endpointPath, runStack } from "../support/stack-files";

/**
 * Where the model registry lives. It is always a stack of its own, `registry`, deployed first by
 * its own roles; registryStage (by default the first stage) or registryAccountId only choose the
 * account that stack deploys into. A stage's stack never holds a registry resource, even in the
 * registry's account. Each project here is the fixture's (test/fixtures/project): Pulumi.yaml as
 * projen's pulumiProjectDocument writes it for a variant of the fixture definition, the fixture's
 * stage files locked to the variant's accounts, and a Pulumi.registry.yaml (projen's starter).
 */

const SERVICE = FIXTURE.serviceName;
const REGION = FIXTURE.region;
const { sandbox: SANDBOX, qa: QA, prod: PROD } = FIXTURE.accounts;
const STAGE_ACCOUNTS = [SANDBOX, QA, PROD];
/** A fourth account, for a dedicated registry. */
const REGISTRY_ACCOUNT = "404040404049";

const artifactBucket = (accountId: string) => `${SERVICE}-artifacts-${accountId}-${REGION}`;
const stageBucket = (stage: string, accountId: string) => `${SERVICE}-${stage}-${accountId}-${REGION}`;
/** Every role the registry stack creates: its CI roles, and the training, publisher, approver and reader roles. */
const REGISTRY_ROLES = [
  `${SERVICE}-registry-approver`, `${SERVICE}-registry-deployer`, `${SERVICE}-registry-previewer`,
  `${SERVICE}-registry-publisher`, `${SERVICE}-registry-reader`, `${SERVICE}-sagemaker-training`,
];
/** The types only a registry has. */
const REGISTRY_TYPES = [
  "mlplatform:registry:RegistryAccount", "aws:sagemaker/modelPackageGroup:ModelPackageGroup",
  "aws:sagemaker/modelPackageGroupPolicy:ModelPackageGroupPolicy", "aws:ecr/repository:Repository", "aws:ecr/repositoryPolicy:RepositoryPolicy",
];
const ENDPOINT_TYPES = [
  "mlplatform:sagemaker:BlueGreenEndpoint", "aws:sagemaker/endpoint:Endpoint",
  "aws:sagemaker/endpointConfiguration:EndpointConfiguration", "aws:sagemaker/model:Model",
];
const OIDC_PROVIDER = "aws:iam/openIdConnectProvider:OpenIdConnectProvider";

/** The fixture definition with the registry in the account of `stage` (undefined: no registryStage, so the first stage's). */
function withRegistryStage(stage: string | undefined, overrides: Partial<ServiceDefinition> = {}): ServiceDefinition {
  const { registryStage: _stage, ...rest } = FIXTURE_DEFINITION;
  return { ...rest, ...(stage === undefined ? {} : { registryStage: stage }), ...overrides };
}

/** The fixture definition with the registry in a dedicated account (and no registryStage). */
function dedicated(overrides: Partial<ServiceDefinition> = {}): ServiceDefinition {
  return withRegistryStage(undefined, { registryAccountId: REGISTRY_ACCOUNT, ...overrides });
}

/** The fixture's CI principal, creating the accounts' GitHub OIDC providers. */
const CREATING_OIDC_PROVIDERS = { ciPrincipal: { type: "github-oidc", repository: FIXTURE.repository, createOidcProvider: true } } as const;

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** The Pulumi.registry.yaml projen writes for a valid definition. */
function registryStarter(def: ServiceDefinition): string {
  const service = parseServiceDefinition(def);
  return starterStackFile(service, deploymentStacks(service.project).find((s) => s.name === REGISTRY_STACK)!);
}

/** A registry stack file with only the account lock (for definitions projen itself would refuse). */
const lockOnly = (accountId: string) => `config:\n  aws:allowedAccountIds:\n    - "${accountId}"\n`;

/**
 * A project directory: Pulumi.yaml as projen writes it for `def`, the fixture's stage files (each
 * locked to its stage's account in `def`), and Pulumi.registry.yaml (`registryStackFile`, by
 * default projen's starter).
 */
function projectFor(def: ServiceDefinition, registryStackFile?: string): string {
  const dir = mkdtempSync(join(tmpdir(), "registry-placement-"));
  dirs.push(dir);
  writeFileSync(join(dir, "Pulumi.yaml"), stringify(pulumiProjectDocument(def)));
  for (const stage of def.stages) {
    const file = `Pulumi.${stage.name}.yaml`;
    if (!existsSync(join(FIXTURE_ROOT, file))) continue;
    copyFileSync(join(FIXTURE_ROOT, file), join(dir, file));
    const doc = parseDocument(readFileSync(join(dir, file), "utf8"));
    doc.setIn(["config", "aws:allowedAccountIds"], doc.createNode([stage.accountId]));
    writeFileSync(join(dir, file), doc.toString());
  }
  writeFileSync(join(dir, `Pulumi.${REGISTRY_STACK}.yaml`), registryStackFile ?? registryStarter(def));
  return dir;
}

/** Every stack of a project, run. */
async function runAll(dir: string, def: ServiceDefinition): Promise<Record<string, OfflineRun>> {
  const runs: Record<string, OfflineRun> = {};
  for (const stack of [REGISTRY_STACK, ...def.stages.map((s) => s.name)]) runs[stack] = await runStack(stack, dir);
  return runs;
}

/** The error a stack's run ends with (failing the test when it succeeds). */
async function failureOf(stack: string, dir: string): Promise<string> {
  const error = await runStack(stack, dir).then(() => undefined, (e: Error) => e);
  expect(error).toBeInstanceOf(Error);
  return error?.message ?? "";
}

const names = (run: OfflineRun, type: string, input: string) => ofType(run.resources, type).map((r) => r.inputs[input] as string).sort();

function one(run: OfflineRun, type: string, name: string): RegisteredResource {
  const found = ofType(run.resources, type).filter((r) => r.name === name);
  expect(found).toHaveLength(1);
  return found[0];
}

/** Whatever of the registry a stack holds: registry-only types, and resources with a registry's physical name. */
function registryResourcesOf(run: OfflineRun): string[] {
  const registryNamed = [
    ...names(run, "aws:s3/bucket:Bucket", "bucket").filter((b) => b.startsWith(`${SERVICE}-artifacts-`)),
    ...names(run, "aws:kms/alias:Alias", "name").filter((a) => a === `alias/${SERVICE}-registry`),
    ...names(run, "aws:iam/role:Role", "name").filter((r) => REGISTRY_ROLES.includes(r)),
  ];
  return [...REGISTRY_TYPES.flatMap((type) => ofType(run.resources, type).map((r) => `${type} ${r.name}`)), ...registryNamed];
}

/** Account of the stack's only provider (failing the test when there is not exactly one). */
function providerAccount(run: OfflineRun): string {
  const providers = ofType(run.resources, "pulumi:providers:aws");
  expect(providers).toHaveLength(1);
  expect(providers[0].inputs.region).toBe(REGION);
  return (JSON.parse(providers[0].inputs.allowedAccountIds as string) as string[]).join(",");
}

/** The GitHub subject a role's trust policy admits through OIDC, statement by statement. */
function githubSubjects(role: RegisteredResource): string[] {
  const trust = policyInput(role, "assumeRolePolicy") as { Statement: { Condition?: Record<string, Record<string, string | string[]>> }[] };
  return trust.Statement.flatMap((s) => [s.Condition?.StringEquals, s.Condition?.StringLike])
    .flatMap((c) => ([] as string[]).concat(c?.["token.actions.githubusercontent.com:sub"] ?? []));
}

describe("the registry in a stage's account (registryStage)", () => {
  // qa: not the first stage, so a registry in the default place would fail every test here.
  const def = withRegistryStage("qa");
  let dir: string;
  let runs: Record<string, OfflineRun>;

  beforeAll(async () => {
    dir = projectFor(def);
    runs = await runAll(dir, def);
  });

  it("GIVEN registryStage qa WHEN the registry stack runs THEN its only provider is pinned to qa's account", () => {
    expect(providerAccount(runs.registry)).toBe(QA);
    expect(runs.registry.outputs).toMatchObject({ stage: REGISTRY_STACK, accountId: QA });
  });

  it("GIVEN registryStage qa WHEN the registry stack runs THEN it creates the registry, named for qa's account, and its roles", () => {
    expect(ofType(runs.registry.resources, "mlplatform:registry:RegistryAccount")).toHaveLength(1);
    expect(names(runs.registry, "aws:s3/bucket:Bucket", "bucket")).toEqual([artifactBucket(QA)]);
    expect(names(runs.registry, "aws:kms/alias:Alias", "name")).toEqual([`alias/${SERVICE}-registry`]);
    expect(names(runs.registry, "aws:sagemaker/modelPackageGroup:ModelPackageGroup", "modelPackageGroupName"))
      .toEqual(FIXTURE.models.map((m) => `${SERVICE}-${m}`));
    expect(names(runs.registry, "aws:ecr/repository:Repository", "name")).toEqual([`${SERVICE}-inference`]);
    expect(names(runs.registry, "aws:iam/role:Role", "name")).toEqual(REGISTRY_ROLES);
  });

  it("GIVEN registryStage qa WHEN the registry stack runs THEN it serves nothing: no stage bucket, key or execution role, and no endpoint", () => {
    expect(ofType(runs.registry.resources, "aws:kms/key:Key")).toHaveLength(1);
    expect(names(runs.registry, "aws:iam/role:Role", "name").filter((r) => r.endsWith("-sagemaker-execution"))).toEqual([]);
    for (const type of ENDPOINT_TYPES) expect([type, ofType(runs.registry.resources, type)]).toEqual([type, []]);
    expect(runs.registry.outputs).toMatchObject({ bucketName: undefined, executionRoleArn: undefined, endpointNames: {} });
    expect(runs.registry.outputs.registry).toBeDefined();
  });

  it.each(FIXTURE_STAGES)("GIVEN registryStage qa WHEN the %s stack runs THEN it holds no registry resource, only its own stage's", (stage) => {
    const run = runs[stage];
    expect(registryResourcesOf(run)).toEqual([]);
    expect(run.outputs.registry).toBeUndefined();
    expect(names(run, "aws:s3/bucket:Bucket", "bucket")).toEqual([stageBucket(stage, FIXTURE.accounts[stage])]);
    expect(names(run, "aws:iam/role:Role", "name")).toEqual([`${SERVICE}-${stage}-deployer`, `${SERVICE}-${stage}-previewer`, `${SERVICE}-${stage}-sagemaker-execution`]);
  });

  it("GIVEN registryStage qa WHEN the registry and qa stacks run THEN both deploy into qa's account, each by its own deployer and its own GitHub environment", () => {
    expect(providerAccount(runs.qa)).toBe(QA);
    expect(githubSubjects(one(runs.registry, "aws:iam/role:Role", `${SERVICE}-registry-deployer-role`)))
      .toEqual([`repo:${FIXTURE.repository}:environment:${REGISTRY_STACK}`]);
    expect(githubSubjects(one(runs.qa, "aws:iam/role:Role", `${SERVICE}-qa-deployer-role`))).toEqual([`repo:${FIXTURE.repository}:environment:qa`]);
  });

  it("GIVEN registryStage qa WHEN a stage stack runs THEN its model package ARN, image and model data name qa's account", () => {
    const scorer = one(runs.prod, "aws:sagemaker/model:Model", `${SERVICE}-churn-scorer-model`);
    expect(scorer.inputs.primaryContainer).toEqual({ modelPackageName: `arn:aws:sagemaker:${REGION}:${QA}:model-package/${SERVICE}-churn-scorer/6` });
    const embedder = one(runs.sandbox, "aws:sagemaker/model:Model", `${SERVICE}-doc-embedder-model`);
    expect(embedder.inputs.primaryContainer).toMatchObject({
      image: `${QA}.dkr.ecr.${REGION}.amazonaws.com/${SERVICE}-inference:triton-24.09-doc-embedder-v3`,
      modelDataUrl: `s3://${artifactBucket(QA)}/doc-embedder/v3/model.tar.gz`,
    });
  });

  it("GIVEN registryStage qa WHEN the registry stack runs THEN its resource policies grant every stage's account, qa's included", () => {
    const groupPolicy = policyInput(one(runs.registry, "aws:sagemaker/modelPackageGroupPolicy:ModelPackageGroupPolicy",
      `${SERVICE}-registry-churn-scorer-group-policy`), "resourcePolicy");
    expect(([] as string[]).concat(groupPolicy.Statement[0].Principal.AWS).sort()).toEqual(STAGE_ACCOUNTS.map((a) => `arn:aws:iam::${a}:root`));
    expect(groupPolicy.Statement[1].Resource).toBe(`arn:aws:sagemaker:${REGION}:${QA}:model-package/${SERVICE}-churn-scorer/*`);
  });

  it("GIVEN registryStage qa WHEN the project is read for the offline plan THEN the registry stack comes first, in qa's account", () => {
    const info = readProjectInfo(dir);
    expect(info.stages).toEqual([REGISTRY_STACK, ...FIXTURE_STAGES]);
    expect(info.accounts).toEqual({ registry: QA, sandbox: SANDBOX, qa: QA, prod: PROD });
  });
});

describe("the registry in the first stage's account (no registryStage)", () => {
  it("GIVEN no registryStage WHEN the stacks run THEN the registry stack deploys into the first stage's account and that stage holds none of it", async () => {
    const def = withRegistryStage(undefined);
    const dir = projectFor(def);
    const registry = await runStack(REGISTRY_STACK, dir);
    expect(providerAccount(registry)).toBe(SANDBOX);
    expect(names(registry, "aws:s3/bucket:Bucket", "bucket")).toEqual([artifactBucket(SANDBOX)]);
    const sandbox = await runStack("sandbox", dir);
    expect(providerAccount(sandbox)).toBe(SANDBOX);
    expect(registryResourcesOf(sandbox)).toEqual([]);
    expect(one(sandbox, "aws:sagemaker/model:Model", `${SERVICE}-churn-scorer-model`).inputs.primaryContainer)
      .toEqual({ modelPackageName: `arn:aws:sagemaker:${REGION}:${SANDBOX}:model-package/${SERVICE}-churn-scorer/7` });
    expect(readProjectInfo(dir).accounts.registry).toBe(SANDBOX);
  });

  it("GIVEN stages listed with qa first and no registryStage WHEN the stacks run THEN the registry stack deploys into qa's account and qa holds none of it", async () => {
    const [sandbox, qa, prod] = FIXTURE_DEFINITION.stages;
    const def = withRegistryStage(undefined, { stages: [qa, sandbox, prod] });
    const dir = projectFor(def);
    const registry = await runStack(REGISTRY_STACK, dir);
    expect(providerAccount(registry)).toBe(QA);
    expect(names(registry, "aws:s3/bucket:Bucket", "bucket")).toEqual([artifactBucket(QA)]);
    expect(registryResourcesOf(await runStack("qa", dir))).toEqual([]);
    expect(readProjectInfo(dir)).toMatchObject({ stages: [REGISTRY_STACK, "qa", "sandbox", "prod"], accounts: { registry: QA } });
  });

  it("GIVEN the fixture (registryStage sandbox) WHEN its registry stack file has endpoints THEN the registry stack refuses them, pointing at the stages' stack files", async () => {
    const sandboxFile = parseDocument(readFileSync(join(FIXTURE_ROOT, "Pulumi.sandbox.yaml"), "utf8"));
    const copy = copyProject(REGISTRY_STACK, { stack: (doc) => doc.setIn(endpointPath("churn-scorer"), sandboxFile.getIn(endpointPath("churn-scorer"))) });
    try {
      expect(await failureOf(REGISTRY_STACK, copy.dir)).toBe("invalid stack configuration:\n"
        + "Pulumi.registry.yaml: mlplatform:endpoints: the registry stack \"registry\" serves no endpoints; define endpoints in the stages' stack files");
    } finally {
      copy.cleanup();
    }
  });
});

describe("a dedicated registry account (registryAccountId)", () => {
  let dir: string;
  let registry: OfflineRun;
  let qa: OfflineRun;
  let sandbox: OfflineRun;

  beforeAll(async () => {
    dir = projectFor(dedicated());
    registry = await runStack(REGISTRY_STACK, dir);
    sandbox = await runStack("sandbox", dir);
    qa = await runStack("qa", dir);
  });

  it("GIVEN the registry stack WHEN it runs THEN its only provider is pinned to the registry account in the service's region", () => {
    expect(providerAccount(registry)).toBe(REGISTRY_ACCOUNT);
    expect(registry.outputs.accountId).toBe(REGISTRY_ACCOUNT);
  });

  it("GIVEN the registry stack WHEN it runs THEN it creates the registry: artifact bucket named for the registry account, key alias, package groups, ECR and its roles", () => {
    expect(ofType(registry.resources, "mlplatform:registry:RegistryAccount").map((r) => r.name)).toEqual([`${SERVICE}-registry`]);
    expect(names(registry, "aws:s3/bucket:Bucket", "bucket")).toEqual([artifactBucket(REGISTRY_ACCOUNT)]);
    expect(names(registry, "aws:kms/alias:Alias", "name")).toEqual([`alias/${SERVICE}-registry`]);
    expect(ofType(registry.resources, "aws:kms/key:Key")).toHaveLength(1);
    expect(names(registry, "aws:sagemaker/modelPackageGroup:ModelPackageGroup", "modelPackageGroupName"))
      .toEqual([`${SERVICE}-churn-scorer`, `${SERVICE}-doc-embedder`]);
    expect(names(registry, "aws:ecr/repository:Repository", "name")).toEqual([`${SERVICE}-inference`]);
    expect(names(registry, "aws:iam/role:Role", "name")).toEqual(REGISTRY_ROLES);
  });

  it("GIVEN the registry stack WHEN it runs THEN it has no stage bucket, stage key or execution role, and no endpoint", () => {
    expect(names(registry, "aws:iam/role:Role", "name")).not.toContain(`${SERVICE}-registry-sagemaker-execution`);
    expect(ofType(registry.resources, "aws:iam/rolePolicy:RolePolicy").map((r) => r.name)).not.toContain(`${SERVICE}-registry-execution-policy`);
    for (const type of ENDPOINT_TYPES) expect([type, ofType(registry.resources, type)]).toEqual([type, []]);
    expect(registry.outputs).toMatchObject({ bucketName: undefined, executionRoleArn: undefined, endpointNames: {} });
    expect(registry.outputs.registry).toBeDefined();
  });

  it("GIVEN the registry stack WHEN it runs THEN its resource policies grant the three stage accounts, and not its own", () => {
    const groupPolicy = policyInput(one(registry, "aws:sagemaker/modelPackageGroupPolicy:ModelPackageGroupPolicy",
      `${SERVICE}-registry-churn-scorer-group-policy`), "resourcePolicy");
    const principals = ([] as string[]).concat(groupPolicy.Statement[0].Principal.AWS);
    expect(principals.sort()).toEqual(STAGE_ACCOUNTS.map((a) => `arn:aws:iam::${a}:root`));
    expect(groupPolicy.Statement[1].Resource).toBe(`arn:aws:sagemaker:${REGION}:${REGISTRY_ACCOUNT}:model-package/${SERVICE}-churn-scorer/*`);
  });

  it("GIVEN the first stage WHEN the registry is dedicated THEN the stage serves its endpoints and holds no registry resource", () => {
    expect(registryResourcesOf(sandbox)).toEqual([]);
    expect(names(sandbox, "aws:s3/bucket:Bucket", "bucket")).toEqual([stageBucket("sandbox", SANDBOX)]);
    expect(ofType(sandbox.resources, "aws:sagemaker/endpoint:Endpoint")).toHaveLength(2);
  });

  it("GIVEN a stage stack WHEN the registry is dedicated THEN its model package ARN, image and model data name the registry account", () => {
    const scorer = one(qa, "aws:sagemaker/model:Model", `${SERVICE}-churn-scorer-model`);
    expect(scorer.inputs.primaryContainer).toEqual({
      modelPackageName: `arn:aws:sagemaker:${REGION}:${REGISTRY_ACCOUNT}:model-package/${SERVICE}-churn-scorer/6`,
    });
    const embedder = one(qa, "aws:sagemaker/model:Model", `${SERVICE}-doc-embedder-model`);
    expect(embedder.inputs.primaryContainer).toMatchObject({
      image: `${REGISTRY_ACCOUNT}.dkr.ecr.${REGION}.amazonaws.com/${SERVICE}-inference:triton-24.09-doc-embedder-v2`,
      modelDataUrl: `s3://${artifactBucket(REGISTRY_ACCOUNT)}/doc-embedder/v2/model.tar.gz`,
    });
  });

  it("GIVEN a stage stack WHEN the registry is dedicated THEN the execution role may read exactly the dedicated registry's artifacts, key, packages and images", () => {
    const doc = policyInput(one(qa, "aws:iam/rolePolicy:RolePolicy", `${SERVICE}-qa-execution-policy`));
    const resourceOf = (sid: string) => doc.Statement.find((s: { Sid?: string }) => s.Sid === sid)?.Resource;
    expect(resourceOf("RegistryArtifacts")).toBe(`arn:aws:s3:::${artifactBucket(REGISTRY_ACCOUNT)}/*`);
    expect(resourceOf("RegistryKeyByAlias")).toBe(`arn:aws:kms:${REGION}:${REGISTRY_ACCOUNT}:key/*`);
    expect(resourceOf("RegistryModelVersions")).toEqual([
      `arn:aws:sagemaker:${REGION}:${REGISTRY_ACCOUNT}:model-package/${SERVICE}-churn-scorer/*`,
      `arn:aws:sagemaker:${REGION}:${REGISTRY_ACCOUNT}:model-package/${SERVICE}-doc-embedder/*`,
    ]);
    expect(resourceOf("RegistryImages")).toBe(`arn:aws:ecr:${REGION}:${REGISTRY_ACCOUNT}:repository/${SERVICE}-inference`);
    // No statement reaches into the first stage's account, which holds the registry only by default.
    expect(JSON.stringify(doc)).not.toContain(SANDBOX);
  });

  it("GIVEN endpoints in Pulumi.registry.yaml WHEN the registry stack runs THEN it is refused, pointing at the stages' stack files", async () => {
    const text = parseDocument(registryStarter(dedicated()));
    const sandboxFile = parseDocument(readFileSync(join(FIXTURE_ROOT, "Pulumi.sandbox.yaml"), "utf8"));
    text.setIn(endpointPath("churn-scorer"), sandboxFile.getIn(endpointPath("churn-scorer")));
    const withEndpoints = projectFor(dedicated(), text.toString());
    expect(await failureOf(REGISTRY_STACK, withEndpoints)).toBe("invalid stack configuration:\n"
      + "Pulumi.registry.yaml: mlplatform:endpoints: the registry stack \"registry\" serves no endpoints; define endpoints in the stages' stack files");
  });

  it("GIVEN a Pulumi.registry.yaml locked to the first stage's account WHEN the registry is dedicated THEN the registry stack is refused, naming the registry account", async () => {
    const locked = projectFor(dedicated(), lockOnly(SANDBOX));
    expect(await failureOf(REGISTRY_STACK, locked)).toContain(`Pulumi.registry.yaml: aws:allowedAccountIds: must be ["${REGISTRY_ACCOUNT}"]`);
  });
});

describe("a registry placement or principal the schema refuses", () => {
  it("GIVEN registryStage together with registryAccountId WHEN a stack runs THEN Pulumi.yaml is refused naming registryStage", async () => {
    const dir = projectFor(dedicated({ registryStage: "sandbox" }), lockOnly(REGISTRY_ACCOUNT));
    expect(await failureOf("qa", dir)).toBe("invalid stack configuration:\n"
      + "Pulumi.yaml: mlplatform:registryStage: cannot be set together with registryAccountId: the registry lives either in a stage's account or in a dedicated one");
  });

  it("GIVEN a registryAccountId that is a stage's account WHEN a stack runs THEN Pulumi.yaml is refused, suggesting registryStage", async () => {
    const dir = projectFor(dedicated({ registryAccountId: QA }), lockOnly(QA));
    expect(await failureOf("sandbox", dir)).toBe("invalid stack configuration:\n"
      + `Pulumi.yaml: mlplatform:registryAccountId: ${QA} is the account of stage "qa"; for a registry in a stage's account set registryStage: "qa" instead`);
  });

  it("GIVEN a stage named registry WHEN a stack runs THEN Pulumi.yaml is refused, asking for another name", async () => {
    const stages = FIXTURE_DEFINITION.stages.map((s) => (s.name === "qa" ? { ...s, name: REGISTRY_STACK } : s));
    const dir = projectFor({ ...FIXTURE_DEFINITION, stages }, lockOnly(SANDBOX));
    expect(await failureOf("sandbox", dir)).toBe("invalid stack configuration:\n"
      + "Pulumi.yaml: mlplatform:stages[1].name: \"registry\" is the name of the registry's stack; choose another stage name");
  });

  it("GIVEN an IAM-role CI principal and no publishers or approvers WHEN a stack runs THEN Pulumi.yaml is refused naming both keys", async () => {
    const def = withRegistryStage("sandbox", { ciPrincipal: { type: "iam-role", roleArn: `arn:aws:iam::${SANDBOX}:role/ci` } });
    const dir = projectFor(def, lockOnly(SANDBOX));
    expect(await failureOf("qa", dir)).toBe("invalid stack configuration:\n"
      + "Pulumi.yaml: mlplatform:publishers: must be set when ciPrincipal is not github-oidc (there is no repository to default to)\n"
      + "Pulumi.yaml: mlplatform:approvers: must be set when ciPrincipal is not github-oidc (there is no repository to default to)");
  });

  it("GIVEN an IAM-role CI principal and a GitHub publisher without a repository WHEN a stack runs THEN Pulumi.yaml is refused naming that key", async () => {
    const def = withRegistryStage("sandbox", {
      ciPrincipal: { type: "iam-role", roleArn: `arn:aws:iam::${SANDBOX}:role/ci` },
      publishers: [{ github: { environment: "registry-publish" } }],
      approvers: [{ roleArn: `arn:aws:iam::${SANDBOX}:role/approver` }],
    });
    const dir = projectFor(def, lockOnly(SANDBOX));
    expect(await failureOf(REGISTRY_STACK, dir)).toBe("invalid stack configuration:\n"
      + "Pulumi.yaml: mlplatform:publishers[0].github.repository: is required when ciPrincipal is not github-oidc");
  });

  it("GIVEN a retraining database secret that is not a Secrets Manager ARN WHEN projen reads the definition THEN it is refused by key", () => {
    expect(() => parseServiceDefinition(dedicated({ retrainingDatabaseSecretArn: "db-password" })))
      .toThrow(".projenrc.ts: retrainingDatabaseSecretArn: must be a Secrets Manager secret ARN");
    expect(parseServiceDefinition(dedicated({ retrainingDatabaseSecretArn: `arn:aws:secretsmanager:${FIXTURE.region}:${REGISTRY_ACCOUNT}:secret:db-AbCdEf` }))
      .project.retrainingDatabaseSecretArn).toMatch(/:secret:db-AbCdEf$/);
  });

  it("GIVEN the same definitions in .projenrc.ts WHEN projen reads them THEN each is refused there too", () => {
    expect(() => parseServiceDefinition(dedicated({ registryStage: "sandbox" })))
      .toThrow(".projenrc.ts: registryStage: cannot be set together with registryAccountId");
    expect(() => parseServiceDefinition(dedicated({ registryAccountId: PROD })))
      .toThrow(`.projenrc.ts: registryAccountId: ${PROD} is the account of stage "prod"`);
    const iamRole = withRegistryStage("sandbox", { ciPrincipal: { type: "iam-role", roleArn: `arn:aws:iam::${SANDBOX}:role/ci` } });
    expect(() => parseServiceDefinition(iamRole)).toThrow(".projenrc.ts: the service definition is invalid:\n"
      + ".projenrc.ts: publishers: must be set when ciPrincipal is not github-oidc (there is no repository to default to)\n"
      + ".projenrc.ts: approvers: must be set when ciPrincipal is not github-oidc (there is no repository to default to)");
  });
});

describe("the registry's roles with an IAM-role CI principal", () => {
  const PUBLISHER = `arn:aws:iam::${SANDBOX}:role/training-pipeline`;
  const APPROVER = `arn:aws:iam::${SANDBOX}:role/model-approver`;
  let registry: OfflineRun;

  beforeAll(async () => {
    const def = withRegistryStage("sandbox", {
      ciPrincipal: { type: "iam-role", roleArn: `arn:aws:iam::${SANDBOX}:role/ci` },
      publishers: [{ roleArn: PUBLISHER }],
      approvers: [{ roleArn: APPROVER }],
    });
    registry = await runStack(REGISTRY_STACK, projectFor(def));
  });

  interface TrustStatement { Sid?: string; Principal: { AWS?: string | string[] }; Condition?: { ArnLike?: Record<string, string | string[]> } }
  const trustOf = (role: string) => (policyInput(one(registry, "aws:iam/role:Role", role), "assumeRolePolicy") as { Statement: TrustStatement[] }).Statement;
  const trustedRoles = (role: string) => trustOf(role).flatMap((s) => ([] as string[]).concat(s.Principal.AWS ?? []));
  /** The statement a registry role's trust has for the roles of one account: its root, narrowed by ArnLike on aws:PrincipalArn. */
  const rolesOf = (accountId: string, roleArns: string[]) => ({
    Sid: `RolesOf${accountId}`,
    Effect: "Allow",
    Principal: { AWS: `arn:aws:iam::${accountId}:root` },
    Action: "sts:AssumeRole",
    Condition: { ArnLike: { "aws:PrincipalArn": roleArns } },
  });
  /** Each stage's deployer role, by the fixture definition's stages and accounts. */
  const deployerOf = (stage: { name: string; accountId: string }) => `arn:aws:iam::${stage.accountId}:role/${SERVICE}-${stage.name}-deployer`;

  it("GIVEN declared publishers and approvers WHEN the registry stack runs THEN the publisher and approver roles trust exactly them, through their account's root", () => {
    expect(trustOf(`${SERVICE}-registry-publisher-role`)).toEqual([rolesOf(SANDBOX, [PUBLISHER])]);
    expect(trustOf(`${SERVICE}-registry-approver-role`)).toEqual([rolesOf(SANDBOX, [APPROVER])]);
  });

  it("GIVEN declared publishers and approvers WHEN the registry stack runs THEN the reader role trusts each stage's deployer, the publishers and the approvers, and no GitHub job", () => {
    const reader = one(registry, "aws:iam/role:Role", `${SERVICE}-registry-reader-role`);
    const [sandbox, qa, prod] = FIXTURE_DEFINITION.stages;
    expect([sandbox.accountId, qa.accountId, prod.accountId]).toEqual([SANDBOX, QA, PROD]);
    // One statement per account, in first-seen order: the stages' deployers, then publishers, then approvers.
    expect(trustOf(reader.name)).toEqual([
      rolesOf(SANDBOX, [deployerOf(sandbox), PUBLISHER, APPROVER]),
      rolesOf(QA, [deployerOf(qa)]),
      rolesOf(PROD, [deployerOf(prod)]),
    ]);
    expect(githubSubjects(reader)).toEqual([]);
  });

  it("GIVEN an IAM-role CI principal WHEN the registry stack runs THEN its deployer and previewer trust the CI role alone", () => {
    for (const role of ["deployer", "previewer"]) {
      expect([role, trustedRoles(`${SERVICE}-registry-${role}-role`)]).toEqual([role, [`arn:aws:iam::${SANDBOX}:role/ci`]]);
    }
  });
});

describe("the account's GitHub OIDC provider (createOidcProvider)", () => {
  /** How many OIDC providers each stack creates, and whether its deployer may manage one. */
  async function oidcProviders(def: ServiceDefinition): Promise<Record<string, [number, boolean]>> {
    const runs = await runAll(projectFor(def), def);
    return Object.fromEntries(Object.entries(runs).map(([stack, run]) => {
      const deployer = policyInput(one(run, "aws:iam/rolePolicy:RolePolicy", `${SERVICE}-${stack}-deployer-policy`)) as { Statement: { Sid?: string }[] };
      return [stack, [ofType(run.resources, OIDC_PROVIDER).length, deployer.Statement.some((s) => s.Sid === "GithubOidcProvider")]];
    }));
  }

  it("GIVEN registryStage sandbox WHEN every stack runs THEN the registry stack creates the sandbox account's provider, sandbox none, and qa and prod their own", async () => {
    expect(await oidcProviders(withRegistryStage("sandbox", CREATING_OIDC_PROVIDERS)))
      .toEqual({ registry: [1, true], sandbox: [0, false], qa: [1, true], prod: [1, true] });
  });

  it("GIVEN a dedicated registry account WHEN every stack runs THEN each of the four accounts gets one provider, from its only stack", async () => {
    expect(await oidcProviders(dedicated(CREATING_OIDC_PROVIDERS)))
      .toEqual({ registry: [1, true], sandbox: [1, true], qa: [1, true], prod: [1, true] });
  });

  it("GIVEN qa sharing sandbox's account and registryStage qa WHEN every stack runs THEN only the registry stack creates that account's provider", async () => {
    const [sandbox, , prod] = FIXTURE_DEFINITION.stages;
    const stages = [sandbox, { name: "qa", accountId: SANDBOX, shareAccountWith: "sandbox" }, prod];
    expect(await oidcProviders(withRegistryStage("qa", { ...CREATING_OIDC_PROVIDERS, stages })))
      .toEqual({ registry: [1, true], sandbox: [0, false], qa: [0, false], prod: [1, true] });
  });

  it("GIVEN createOidcProvider left out WHEN every stack runs THEN no stack creates a provider", async () => {
    expect(await oidcProviders(withRegistryStage("sandbox")))
      .toEqual({ registry: [0, false], sandbox: [0, false], qa: [0, false], prod: [0, false] });
  });
});

describe("the offline plan", () => {
  it("GIVEN the fixture project WHEN it is read THEN the registry stack comes first, in the registry stage's account", () => {
    const info = readProjectInfo(FIXTURE_ROOT);
    expect(info.stages).toEqual([REGISTRY_STACK, ...FIXTURE_STAGES]);
    expect(info.accounts).toEqual({ registry: SANDBOX, sandbox: SANDBOX, qa: QA, prod: PROD });
  });

  it("GIVEN registryAccountId WHEN the project is read THEN the registry stack comes first, with its account", () => {
    const info = readProjectInfo(projectFor(dedicated()));
    expect(info.stages).toEqual([REGISTRY_STACK, ...FIXTURE_STAGES]);
    expect(info.accounts).toEqual({ registry: REGISTRY_ACCOUNT, sandbox: SANDBOX, qa: QA, prod: PROD });
  });

  it("GIVEN every stack of a dedicated registry WHEN planned THEN the registry is planned first, in its account, with no error and no endpoint estimate", async () => {
    const dir = projectFor(dedicated());
    const plans = await planStacks(dir, readProjectInfo(dir).stages);
    expect(plans.map((p) => [p.stack, p.account, p.region])).toEqual([
      [REGISTRY_STACK, REGISTRY_ACCOUNT, REGION],
      ["sandbox", SANDBOX, REGION],
      ["qa", QA, REGION],
      ["prod", PROD, REGION],
    ]);
    const [registry] = plans;
    expect(registry.findings.filter((f) => f.severity === "error")).toEqual([]);
    expect(registry.estimates.endpoints).toEqual([]);
    expect(registry.resources.find((r) => r.type === "aws:s3/bucket:Bucket")?.physicalName).toBe(artifactBucket(REGISTRY_ACCOUNT));
  });

  it("GIVEN the plan command with an unknown stack WHEN run THEN it lists the registry stack first", async () => {
    const err: string[] = [];
    const code = await main(["--stack", "staging"], { out: () => undefined, err: (l) => err.push(l) }, projectFor(withRegistryStage("qa")));
    expect([code, err.join("\n")]).toEqual([2,
      "plan: --stack: unknown stack \"staging\"; the stacks are registry, sandbox, qa, prod (the registry, then mlplatform:stages in Pulumi.yaml) (see plan --help)"]);
  });
});
