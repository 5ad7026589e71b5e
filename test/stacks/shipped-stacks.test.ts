import { planStack } from "../../scripts/plan/engine";
import type { OfflineRun, RegisteredResource } from "../../stacks/offline-run";
import { ofType } from "../support/mocks";
import { policyInput } from "../support/resources";
import { copyProject, endpointPath, REPO_ROOT, runStack, STAGES } from "../support/stack-files";

const ACCOUNTS: Record<string, string> = { sandbox: "111111111111", qa: "222222222222", prod: "333333333333" };
const REGION = "eu-west-1";

type Doc = import("../../components/policies").PolicyDocument;

const runs: Record<string, OfflineRun> = {};

beforeAll(async () => {
  for (const stage of STAGES) runs[stage] = await runStack(stage);
});

function one(run: OfflineRun, type: string, nameSuffix: string): RegisteredResource {
  const found = ofType(run.resources, type).filter((r) => r.name.endsWith(nameSuffix));
  expect(found).toHaveLength(1);
  return found[0];
}

function statement(d: Doc, sid: string) {
  const found = d.Statement.find((s) => s.Sid === sid);
  if (!found) throw new Error(`no statement ${sid}`);
  return found;
}

const list = (value: unknown): string[] => ([] as string[]).concat(value as string | string[]);

