import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
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
import { FIXTURE_DEFINITION } from "../fixtures/service";
import { ofType } from "../support/mocks";
import { policyInput } from "../support/resources";
import { endpointPath, runStack } from "../support/stack-files";

/**
 * Where the model registry lives. By default in a stage's account (registryStage, else the first
 * stage); with registryAccountId in a dedicated account, whose own stack (`registry`) builds the
 * registry and the CI roles, serves no endpoints, and comes first in the offline plan. Each project
 * here is the fixture's (test/fixtures/project) with its Pulumi.yaml written by projen's
 * pulumiProjectDocument for a variant of the fixture definition.
 */

/** A fourth account, for the dedicated registry. */
const REGISTRY_ACCOUNT = "404040404049";
const REGION = "ap-southeast-4";
const STAGE_ACCOUNTS = ["404040404041", "404040404042", "404040404043"];

/** The fixture definition with the registry in a dedicated account (and no registryStage). */
function dedicated(overrides: Partial<ServiceDefinition> = {}): ServiceDefinition {
  const { registryStage: _stage, ...rest } = FIXTURE_DEFINITION;
  return { ...rest, registryAccountId: REGISTRY_ACCOUNT, ...overrides };
}

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** The Pulumi.registry.yaml projen writes for a valid definition with a dedicated registry. */
function registryStarter(def: ServiceDefinition): string {
  const service = parseServiceDefinition(def);
  return starterStackFile(service, deploymentStacks(service.project).find((s) => s.name === REGISTRY_STACK)!);
}

/**
 * A project directory: Pulumi.yaml as projen writes it for `def`, the fixture's stage files, and
 * with registryAccountId a Pulumi.registry.yaml (`registryStackFile`, by default projen's starter).
 */
function projectFor(def: ServiceDefinition, registryStackFile?: string): string {
  const dir = mkdtempSync(join(tmpdir(), "registry-placement-"));
  dirs.push(dir);
  writeFileSync(join(dir, "Pulumi.yaml"), stringify(pulumiProjectDocument(def)));
  for (const stage of FIXTURE_STAGES) copyFileSync(join(FIXTURE_ROOT, `Pulumi.${stage}.yaml`), join(dir, `Pulumi.${stage}.yaml`));
  if (def.registryAccountId !== undefined) {
    writeFileSync(join(dir, `Pulumi.${REGISTRY_STACK}.yaml`), registryStackFile ?? registryStarter(def));
  }
  return dir;
}

/** A registry stack file with only the account lock (for definitions projen itself would refuse). */
const lockOnly = (accountId: string) => `config:\n  aws:allowedAccountIds:\n    - "${accountId}"\n`;

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

