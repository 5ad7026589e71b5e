import { createHash } from "node:crypto";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CreateModelPackageCommand,
  ListModelPackagesCommand,
  type ListModelPackagesCommandInput,
  type ListModelPackagesCommandOutput,
  type ModelPackageSummary,
  SageMakerClient,
  SageMakerServiceException,
  UpdateModelPackageCommand,
} from "@aws-sdk/client-sagemaker";
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient, STSServiceException } from "@aws-sdk/client-sts";
import { mockClient } from "aws-sdk-client-mock";
import { Project, Testing } from "projen";
import { ecrRegistryHost, modelPackageGroupName, REGISTRY_STACK, registryNames, roleArn, stageNames, TRAINING_OUTPUT_PREFIX } from "../../components/names";
import { addScriptTasks } from "../../projen/script-tasks";
import { latestApproved, listVersions } from "../../scripts/lib/registry";
import { XGBOOST_IMAGE_SOURCE, XGBOOST_REGISTRY_ACCOUNTS, XGBOOST_VERSIONS } from "../../scripts/lib/retrain/xgboost-images";
import { main } from "../../scripts/registry";
import { readProjectConfig } from "../../stacks/config/files";
import { registryPlacement } from "../../stacks/config/schema";
import { FIXTURE_ROOT } from "../fixtures/project";

const sm = mockClient(SageMakerClient);
const sts = mockClient(STSClient);

/** The fixture project's Pulumi.yaml in a temporary directory, and the names the registry derives from it. */
function fixture() {
  const dir = mkdtempSync(join(tmpdir(), "registry-"));
  copyFileSync(join(FIXTURE_ROOT, "Pulumi.yaml"), join(dir, "Pulumi.yaml"));
  const { project, region } = readProjectConfig(dir);
  const { accountId: registryAccountId } = registryPlacement(project);
  const otherAccountId = project.stages.find((s) => s.accountId !== registryAccountId)!.accountId;
  const account = { accountId: registryAccountId, region };
  const [model, secondModel] = project.models;
  const group = modelPackageGroupName(project.serviceName, model);
  const names = registryNames(project.serviceName, account);
  const repository = `${ecrRegistryHost(account)}/${names.ecrRepository}`;
  return {
    dir,
    project,
    region,
    registryAccountId,
    otherAccountId,
    model,
    secondModel,
    group,
    bucket: names.artifactBucket,
    repository,
    image: `${repository}:v7`,
    roles: {
      publish: roleArn(account, names.publisherRole),
      approve: roleArn(account, names.approverRole),
      read: roleArn(account, registryNames(project.serviceName, account).readerRole),
    },
    deployerRoleArn: roleArn(account, stageNames(project.serviceName, REGISTRY_STACK, account).deployerRole),
    versionArn: (version: number, g = group) => `arn:aws:sagemaker:${region}:${registryAccountId}:model-package/${g}/${version}`,
  };
}

let f: ReturnType<typeof fixture>;
beforeEach(() => {
  sm.reset();
  sts.reset();
  f = fixture();
  // A person in the registry account, who holds no registry role yet: each command assumes its own.
  sts.on(GetCallerIdentityCommand).resolves({ Account: f.registryAccountId, Arn: `arn:aws:sts::${f.registryAccountId}:assumed-role/dev/alice` });
  sts.on(AssumeRoleCommand).resolves({ Credentials: { AccessKeyId: "ASIAROLE", SecretAccessKey: "s", SessionToken: "t", Expiration: new Date() } });
});

type Purpose = "publish" | "approve" | "read";
const TITLES: Record<Purpose, string> = {
  publish: "the publisher role",
  approve: "the approver role",
  read: "the reader role",
};
/** The line on stderr that says which role a command acts as, and why. */
const roleLine = (purpose: Purpose) => `registry: as ${f.roles[purpose]} (${TITLES[purpose]}; --role-arn overrides)`;
/** The RoleArn of every AssumeRole call. */
const assumedRoles = () => sts.commandCalls(AssumeRoleCommand).map((c) => c.args[0].input.RoleArn);
afterEach(() => rmSync(f.dir, { recursive: true, force: true }));

async function run(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { cwd: f.dir, io: { out: (l) => out.push(l), err: (l) => err.push(l) }, sleep: async () => {} });
  return { code, out, err };
}

function summary(version: number, status: string, created: string): ModelPackageSummary {
  return {
    ModelPackageArn: f.versionArn(version),
    ModelPackageVersion: version,
    ModelPackageGroupName: f.group,
    ModelApprovalStatus: status as ModelPackageSummary["ModelApprovalStatus"],
    ModelPackageStatus: "Completed",
    CreationTime: new Date(created),
  };
}