describe("the shipped stacks", () => {
  it.each(STAGES)("GIVEN the %s stack THEN it has exactly one AWS provider, pinned to its own account and region", (stage) => {
    const providers = ofType(runs[stage].resources, "pulumi:providers:aws");
    expect(providers).toHaveLength(1);
    expect(providers[0].inputs.allowedAccountIds).toEqual(JSON.stringify([ACCOUNTS[stage]]));
    expect(providers[0].inputs.region).toBe(REGION);
  });

  it.each(STAGES)("GIVEN the %s stack THEN every cloud resource is created through that provider", (stage) => {
    const provider = ofType(runs[stage].resources, "pulumi:providers:aws")[0];
    const custom = runs[stage].resources.filter((r) => r.custom && r.type !== "pulumi:providers:aws");
    expect(custom.length).toBeGreaterThan(20);
    for (const resource of custom) expect(resource.provider).toBe(`${provider.urn}::${provider.name}-id`);
  });

  it("GIVEN the registry stage THEN only the sandbox stack builds the registry", () => {
    expect(ofType(runs.sandbox.resources, "mlplatform:registry:RegistryAccount")).toHaveLength(1);
    expect(ofType(runs.qa.resources, "mlplatform:registry:RegistryAccount")).toHaveLength(0);
    expect(ofType(runs.prod.resources, "mlplatform:registry:RegistryAccount")).toHaveLength(0);
    expect(ofType(runs.sandbox.resources, "aws:sagemaker/modelPackageGroup:ModelPackageGroup").map((r) => r.inputs.modelPackageGroupName).sort())
      .toEqual(["fraud-detection-fraud-scorer", "fraud-detection-txn-embedder"]);
  });

  it.each(STAGES)("GIVEN the %s stack THEN it has its own bucket, execution role and CI roles, named for its account", (stage) => {
    const run = runs[stage];
    expect(one(run, "aws:s3/bucket:Bucket", `${stage}-bucket-bucket`).inputs.bucket).toBe(`fraud-detection-${stage}-${ACCOUNTS[stage]}-${REGION}`);
    expect(one(run, "aws:iam/role:Role", "-execution-role").inputs.name).toBe(`fraud-detection-${stage}-sagemaker-execution`);
    expect(one(run, "aws:iam/role:Role", "-deployer-role").inputs.name).toBe(`fraud-detection-${stage}-deployer`);
    expect(one(run, "aws:iam/role:Role", "-previewer-role").inputs.name).toBe(`fraud-detection-${stage}-previewer`);
  });

  it.each(STAGES)("GIVEN the %s stack THEN Models and EndpointConfigurations get no explicit name and Endpoints keep a stable one", (stage) => {
    const run = runs[stage];
    const models = ofType(run.resources, "aws:sagemaker/model:Model");
    const configs = ofType(run.resources, "aws:sagemaker/endpointConfiguration:EndpointConfiguration");
    expect(models).toHaveLength(2);
    expect(configs).toHaveLength(2);
    for (const r of [...models, ...configs]) expect(r.inputs.name).toBeUndefined();
    expect(ofType(run.resources, "aws:sagemaker/endpoint:Endpoint").map((r) => r.inputs.name).sort())
      .toEqual(["fraud-detection-fraud-scorer", "fraud-detection-txn-embedder"]);
  });

  it.each(STAGES)("GIVEN the %s stack THEN every workload role carries the stage's permissions boundary and the CI roles do not", async (stage) => {
    // The plan's provider model gives the boundary policy its real ARN (the bare mocks echo inputs only).
    const plan = await planStack(REPO_ROOT, stage);
    const boundaryArn = `arn:aws:iam::${ACCOUNTS[stage]}:policy/fraud-detection-${stage}-workload-boundary`;
    expect(plan.resources.filter((r) => r.type === "aws:iam/policy:Policy").map((r) => r.id)).toEqual([boundaryArn]);
    const roles = plan.resources.filter((r) => r.type === "aws:iam/role:Role");
    for (const role of roles) {
      const ci = /-(deployer|previewer)-role$/.test(role.name);
      expect([role.name, role.inputs.permissionsBoundary]).toEqual([role.name, ci ? undefined : boundaryArn]);
    }
    expect(roles.filter((r) => r.inputs.permissionsBoundary !== undefined)).toHaveLength(stage === "sandbox" ? 2 : 1);
  });

  it("GIVEN production THEN every endpoint runs at least two instances and deploys as a canary with auto-rollback", () => {
    for (const config of ofType(runs.prod.resources, "aws:sagemaker/endpointConfiguration:EndpointConfiguration")) {
      const variants = config.inputs.productionVariants as { initialInstanceCount: number }[];
      expect(variants[0].initialInstanceCount).toBeGreaterThanOrEqual(2);
    }
    for (const endpoint of ofType(runs.prod.resources, "aws:sagemaker/endpoint:Endpoint")) {
      const deployment = endpoint.inputs.deploymentConfig as {
        blueGreenUpdatePolicy: { trafficRoutingConfiguration: { type: string } };
        autoRollbackConfiguration: { alarms: { alarmName: string }[] };
      };
      expect(deployment.blueGreenUpdatePolicy.trafficRoutingConfiguration.type).toBe("CANARY");
      expect(deployment.autoRollbackConfiguration.alarms.length).toBeGreaterThanOrEqual(2);
    }
  });

  it.each(STAGES)("GIVEN the %s stack THEN every rollback alarm is created in the same stack (the endpoint's account)", (stage) => {
    const alarmNames = new Set(ofType(runs[stage].resources, "aws:cloudwatch/metricAlarm:MetricAlarm").map((r) => r.inputs.name));
    for (const endpoint of ofType(runs[stage].resources, "aws:sagemaker/endpoint:Endpoint")) {
      const alarms = (endpoint.inputs.deploymentConfig as { autoRollbackConfiguration: { alarms: { alarmName: string }[] } })
        .autoRollbackConfiguration.alarms;
      for (const alarm of alarms) expect(alarmNames.has(alarm.alarmName)).toBe(true);
    }
  });

  it("GIVEN per-stage settings THEN instance types differ between sandbox and prod", () => {
    const typeOf = (run: OfflineRun) => ofType(run.resources, "aws:sagemaker/endpointConfiguration:EndpointConfiguration")
      .map((c) => (c.inputs.productionVariants as { instanceType: string }[])[0].instanceType).sort();
    expect(typeOf(runs.sandbox)).not.toEqual(typeOf(runs.prod));
  });
});