const ENDPOINT_TYPES = [
  "mlplatform:sagemaker:BlueGreenEndpoint", "aws:sagemaker/endpoint:Endpoint",
  "aws:sagemaker/endpointConfiguration:EndpointConfiguration", "aws:sagemaker/model:Model",
];

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
    const providers = ofType(registry.resources, "pulumi:providers:aws");
    expect(providers).toHaveLength(1);
    expect(providers[0].inputs).toMatchObject({ allowedAccountIds: JSON.stringify([REGISTRY_ACCOUNT]), region: REGION });
    expect(registry.outputs.accountId).toBe(REGISTRY_ACCOUNT);
  });

  it("GIVEN the registry stack WHEN it runs THEN it creates the registry: artifact bucket named for the registry account, key alias, package groups, ECR and training role", () => {
    expect(ofType(registry.resources, "mlplatform:registry:RegistryAccount").map((r) => r.name)).toEqual(["churn-predictor-registry"]);
    expect(names(registry, "aws:s3/bucket:Bucket", "bucket")).toEqual([`churn-predictor-artifacts-${REGISTRY_ACCOUNT}-${REGION}`]);
    expect(names(registry, "aws:kms/alias:Alias", "name")).toEqual(["alias/churn-predictor-registry"]);
    expect(ofType(registry.resources, "aws:kms/key:Key")).toHaveLength(1);
    expect(names(registry, "aws:sagemaker/modelPackageGroup:ModelPackageGroup", "modelPackageGroupName"))
      .toEqual(["churn-predictor-churn-scorer", "churn-predictor-doc-embedder"]);
    expect(names(registry, "aws:ecr/repository:Repository", "name")).toEqual(["churn-predictor-inference"]);
    expect(names(registry, "aws:iam/role:Role", "name")).toEqual([
      "churn-predictor-registry-deployer",
      "churn-predictor-registry-previewer",
      "churn-predictor-sagemaker-training",
    ]);
  });

  it("GIVEN the registry stack WHEN it runs THEN it has no stage bucket, stage key or execution role, and no endpoint", () => {
    expect(ofType(registry.resources, "aws:iam/role:Role").map((r) => r.inputs.name)).not.toContain("churn-predictor-registry-sagemaker-execution");
    expect(ofType(registry.resources, "aws:iam/rolePolicy:RolePolicy").map((r) => r.name)).not.toContain("churn-predictor-registry-execution-policy");
    for (const type of ENDPOINT_TYPES) expect([type, ofType(registry.resources, type)]).toEqual([type, []]);
    expect(registry.outputs).toMatchObject({ bucketName: undefined, executionRoleArn: undefined, endpointNames: {} });
    expect(registry.outputs.registry).toBeDefined();
  });

  it("GIVEN the registry stack WHEN it runs THEN its resource policies grant the three stage accounts, and not its own", () => {
    const groupPolicy = policyInput(one(registry, "aws:sagemaker/modelPackageGroupPolicy:ModelPackageGroupPolicy",
      "churn-predictor-registry-churn-scorer-group-policy"), "resourcePolicy");
    const principals = ([] as string[]).concat(groupPolicy.Statement[0].Principal.AWS);
    expect(principals.sort()).toEqual(STAGE_ACCOUNTS.map((a) => `arn:aws:iam::${a}:root`));
    expect(groupPolicy.Statement[1].Resource).toBe(`arn:aws:sagemaker:${REGION}:${REGISTRY_ACCOUNT}:model-package/churn-predictor-churn-scorer/*`);
  });

  it("GIVEN the first stage WHEN the registry is dedicated THEN the stage serves its endpoints and builds no registry", () => {
    expect(ofType(sandbox.resources, "mlplatform:registry:RegistryAccount")).toEqual([]);
    expect(names(sandbox, "aws:s3/bucket:Bucket", "bucket")).toEqual([`churn-predictor-sandbox-404040404041-${REGION}`]);
    expect(ofType(sandbox.resources, "aws:sagemaker/endpoint:Endpoint")).toHaveLength(2);
  });

  it("GIVEN a stage stack WHEN the registry is dedicated THEN its model package ARN, image and model data name the registry account", () => {
    const scorer = one(qa, "aws:sagemaker/model:Model", "churn-predictor-churn-scorer-model");
    expect(scorer.inputs.primaryContainer).toEqual({
      modelPackageName: `arn:aws:sagemaker:${REGION}:${REGISTRY_ACCOUNT}:model-package/churn-predictor-churn-scorer/6`,
    });
    const embedder = one(qa, "aws:sagemaker/model:Model", "churn-predictor-doc-embedder-model");
    expect(embedder.inputs.primaryContainer).toMatchObject({
      image: `${REGISTRY_ACCOUNT}.dkr.ecr.${REGION}.amazonaws.com/churn-predictor-inference:triton-24.09-doc-embedder-v2`,
      modelDataUrl: `s3://churn-predictor-artifacts-${REGISTRY_ACCOUNT}-${REGION}/doc-embedder/v2/model.tar.gz`,
    });
  });

  it("GIVEN a stage stack WHEN the registry is dedicated THEN the execution role may read exactly the dedicated registry's artifacts, key, packages and images", () => {
    const doc = policyInput(one(qa, "aws:iam/rolePolicy:RolePolicy", "churn-predictor-qa-execution-policy"));
    const resourceOf = (sid: string) => doc.Statement.find((s: { Sid?: string }) => s.Sid === sid)?.Resource;
    expect(resourceOf("RegistryArtifacts")).toBe(`arn:aws:s3:::churn-predictor-artifacts-${REGISTRY_ACCOUNT}-${REGION}/*`);
    expect(resourceOf("RegistryKeyByAlias")).toBe(`arn:aws:kms:${REGION}:${REGISTRY_ACCOUNT}:key/*`);
    expect(resourceOf("RegistryModelVersions")).toEqual([
      `arn:aws:sagemaker:${REGION}:${REGISTRY_ACCOUNT}:model-package/churn-predictor-churn-scorer/*`,
      `arn:aws:sagemaker:${REGION}:${REGISTRY_ACCOUNT}:model-package/churn-predictor-doc-embedder/*`,
    ]);
    expect(resourceOf("RegistryImages")).toBe(`arn:aws:ecr:${REGION}:${REGISTRY_ACCOUNT}:repository/churn-predictor-inference`);
    // No statement reaches into the first stage's account, which hosts the registry only by default.
    expect(JSON.stringify(doc)).not.toContain("404040404041");
  });

  it("GIVEN endpoints in Pulumi.registry.yaml WHEN the registry stack runs THEN it is refused, pointing at the stages' stack files", async () => {
    const text = parseDocument(registryStarter(dedicated()));
    const sandboxFile = parseDocument(readFileSync(join(FIXTURE_ROOT, "Pulumi.sandbox.yaml"), "utf8"));
    text.setIn(endpointPath("churn-scorer"), sandboxFile.getIn(endpointPath("churn-scorer")));
    const withEndpoints = projectFor(dedicated(), text.toString());
    expect(await failureOf(REGISTRY_STACK, withEndpoints)).toBe("invalid stack configuration:\n"
      + "Pulumi.registry.yaml: mlplatform:endpoints: the dedicated registry stack \"registry\" serves no endpoints; define endpoints in the stages' stack files");
  });
});