/** Serves `pages` in order, linked by NextToken, and records the token each request carried. */
function servePages(pages: ModelPackageSummary[][]) {
  const tokens: (string | undefined)[] = [];
  const inputs: ListModelPackagesCommandInput[] = [];
  sm.on(ListModelPackagesCommand).callsFake((input: ListModelPackagesCommandInput): ListModelPackagesCommandOutput => {
    tokens.push(input.NextToken);
    inputs.push({ ...input });
    const index = input.NextToken === undefined ? 0 : Number(input.NextToken.replace("page-", ""));
    return {
      ModelPackageSummaryList: pages[index],
      NextToken: index + 1 < pages.length ? `page-${index + 1}` : undefined,
      $metadata: {},
    };
  });
  return { tokens, inputs };
}

const throttled = () => new SageMakerServiceException({
  name: "ThrottlingException", message: "Rate exceeded", $fault: "client", $metadata: { httpStatusCode: 400 },
});

describe("list", () => {
  test("collects every page and prints the versions newest first", async () => {
    // GIVEN two pages, not in creation order
    const { tokens, inputs } = servePages([
      [summary(2, "Approved", "2026-02-01T00:00:00Z"), summary(4, "PendingManualApproval", "2026-04-01T00:00:00Z")],
      [summary(1, "Rejected", "2026-01-01T00:00:00Z"), summary(3, "Approved", "2026-03-01T00:00:00Z")],
    ]);
    // WHEN
    const { code, out } = await run("list", "--model", f.model);
    // THEN
    expect(code).toBe(0);
    expect(tokens).toEqual([undefined, "page-1"]);
    expect(inputs[0]).toMatchObject({ ModelPackageGroupName: f.group, SortBy: "CreationTime", SortOrder: "Descending" });
    expect(out[0]).toMatch(/^VERSION\s+STATUS\s+CREATED\s+ARN$/);
    expect(out.slice(1).map((line) => line.split(/\s+/).slice(0, 2).join(" "))).toEqual([
      "4 PendingManualApproval", "3 Approved", "2 Approved", "1 Rejected",
    ]);
    expect(out[1]).toContain("2026-04-01T00:00:00.000Z");
    expect(out[1]).toContain(f.versionArn(4));
  });

  test("--status filters by approval status and --json prints the versions", async () => {
    // GIVEN
    const { inputs } = servePages([[summary(3, "Approved", "2026-03-01T00:00:00Z")]]);
    // WHEN
    const { code, out } = await run("list", "--model", f.model, "--status", "Approved", "--json");
    // THEN
    expect(code).toBe(0);
    expect(inputs[0].ModelApprovalStatus).toBe("Approved");
    expect(JSON.parse(out.join("\n"))).toEqual([{
      arn: f.versionArn(3), version: 3, approvalStatus: "Approved", packageStatus: "Completed", createdAt: "2026-03-01T00:00:00.000Z",
    }]);
  });

  test("an unknown --status is bad usage", async () => {
    const { code, err } = await run("list", "--model", f.model, "--status", "approved");
    expect(code).toBe(2);
    expect(err[0]).toBe('registry: --status must be one of Approved, PendingManualApproval, Rejected; got "approved" (see registry --help)');
  });

  test("a group without versions says so", async () => {
    servePages([[]]);
    const { code, out } = await run("list", "--model", f.model);
    expect(code).toBe(0);
    expect(out).toEqual([`no versions in ${f.group}`]);
  });
});

describe("throttling", () => {
  test("a throttled page is retried and the listing completes", async () => {
    // GIVEN page 2 is throttled once
    const pages = [[summary(2, "Approved", "2026-02-01T00:00:00Z")], [summary(1, "Approved", "2026-01-01T00:00:00Z")]];
    sm.on(ListModelPackagesCommand)
      .resolvesOnce({ ModelPackageSummaryList: pages[0], NextToken: "page-1" })
      .rejectsOnce(throttled())
      .resolvesOnce({ ModelPackageSummaryList: pages[1] });
    const sleeps: number[] = [];
    // WHEN
    const versions = await listVersions(new SageMakerClient({}), f.group, {}, { sleep: async (ms) => { sleeps.push(ms); } });
    // THEN
    expect(versions.map((v) => v.version)).toEqual([2, 1]);
    expect(sm.commandCalls(ListModelPackagesCommand)).toHaveLength(3);
    expect(sleeps).toHaveLength(1);
  });

  test("throttling beyond --max-attempts exits 1 with a clear message, after showing each retry", async () => {
    // GIVEN
    sm.on(ListModelPackagesCommand).rejects(throttled());
    // WHEN
    const { code, out, err } = await run("list", "--model", f.model, "--max-attempts", "3");
    // THEN
    expect(code).toBe(1);
    expect(out).toEqual([]);
    expect(err).toHaveLength(4);
    expect(err[0]).toBe(roleLine("read"));
    expect(err[1]).toMatch(/^registry: ListModelPackages: ThrottlingException, retrying in \d+\.\d s \(attempt 2 of 3\)$/);
    expect(err[3]).toBe("registry: ListModelPackages was throttled on all 3 attempts (last: ThrottlingException: Rate exceeded); "
      + "wait a minute and run it again, or allow more attempts with --max-attempts");
    expect(sm.commandCalls(ListModelPackagesCommand)).toHaveLength(3);
  });
});