describe("the cross-account grants", () => {
  const consumers = ["qa", "prod", "sandbox"];

  function executionRoleArn(stage: string): string {
    return `arn:aws:iam::${ACCOUNTS[stage]}:role/${String(one(runs[stage], "aws:iam/role:Role", "-execution-role").inputs.name)}`;
  }

  function executionPolicy(stage: string): Doc {
    return policyInput(one(runs[stage], "aws:iam/rolePolicy:RolePolicy", "-execution-policy"), "policy");
  }

  it("GIVEN the registry bucket policy THEN it grants read to exactly the execution roles the consumer stacks create", () => {
    const policy: Doc = policyInput(one(runs.sandbox, "aws:s3/bucketPolicy:BucketPolicy", "registry-artifacts-policy"), "policy");
    const read = statement(policy, "ConsumersReadArtifacts");
    expect(list(read.Condition?.ArnEquals["aws:PrincipalArn"]).sort()).toEqual(consumers.map(executionRoleArn).sort());
    expect(list((read.Principal as { AWS: string[] }).AWS).sort()).toEqual(consumers.map((s) => `arn:aws:iam::${ACCOUNTS[s]}:root`).sort());
  });

  it.each(["qa", "prod"])("GIVEN the %s execution role THEN it reads exactly the bucket the registry stack creates", (stage) => {
    const registryBucket = String(one(runs.sandbox, "aws:s3/bucket:Bucket", "registry-artifacts-bucket").inputs.bucket);
    const policy = executionPolicy(stage);
    expect(statement(policy, "RegistryArtifacts").Resource).toBe(`arn:aws:s3:::${registryBucket}/*`);
    expect(statement(policy, "RegistryArtifactsList").Resource).toBe(`arn:aws:s3:::${registryBucket}`);
  });

  it.each(["qa", "prod"])("GIVEN the %s execution role THEN it decrypts with the registry key through the alias the registry creates", (stage) => {
    const alias = String(one(runs.sandbox, "aws:kms/alias:Alias", "registry-key-alias").inputs.name);
    const grant = statement(executionPolicy(stage), "RegistryKeyByAlias");
    expect(grant.Resource).toBe(`arn:aws:kms:${REGION}:${ACCOUNTS.sandbox}:key/*`);
    expect(grant.Condition?.["ForAnyValue:StringEquals"]["kms:ResourceAliases"]).toBe(alias);
  });

  it("GIVEN the registry key policy THEN it lets exactly the consumer execution roles decrypt", () => {
    const policy: Doc = policyInput(one(runs.sandbox, "aws:kms/key:Key", "registry-key-key"), "policy");
    const grant = statement(policy, "ConsumersDecrypt");
    expect(list(grant.Action).sort()).toEqual(["kms:Decrypt", "kms:DescribeKey"]);
    expect(list(grant.Condition?.ArnEquals["aws:PrincipalArn"]).sort()).toEqual(consumers.map(executionRoleArn).sort());
  });

  it.each(["qa", "prod"])("GIVEN the %s execution role THEN the model groups it may read are the ones the registry shares with its account", (stage) => {
    const groups = ofType(runs.sandbox.resources, "aws:sagemaker/modelPackageGroup:ModelPackageGroup").map((g) => String(g.inputs.modelPackageGroupName));
    const groupArns = groups.map((g) => `arn:aws:sagemaker:${REGION}:${ACCOUNTS.sandbox}:model-package-group/${g}`).sort();
    expect(list(statement(executionPolicy(stage), "RegistryModelGroups").Resource).sort()).toEqual(groupArns);
    for (const groupPolicy of ofType(runs.sandbox.resources, "aws:sagemaker/modelPackageGroupPolicy:ModelPackageGroupPolicy")) {
      const shared: Doc = policyInput(groupPolicy, "resourcePolicy");
      expect(list((statement(shared, "ConsumersUseVersions").Principal as { AWS: string[] }).AWS)).toContain(`arn:aws:iam::${ACCOUNTS[stage]}:root`);
    }
  });

  it.each(["qa", "prod"])("GIVEN the %s execution role THEN it pulls from exactly the repository the registry creates, which lets it pull", (stage) => {
    const repo = one(runs.sandbox, "aws:ecr/repository:Repository", "registry-images");
    expect(statement(executionPolicy(stage), "RegistryImages").Resource)
      .toBe(`arn:aws:ecr:${REGION}:${ACCOUNTS.sandbox}:repository/${String(repo.inputs.name)}`);
    const repoPolicy: Doc = policyInput(one(runs.sandbox, "aws:ecr/repositoryPolicy:RepositoryPolicy", "registry-images-policy"), "policy");
    expect(list(statement(repoPolicy, "ConsumersPull").Condition?.ArnEquals["aws:PrincipalArn"])).toContain(executionRoleArn(stage));
  });

  it.each(["qa", "prod"])("GIVEN the %s stack's served images and model data THEN they live where its execution role may read", (stage) => {
    const policy = executionPolicy(stage);
    const readable = [...list(statement(policy, "RegistryArtifacts").Resource), ...list(statement(policy, "OwnBucketObjects").Resource)];
    for (const model of ofType(runs[stage].resources, "aws:sagemaker/model:Model")) {
      const container = model.inputs.primaryContainer as { modelDataUrl?: string; modelPackageName?: string };
      if (container.modelDataUrl) {
        const bucket = container.modelDataUrl.slice("s3://".length).split("/")[0];
        expect(readable).toContain(`arn:aws:s3:::${bucket}/*`);
      } else {
        expect(container.modelPackageName).toMatch(new RegExp(`^arn:aws:sagemaker:${REGION}:${ACCOUNTS.sandbox}:model-package/`));
      }
    }
  });
});