describe("a registry placement the schema refuses", () => {
  it("GIVEN registryStage together with registryAccountId WHEN a stack runs THEN Pulumi.yaml is refused naming registryStage", async () => {
    const dir = projectFor(dedicated({ registryStage: "sandbox" }), lockOnly(REGISTRY_ACCOUNT));
    expect(await failureOf("qa", dir)).toBe("invalid stack configuration:\n"
      + "Pulumi.yaml: mlplatform:registryStage: cannot be set together with registryAccountId: the registry lives either in a stage's account or in a dedicated one");
  });

  it("GIVEN a registryAccountId that is a stage's account WHEN a stack runs THEN Pulumi.yaml is refused, suggesting registryStage", async () => {
    const dir = projectFor(dedicated({ registryAccountId: "404040404042" }), lockOnly("404040404042"));
    expect(await failureOf("sandbox", dir)).toBe("invalid stack configuration:\n"
      + "Pulumi.yaml: mlplatform:registryAccountId: 404040404042 is the account of stage \"qa\"; for a registry in a stage's account set registryStage: \"qa\" instead");
  });

  it("GIVEN a stage named registry WHEN a stack runs THEN Pulumi.yaml is refused, asking for another name", async () => {
    const stages = FIXTURE_DEFINITION.stages.map((s) => (s.name === "qa" ? { ...s, name: REGISTRY_STACK } : s));
    const dir = projectFor({ ...FIXTURE_DEFINITION, stages });
    expect(await failureOf("sandbox", dir)).toBe("invalid stack configuration:\n"
      + "Pulumi.yaml: mlplatform:stages[1].name: \"registry\" is the name of the dedicated registry stack; choose another stage name");
  });

  it("GIVEN the same definitions in .projenrc.ts WHEN projen reads them THEN each is refused there too", () => {
    expect(() => parseServiceDefinition(dedicated({ registryStage: "sandbox" })))
      .toThrow(".projenrc.ts: registryStage: cannot be set together with registryAccountId");
    expect(() => parseServiceDefinition(dedicated({ registryAccountId: "404040404043" })))
      .toThrow(".projenrc.ts: registryAccountId: 404040404043 is the account of stage \"prod\"");
  });
});