describe("register", () => {
  const metrics = { mae: 0.125, rmse: 0.3, auc: 0.91 };
  let metricsFile: string;
  beforeEach(() => {
    metricsFile = join(f.dir, "evaluation.json");
    writeFileSync(metricsFile, JSON.stringify(metrics));
    sm.on(CreateModelPackageCommand).resolves({ ModelPackageArn: f.versionArn(5) });
  });
  const modelData = () => `s3://${f.bucket}/${f.model}/2026-11-02/model.tar.gz`;
  const register = (...extra: string[]) => run("register", "--model", f.model, "--image", f.image, "--model-data-url", modelData(), ...extra);

  test("sends a PendingManualApproval version to the model's group with image, data, content types and metrics", async () => {
    // WHEN
    const { code, out } = await register(
      "--content-type", "text/csv", "--content-type", "application/json", "--response-type", "application/json",
      "--instance-type", "ml.m5.large", "--metrics", metricsFile, "--metrics-s3-uri", `s3://${f.bucket}/${f.model}/2026-11-02/evaluation.json`,
      "--description", "weekly retrain");
    // THEN
    expect(code).toBe(0);
    const calls = sm.commandCalls(CreateModelPackageCommand);
    expect(calls).toHaveLength(1);
    const sha256 = createHash("sha256").update(JSON.stringify(metrics)).digest("hex");
    expect(calls[0].args[0].input).toEqual({
      ModelPackageGroupName: f.group,
      ModelPackageDescription: "weekly retrain",
      ModelApprovalStatus: "PendingManualApproval",
      ClientToken: expect.stringMatching(/^[0-9a-f-]{36}$/),
      InferenceSpecification: {
        Containers: [{ Image: f.image, ModelDataUrl: modelData() }],
        SupportedContentTypes: ["text/csv", "application/json"],
        SupportedResponseMIMETypes: ["application/json"],
        SupportedRealtimeInferenceInstanceTypes: ["ml.m5.large"],
      },
      CustomerMetadataProperties: { "metric:mae": "0.125", "metric:rmse": "0.3", "metric:auc": "0.91" },
      ModelMetrics: {
        ModelQuality: {
          Statistics: { ContentType: "application/json", S3Uri: `s3://${f.bucket}/${f.model}/2026-11-02/evaluation.json`, ContentDigest: `sha256:${sha256}` },
        },
      },
    });
    expect(out[0]).toBe(`registered ${f.model}: ${f.versionArn(5)} (PendingManualApproval)`);
  });

  test("without metrics or content types it records none of them", async () => {
    // WHEN
    const { code } = await register();
    // THEN
    expect(code).toBe(0);
    const input = sm.commandCalls(CreateModelPackageCommand)[0].args[0].input;
    expect(input.CustomerMetadataProperties).toBeUndefined();
    expect(input.ModelMetrics).toBeUndefined();
    expect(input.InferenceSpecification?.SupportedContentTypes).toBeUndefined();
  });

  test("a retried registration sends the same ClientToken, so it cannot create two versions", async () => {
    // GIVEN the first attempt fails with a 500 after SageMaker may have acted
    sm.on(CreateModelPackageCommand)
      .rejectsOnce(new SageMakerServiceException({ name: "InternalFailure", message: "oops", $fault: "server", $metadata: { httpStatusCode: 500 } }))
      .resolves({ ModelPackageArn: f.versionArn(5) });
    // WHEN
    const { code } = await register();
    // THEN
    expect(code).toBe(0);
    const tokens = sm.commandCalls(CreateModelPackageCommand).map((c) => c.args[0].input.ClientToken);
    expect(tokens).toHaveLength(2);
    expect(tokens[1]).toBe(tokens[0]);
  });

  test("a metrics file with a non-number is refused naming the file and the metric, before any AWS call", async () => {
    // GIVEN
    writeFileSync(metricsFile, JSON.stringify({ mae: 0.1, rmse: "low" }));
    // WHEN
    const { code, err } = await register("--metrics", metricsFile);
    // THEN
    expect(code).toBe(1);
    expect(err).toEqual([`registry: ${metricsFile}: "rmse": must be a finite number, got "low"`]);
    expect(sm.calls()).toHaveLength(0);
    expect(sts.calls()).toHaveLength(0);
  });

  test("a metrics file that is not a flat object says what shape it needs", async () => {
    writeFileSync(metricsFile, "[0.1, 0.2]");
    const { code, err } = await register("--metrics", metricsFile);
    expect(code).toBe(1);
    expect(err[0]).toBe(`registry: ${metricsFile}: must be a JSON object of metric names to numbers, such as {"mae": 0.12, "rmse": 0.3}`);
  });

  test("model data outside the registry bucket is refused: the stage accounts could not read it", async () => {
    const { code, err } = await run("register", "--model", f.model, "--image", f.image, "--model-data-url", "s3://my-scratch-bucket/model.tar.gz");
    expect(code).toBe(2);
    expect(err[0]).toBe(`registry: --model-data-url must be in the registry bucket ${f.bucket}, which the stage accounts may read; `
      + 'got bucket "my-scratch-bucket" (see registry --help)');
    expect(sm.calls()).toHaveLength(0);
  });

  test("an image without a tag or digest is refused", async () => {
    const untagged = f.image.replace(/:v7$/, "");
    const { code, err } = await run("register", "--model", f.model, "--image", untagged, "--model-data-url", modelData());
    expect(code).toBe(2);
    expect(err[0]).toContain("--image must be an ECR image with a tag or digest");
  });

  test("an image in another region is refused", async () => {
    const elsewhere = f.image.replace(`.ecr.${f.region}.`, ".ecr.us-west-2.");
    const { code, err } = await run("register", "--model", f.model, "--image", elsewhere, "--model-data-url", modelData());
    expect(code).toBe(2);
    expect(err[0]).toContain(`--image must be in ${f.region}, the registry's region`);
  });

  test("--metrics-s3-uri needs the local file, whose digest it records", async () => {
    const { code, err } = await register("--metrics-s3-uri", `s3://${f.bucket}/evaluation.json`);
    expect(code).toBe(2);
    expect(err[0]).toBe("registry: --metrics-s3-uri needs --metrics, the local copy of the same report (see registry --help)");
  });

  test("a missing required option is bad usage", async () => {
    const { code, err } = await run("register", "--model", f.model, "--image", f.image);
    expect(code).toBe(2);
    expect(err[0]).toBe("registry: --model-data-url is required (see registry --help)");
  });

  /** A refusal at the door: bad usage in one line, and no AWS call at all. */
  function expectRefusedBeforeAws(result: { code: number; out: string[]; err: string[] }, message: string) {
    expect(result.code).toBe(2);
    expect(result.out).toEqual([]);
    expect(result.err).toEqual([`registry: ${message} (see registry --help)`]);
    expect(sm.commandCalls(CreateModelPackageCommand)).toHaveLength(0);
    expect(sm.calls()).toHaveLength(0);
    expect(sts.calls()).toHaveLength(0);
  }

  test("an image pinned by digest in the registry repository is registered as given", async () => {
    const pinned = `${f.repository}@sha256:${"a1".repeat(32)}`;
    const { code } = await run("register", "--model", f.model, "--image", pinned, "--model-data-url", modelData());
    expect(code).toBe(0);
    const containers = sm.commandCalls(CreateModelPackageCommand)[0].args[0].input.InferenceSpecification?.Containers;
    expect(containers).toEqual([{ Image: pinned, ModelDataUrl: modelData() }]);
  });

  test.each([
    ["another account's repository", (region: string) => `123456789012.dkr.ecr.${region}.amazonaws.com/random:v1`, "v1"],
    ["another repository of the registry account", (region: string) => `${f.registryAccountId}.dkr.ecr.${region}.amazonaws.com/random:v1`, "v1"],
    ["a repository whose name starts with the registry's", () => `${f.repository}-old:v1`, "v1"],
    ["a repository under the registry's", () => `${f.repository}/nested:v1`, "v1"],
    ["another account's image pinned by digest", (region: string) => `123456789012.dkr.ecr.${region}.amazonaws.com/random@sha256:${"b2".repeat(32)}`, "<tag>"],
  ])("an image from %s is refused naming the registry repository and how to push there, with no AWS call", async (_name, image, tag) => {
    // GIVEN
    const foreign = image(f.region);
    // WHEN
    const result = await run("register", "--model", f.model, "--image", foreign, "--model-data-url", modelData());
    // THEN
    expectRefusedBeforeAws(result, `--image must be in the registry's ECR repository ${f.repository}, the only one the stages' execution roles may pull from; `
      + `got "${foreign}": push it there with the publisher role (docker tag ${foreign} ${f.repository}:${tag} && docker push ${f.repository}:${tag}) `
      + `and register ${f.repository}:${tag}`);
  });

  test("without an ECR repository in the service definition, any image is refused, saying how to get one", async () => {
    // GIVEN the fixture's definition with ecrRepository: false
    const file = join(f.dir, "Pulumi.yaml");
    const text = readFileSync(file, "utf8");
    expect(text).toContain("mlplatform:ecrRepository: true");
    writeFileSync(file, text.replace("mlplatform:ecrRepository: true", "mlplatform:ecrRepository: false"));
    // WHEN
    const result = await run("register", "--model", f.model, "--image", f.image, "--model-data-url", modelData());
    // THEN
    expectRefusedBeforeAws(result, "--image: the registry has no ECR repository: set ecrRepository: true in .projenrc.ts, "
      + "deploy the registry stack, and push the image there");
  });

  describe("the region's built-in XGBoost image (the retraining loop's)", () => {
    /** AWS's XGBoost images of the fixture's region, from the table of scripts/lib/retrain/xgboost-images.ts. */
    const builtIn = (suffix: string, account = XGBOOST_REGISTRY_ACCOUNTS[f.region], region = f.region) =>
      `${account}.dkr.ecr.${region}.amazonaws.com/sagemaker-xgboost${suffix}`;
    const withoutEcrRepository = () => {
      const file = join(f.dir, "Pulumi.yaml");
      writeFileSync(file, readFileSync(file, "utf8").replace("mlplatform:ecrRepository: true", "mlplatform:ecrRepository: false"));
    };

    test.each([
      ["a version tag", ":1.7-1"],
      ["a digest", `@sha256:${"c3".repeat(32)}`],
    ])("GIVEN no ECR repository and the built-in image with %s WHEN registered THEN the version uses it as given", async (_, suffix) => {
      // GIVEN
      withoutEcrRepository();
      const image = builtIn(suffix);
      // WHEN
      const { code } = await run("register", "--model", f.model, "--image", image, "--model-data-url", modelData());
      // THEN
      expect(code).toBe(0);
      const containers = sm.commandCalls(CreateModelPackageCommand)[0].args[0].input.InferenceSpecification?.Containers;
      expect(containers).toEqual([{ Image: image, ModelDataUrl: modelData() }]);
    });

    test("GIVEN a sagemaker-xgboost image of an account that does not publish it in the region WHEN registered THEN it is refused naming the right account, with no AWS call", async () => {
      // GIVEN another region's XGBoost account, in this region
      const own = XGBOOST_REGISTRY_ACCOUNTS[f.region];
      const otherAccount = Object.entries(XGBOOST_REGISTRY_ACCOUNTS).find(([r, a]) => r !== f.region && a !== own)![1];
      const image = builtIn(":1.7-1", otherAccount);
      // WHEN
      const result = await run("register", "--model", f.model, "--image", image, "--model-data-url", modelData());
      // THEN
      expectRefusedBeforeAws(result, `--image ${image} is not AWS's built-in XGBoost image of ${f.region}: its images come from account `
        + `${XGBOOST_REGISTRY_ACCOUNTS[f.region]}, got ${otherAccount}; use ${builtIn(`:${XGBOOST_VERSIONS[XGBOOST_VERSIONS.length - 1]}`)}`);
    });

    test("GIVEN the built-in image of another region WHEN registered THEN it is refused: SageMaker pulls from its own region", async () => {
      const image = builtIn(":1.7-1", XGBOOST_REGISTRY_ACCOUNTS["us-west-2"], "us-west-2");
      const result = await run("register", "--model", f.model, "--image", image, "--model-data-url", modelData());
      expectRefusedBeforeAws(result, `--image must be in ${f.region}, the registry's region (SageMaker pulls from its own region); got us-west-2`);
    });

    test("GIVEN a tag that is no version of the built-in image WHEN registered THEN it is refused listing the versions", async () => {
      const image = builtIn(":latest");
      const result = await run("register", "--model", f.model, "--image", image, "--model-data-url", modelData());
      expectRefusedBeforeAws(result, `--image ${image}: "latest" is not a version of the built-in XGBoost image; choose one of ${XGBOOST_VERSIONS.join(", ")}`);
    });

    test("GIVEN the registry in a region whose XGBoost account is not known WHEN a sagemaker-xgboost image is registered THEN it is refused saying so", async () => {
      // GIVEN the fixture moved to an isolated region, which the table leaves out
      const file = join(f.dir, "Pulumi.yaml");
      const text = readFileSync(file, "utf8");
      expect(text).toContain(`aws:region: ${f.region}`);
      writeFileSync(file, text.replace(`aws:region: ${f.region}`, "aws:region: us-iso-east-1"));
      const image = builtIn(":1.7-1", "123456789012", "us-iso-east-1");
      // WHEN
      const result = await run("register", "--model", f.model, "--image", image, "--model-data-url", modelData().replace(f.region, "us-iso-east-1"));
      // THEN
      expectRefusedBeforeAws(result, `--image ${image} is not AWS's built-in XGBoost image of us-iso-east-1: no XGBoost account is known for us-iso-east-1 `
        + `(${XGBOOST_IMAGE_SOURCE})`);
    });
  });

  test("model data under the training output prefix is refused: it stays writable; the message says how to make a write-once copy", async () => {
    // GIVEN
    const training = `s3://${f.bucket}/${TRAINING_OUTPUT_PREFIX}${f.model}/job-42/output/model.tar.gz`;
    // WHEN
    const result = await run("register", "--model", f.model, "--image", f.image, "--model-data-url", training);
    // THEN
    expectRefusedBeforeAws(result, `--model-data-url must not be under ${TRAINING_OUTPUT_PREFIX}: training output stays writable, so a version may not point at it; `
      + `got "${training}": upload a write-once copy under a new key with the publisher role (aws s3api put-object --bucket ${f.bucket} `
      + `--key models/${f.model}/<sha256>/model.tar.gz --body model.tar.gz --if-none-match '*') `
      + `and register s3://${f.bucket}/models/${f.model}/<sha256>/model.tar.gz`);
  });

  test("a key that only contains the training prefix further down is accepted", async () => {
    const url = `s3://${f.bucket}/models/${f.model}/${TRAINING_OUTPUT_PREFIX}model.tar.gz`;
    const { code } = await run("register", "--model", f.model, "--image", f.image, "--model-data-url", url);
    expect(code).toBe(0);
  });

  test("a metrics report outside the registry bucket is refused", async () => {
    const result = await register("--metrics", metricsFile, "--metrics-s3-uri", "s3://my-scratch-bucket/evaluation.json");
    expectRefusedBeforeAws(result, `--metrics-s3-uri must be in the registry bucket ${f.bucket}, which the stage accounts may read; got bucket "my-scratch-bucket"`);
  });

  test("a metrics report under the training output prefix is refused, proposing a key named by the report's sha256", async () => {
    // GIVEN
    const training = `s3://${f.bucket}/${TRAINING_OUTPUT_PREFIX}${f.model}/job-42/evaluation.json`;
    const sha256 = createHash("sha256").update(JSON.stringify(metrics)).digest("hex");
    // WHEN
    const result = await register("--metrics", metricsFile, "--metrics-s3-uri", training);
    // THEN
    expectRefusedBeforeAws(result, `--metrics-s3-uri must not be under ${TRAINING_OUTPUT_PREFIX}: training output stays writable, so a version may not point at it; `
      + `got "${training}": upload a write-once copy under a new key with the publisher role (aws s3api put-object --bucket ${f.bucket} `
      + `--key models/${f.model}/${sha256}/evaluation.json --body evaluation.json --if-none-match '*') `
      + `and register s3://${f.bucket}/models/${f.model}/${sha256}/evaluation.json`);
  });
});