describe("the endpoint invariants", () => {
  async function endpointsAfter(stage: string, edit: (doc: import("yaml").Document) => void) {
    const copy = copyProject(stage, { stack: edit });
    try {
      return await runStack(stage, copy.dir);
    } finally {
      copy.cleanup();
    }
  }

  function endpointSummary(run: OfflineRun) {
    return ofType(run.resources, "aws:sagemaker/endpoint:Endpoint").map((e) => ({
      name: e.inputs.name,
      alarms: (e.inputs.deploymentConfig as { autoRollbackConfiguration: unknown }).autoRollbackConfiguration,
    }));
  }

  it("GIVEN a new model version in prod WHEN the stack runs THEN the Model changes while each Endpoint's name and rollback alarms do not", async () => {
    const after = await endpointsAfter("prod", (d) => d.setIn(endpointPath("fraud-scorer", "source", "modelPackageArn"),
      "arn:aws:sagemaker:eu-west-1:111111111111:model-package/fraud-detection-fraud-scorer/8"));
    const modelOf = (run: OfflineRun) => one(run, "aws:sagemaker/model:Model", "fraud-scorer-model").inputs.primaryContainer;
    expect(modelOf(after)).not.toEqual(modelOf(runs.prod));
    expect(endpointSummary(after)).toEqual(endpointSummary(runs.prod));
  });

  it("GIVEN a new instance type in prod WHEN the stack runs THEN the EndpointConfiguration changes while each Endpoint's name and rollback alarms do not", async () => {
    const after = await endpointsAfter("prod", (d) => d.setIn(endpointPath("fraud-scorer", "instanceType"), "ml.c5.4xlarge"));
    const variantsOf = (run: OfflineRun) => one(run, "aws:sagemaker/endpointConfiguration:EndpointConfiguration", "fraud-scorer-config").inputs.productionVariants;
    expect(variantsOf(after)).not.toEqual(variantsOf(runs.prod));
    expect(endpointSummary(after)).toEqual(endpointSummary(runs.prod));
  });
});