describe("the registry in a stage's account", () => {
  it("GIVEN no registryStage and no registryAccountId WHEN the stacks run THEN the first stage hosts the registry and the others use it", async () => {
    const { registryStage: _stage, ...withoutStage } = FIXTURE_DEFINITION;
    const dir = projectFor(withoutStage);
    const sandbox = await runStack("sandbox", dir);
    expect(ofType(sandbox.resources, "mlplatform:registry:RegistryAccount")).toHaveLength(1);
    expect(names(sandbox, "aws:s3/bucket:Bucket", "bucket")).toEqual([
      `churn-predictor-artifacts-404040404041-${REGION}`,
      `churn-predictor-sandbox-404040404041-${REGION}`,
    ]);
    const qa = await runStack("qa", dir);
    expect(ofType(qa.resources, "mlplatform:registry:RegistryAccount")).toEqual([]);
    expect(one(qa, "aws:sagemaker/model:Model", "churn-predictor-churn-scorer-model").inputs.primaryContainer)
      .toEqual({ modelPackageName: `arn:aws:sagemaker:${REGION}:404040404041:model-package/churn-predictor-churn-scorer/6` });
  });

  it("GIVEN stages listed with qa first and no registryStage WHEN the qa stack runs THEN qa, the first stage, hosts the registry", async () => {
    const stages = [FIXTURE_DEFINITION.stages[1], FIXTURE_DEFINITION.stages[0], FIXTURE_DEFINITION.stages[2]];
    const { registryStage: _stage, ...withoutStage } = FIXTURE_DEFINITION;
    const dir = projectFor({ ...withoutStage, stages });
    const qa = await runStack("qa", dir);
    expect(names(qa, "aws:s3/bucket:Bucket", "bucket")).toContain(`churn-predictor-artifacts-404040404042-${REGION}`);
    const sandbox = await runStack("sandbox", dir);
    expect(ofType(sandbox.resources, "mlplatform:registry:RegistryAccount")).toEqual([]);
  });
});

describe("the offline plan of a service with a dedicated registry", () => {
  it("GIVEN registryAccountId WHEN the project is read THEN the registry stack comes first, with its account", () => {
    const info = readProjectInfo(projectFor(dedicated()));
    expect(info.stages).toEqual([REGISTRY_STACK, ...FIXTURE_STAGES]);
    expect(info.accounts).toEqual({ registry: REGISTRY_ACCOUNT, sandbox: "404040404041", qa: "404040404042", prod: "404040404043" });
  });

  it("GIVEN every stack WHEN planned THEN the registry is planned first, in its account, with no error and no endpoint estimate", async () => {
    const dir = projectFor(dedicated());
    const plans = await planStacks(dir, readProjectInfo(dir).stages);
    expect(plans.map((p) => [p.stack, p.account, p.region])).toEqual([
      [REGISTRY_STACK, REGISTRY_ACCOUNT, REGION],
      ["sandbox", "404040404041", REGION],
      ["qa", "404040404042", REGION],
      ["prod", "404040404043", REGION],
    ]);
    const [registry] = plans;
    expect(registry.findings.filter((f) => f.severity === "error")).toEqual([]);
    expect(registry.estimates.endpoints).toEqual([]);
    expect(registry.resources.find((r) => r.type === "aws:s3/bucket:Bucket")?.physicalName).toBe(`churn-predictor-artifacts-${REGISTRY_ACCOUNT}-${REGION}`);
  });

  it("GIVEN the plan command with an unknown stack WHEN run THEN it lists the registry stack first", async () => {
    const err: string[] = [];
    const code = await main(["--stack", "staging"], { out: () => undefined, err: (l) => err.push(l) }, projectFor(dedicated()));
    expect([code, err.join("\n")]).toEqual([2,
      "plan: --stack: unknown stack \"staging\"; the stacks are registry, sandbox, qa, prod (mlplatform:stages in Pulumi.yaml) (see plan --help)"]);
  });
});