describe("approve and reject", () => {
  beforeEach(() => sm.on(UpdateModelPackageCommand).resolves({ ModelPackageArn: f.versionArn(3) }));

  test.each([
    ["approve", "Approved", "approved"],
    ["reject", "Rejected", "rejected"],
  ])("%s sends the status %s with the description", async (command, status, verb) => {
    // WHEN
    const { code, out } = await run(command, "--arn", f.versionArn(3), "--description", "offline AUC 0.91, ticket ML-42");
    // THEN
    expect(code).toBe(0);
    expect(sm.commandCalls(UpdateModelPackageCommand).map((c) => c.args[0].input)).toEqual([{
      ModelPackageArn: f.versionArn(3), ModelApprovalStatus: status, ApprovalDescription: "offline AUC 0.91, ticket ML-42",
    }]);
    expect(out).toEqual([`${verb} ${f.model}: ${f.versionArn(3)}`]);
  });

  test("a version of a group that is not one of the service's models is refused", async () => {
    const { code, err } = await run("approve", "--arn", f.versionArn(1, "someone-elses-model"), "--description", "ok");
    expect(code).toBe(2);
    expect(err[0]).toMatch(/^registry: --arn is a version of group someone-elses-model, which is not one of this service's groups/);
    expect(sm.calls()).toHaveLength(0);
  });

  test("a version in another account than the registry's is refused", async () => {
    const foreign = f.versionArn(1).replace(`:${f.registryAccountId}:`, `:${f.otherAccountId}:`);
    const { code, err } = await run("approve", "--arn", foreign, "--description", "ok");
    expect(code).toBe(2);
    expect(err[0]).toBe(`registry: --arn must be in the registry account ${f.registryAccountId}, got ${f.otherAccountId} (see registry --help)`);
  });

  test("approval without a description is bad usage", async () => {
    const { code, err } = await run("approve", "--arn", f.versionArn(3));
    expect(code).toBe(2);
    expect(err[0]).toBe("registry: --description is required (see registry --help)");
    expect(sm.calls()).toHaveLength(0);
  });

  test("an AWS refusal exits 1 with one line", async () => {
    sm.on(UpdateModelPackageCommand).rejects(new SageMakerServiceException({
      name: "ValidationException", message: "Model package does not exist", $fault: "client", $metadata: { httpStatusCode: 400 },
    }));
    const { code, err } = await run("approve", "--arn", f.versionArn(9), "--description", "ok");
    expect(code).toBe(1);
    expect(err).toEqual([roleLine("approve"), "registry: AWS ValidationException: Model package does not exist"]);
  });
});

describe("latest-approved", () => {
  test("prints the newest Approved version, looking at every page", async () => {
    // GIVEN approved versions spread over two pages, the newest on the second
    const { inputs } = servePages([
      [summary(2, "Approved", "2026-02-01T00:00:00Z"), summary(1, "Approved", "2026-01-01T00:00:00Z")],
      [summary(6, "Approved", "2026-06-01T00:00:00Z")],
    ]);
    // WHEN
    const { code, out } = await run("latest-approved", "--model", f.model);
    // THEN
    expect(code).toBe(0);
    expect(out).toEqual([f.versionArn(6)]);
    expect(inputs[0]).toMatchObject({ ModelPackageGroupName: f.group, ModelApprovalStatus: "Approved" });
  });

  test("ignores anything but Approved even if the service returns it", async () => {
    servePages([[summary(7, "PendingManualApproval", "2026-07-01T00:00:00Z"), summary(3, "Approved", "2026-03-01T00:00:00Z")]]);
    const latest = await latestApproved(new SageMakerClient({}), f.group);
    expect(latest?.version).toBe(3);
  });

  test("exits 1 when no version is approved", async () => {
    servePages([[]]);
    const { code, out, err } = await run("latest-approved", "--model", f.model);
    expect(code).toBe(1);
    expect(out).toEqual([]);
    expect(err).toEqual([roleLine("read"),
      `registry: ${f.model} has no approved version in ${f.group}; approve one with "registry approve --arn ARN --description TEXT"`]);
  });
});

describe("unknown models", () => {
  test.each([
    ["list"], ["latest-approved"],
  ])("%s refuses a model the service does not have, listing the valid ones", async (command) => {
    const { code, err } = await run(command, "--model", "churn-scorer-v2");
    expect(code).toBe(2);
    expect(err).toEqual([`registry: unknown model "churn-scorer-v2"; this service's models are ${f.project.models.join(", ")} (see registry --help)`]);
    expect(sm.calls()).toHaveLength(0);
    expect(sts.calls()).toHaveLength(0);
  });

  test("register refuses it too", async () => {
    const { code, err } = await run("register", "--model", "nope", "--image", f.image, "--model-data-url", `s3://${f.bucket}/m.tar.gz`);
    expect(code).toBe(2);
    expect(err[0]).toContain(`unknown model "nope"; this service's models are ${f.project.models.join(", ")}`);
  });
});

describe("registry account access: each command acts as the role of its purpose", () => {
  beforeEach(() => {
    servePages([[summary(3, "Approved", "2026-03-01T00:00:00Z")]]);
    sm.on(CreateModelPackageCommand).resolves({ ModelPackageArn: f.versionArn(5) });
    sm.on(UpdateModelPackageCommand).resolves({ ModelPackageArn: f.versionArn(3) });
  });
  const commands: Record<string, () => string[]> = {
    "register": () => ["register", "--model", f.model, "--image", f.image, "--model-data-url", `s3://${f.bucket}/models/${f.model}/abc/model.tar.gz`],
    "approve": () => ["approve", "--arn", f.versionArn(3), "--description", "ok"],
    "reject": () => ["reject", "--arn", f.versionArn(3), "--description", "no"],
    "list": () => ["list", "--model", f.model],
    "latest-approved": () => ["latest-approved", "--model", f.model],
  };

  test.each([
    ["register", "publish"], ["approve", "approve"], ["reject", "approve"], ["list", "read"], ["latest-approved", "read"],
  ] as const)("%s assumes the %s role, even from the registry account, says so, and calls SageMaker with its credentials", async (command, purpose) => {
    // WHEN (the caller is in the registry account, but not the role)
    const { code, err } = await run(...commands[command]());
    // THEN
    expect(code).toBe(0);
    expect(assumedRoles()).toEqual([f.roles[purpose]]);
    expect(err).toEqual([roleLine(purpose)]);
    const client = sm.send.getCall(0).thisValue as SageMakerClient;
    expect(await client.config.credentials()).toMatchObject({ accessKeyId: "ASIAROLE" });
    expect(await client.config.region()).toBe(f.region);
  });

  test("no command acts as the registry stack's deployer role", () => {
    expect(Object.values(f.roles)).not.toContain(f.deployerRoleArn);
  });

  test("credentials of another account assume the role too", async () => {
    // GIVEN
    sts.on(GetCallerIdentityCommand).resolves({ Account: f.otherAccountId, Arn: `arn:aws:sts::${f.otherAccountId}:assumed-role/ci/run` });
    // WHEN
    const { code, err } = await run(...commands.approve());
    // THEN
    expect(code).toBe(0);
    expect(assumedRoles()).toEqual([f.roles.approve]);
    expect(err).toEqual([roleLine("approve")]);
  });

  test("credentials that already are the role use their own, assume nothing, and say so", async () => {
    // GIVEN the pipeline's session of the publisher role
    const name = f.roles.publish.split("/").pop()!;
    sts.on(GetCallerIdentityCommand).resolves({ Account: f.registryAccountId, Arn: `arn:aws:sts::${f.registryAccountId}:assumed-role/${name}/GitHubActions` });
    // WHEN
    const { code, err } = await run(...commands.register());
    // THEN
    expect(code).toBe(0);
    expect(sts.commandCalls(AssumeRoleCommand)).toHaveLength(0);
    expect(err).toEqual([`registry: as ${f.roles.publish} (the publisher role, already held by these credentials; --role-arn overrides)`]);
    expect(sm.commandCalls(CreateModelPackageCommand)).toHaveLength(1);
  });

  test("credentials of the publisher role still assume the approver role to approve", async () => {
    const name = f.roles.publish.split("/").pop()!;
    sts.on(GetCallerIdentityCommand).resolves({ Account: f.registryAccountId, Arn: `arn:aws:sts::${f.registryAccountId}:assumed-role/${name}/GitHubActions` });
    const { code } = await run(...commands.approve());
    expect(code).toBe(0);
    expect(assumedRoles()).toEqual([f.roles.approve]);
  });

  test("--role-arn replaces the role of the command, and stderr says so", async () => {
    // GIVEN
    const custom = `arn:aws:iam::${f.registryAccountId}:role/registry-reviewer`;
    // WHEN
    const { code, err } = await run(...commands.list(), "--role-arn", custom);
    // THEN
    expect(code).toBe(0);
    expect(assumedRoles()).toEqual([custom]);
    expect(err).toEqual([`registry: as ${custom} (--role-arn, instead of the reader role)`]);
  });

  test("--role-arn in another account than the registry's is refused before any AWS call", async () => {
    const custom = `arn:aws:iam::${f.otherAccountId}:role/registry-reviewer`;
    const { code, err } = await run(...commands.list(), "--role-arn", custom);
    expect(code).toBe(1);
    expect(err).toEqual([`registry: role ${custom} is not a role in account ${f.registryAccountId}, where the work has to happen`]);
    expect(sts.calls()).toHaveLength(0);
    expect(sm.calls()).toHaveLength(0);
  });

  const denied = () => new STSServiceException({
    name: "AccessDenied", message: "User is not authorized to perform: sts:AssumeRole", $fault: "client", $metadata: { httpStatusCode: 403 },
  });
  const caller = () => `arn:aws:sts::${f.registryAccountId}:assumed-role/dev/alice`;

  test.each([
    ["register", "publish", "it is the publisher role, which uploads artifacts, pushes images and registers versions; "
      + "its trust policy admits the principals in publishers: of the service definition in .projenrc.ts"],
    ["approve", "approve", "it is the approver role, which approves and rejects versions; "
      + "its trust policy admits the principals in approvers: of the service definition in .projenrc.ts"],
    ["list", "read", "it is the reader role, which reads the registry; "
      + "its trust policy admits the promote GitHub environment, and the principals in publishers: and approvers: of the service definition in .projenrc.ts"],
  ] as const)("a denied AssumeRole for %s names the %s role, what it does and who may assume it, in one line", async (command, purpose, hint) => {
    // GIVEN
    sts.on(AssumeRoleCommand).rejects(denied());
    // WHEN
    const { code, out, err } = await run(...commands[command]());
    // THEN
    expect(code).toBe(1);
    expect(out).toEqual([]);
    expect(err).toEqual([`registry: credentials of account ${f.registryAccountId} (${caller()}) may not assume ${f.roles[purpose]}: ${hint}`]);
    expect(sm.calls()).toHaveLength(0);
  });

  test("a denied AssumeRole of --role-arn says it was given instead of the command's role", async () => {
    sts.on(AssumeRoleCommand).rejects(denied());
    const custom = `arn:aws:iam::${f.registryAccountId}:role/registry-reviewer`;
    const { code, err } = await run(...commands.approve(), "--role-arn", custom);
    expect(code).toBe(1);
    expect(err).toEqual([`registry: credentials of account ${f.registryAccountId} (${caller()}) may not assume ${custom}: `
      + "it was given with --role-arn, instead of the approver role (which approves and rejects versions), and its trust policy does not admit them"]);
  });
});

describe("command line", () => {
  test("--help lists the commands and exits 0", async () => {
    const { code, out } = await run("--help");
    expect(code).toBe(0);
    expect(out.join("\n")).toMatch(/register[\s\S]*list[\s\S]*approve[\s\S]*reject[\s\S]*latest-approved/);
  });

  test("a command's --help shows its options without reading config or calling AWS", async () => {
    rmSync(join(f.dir, "Pulumi.yaml"));
    const { code, out } = await run("register", "--help");
    expect(code).toBe(0);
    expect(out[0]).toBe("Usage: registry register --model NAME --image URI --model-data-url s3://... [options]");
  });

  test("no command prints the usage on stderr and exits 2", async () => {
    const { code, out, err } = await run();
    expect(code).toBe(2);
    expect(out).toEqual([]);
    expect(err[0]).toBe("Usage: registry <command> [options]");
  });

  test("an unknown command or option is bad usage, in one line", async () => {
    expect((await run("promote")).err).toEqual(['registry: unknown command "promote"; commands are register, list, approve, reject, latest-approved (see registry --help)']);
    const { code, err } = await run("list", "--modle", f.model);
    expect(code).toBe(2);
    expect(err).toEqual(["registry: Unknown option '--modle' (see registry --help)"]);
  });
});

describe("projen tasks", () => {
  test("registry and assert-account run their scripts and pass the arguments on", () => {
    // GIVEN
    const project = new Project({ name: "test", outdir: mkdtempSync(join(tmpdir(), "projen-")) });
    // WHEN
    addScriptTasks(project);
    // THEN
    const tasks = Testing.synth(project)[".projen/tasks.json"].tasks;
    expect(tasks.registry).toEqual({
      name: "registry",
      description: expect.stringContaining("Model registry"),
      steps: [{ execArgs: ["ts-node", "--transpile-only", "scripts/registry.ts"], receiveArgs: true }],
    });
    expect(tasks["assert-account"].steps).toEqual([{ execArgs: ["ts-node", "--transpile-only", "scripts/assert-account.ts"], receiveArgs: true }]);
  });
});
