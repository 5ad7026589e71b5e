import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import {
  DeleteObjectCommand, GetObjectCommand, type GetObjectCommandOutput, HeadObjectCommand, ListObjectsV2Command, type ListObjectsV2CommandInput,
  type ListObjectsV2CommandOutput, PutObjectCommand, type PutObjectCommandInput, S3Client, S3ServiceException,
} from "@aws-sdk/client-s3";
import { DescribeModelPackageCommand, type DescribeModelPackageCommandOutput, SageMakerClient, SageMakerServiceException } from "@aws-sdk/client-sagemaker";
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient, STSServiceException } from "@aws-sdk/client-sts";
import { mockClient } from "aws-sdk-client-mock";
import { Project, Testing } from "projen";
import { endpointNames, modelPackageGroupName, modelPackageVersionArn, registryNames, roleArn } from "../../components/names";
import { addScriptTasks } from "../../projen/script-tasks";
import { main, type ModelsDeps } from "../../scripts/models";
import { readStackConfigFiles } from "../../stacks/config/files";
import { loadStackConfig, stackFileName } from "../../stacks/config/load";
import { registryAccountRef } from "../../stacks/config/schema";
import { FIXTURE_ROOT, FIXTURE_STAGES } from "../fixtures/project";
import { endpointPath, stageProject } from "../support/stack-files";

const sm = mockClient(SageMakerClient);
const sts = mockClient(STSClient);
const s3 = mockClient(S3Client);

/**
 * A copy of the fixture project whose stage (the first one outside the registry's account, so the
 * registry's reader role and the stage's deployer role are in different accounts) has its
 * image-sourced endpoint made multi-model, as a team writes it: multiModel: true, no modelDataKey.
 * Its registry-version endpoint stays single-model.
 */
function fixture() {
  const stage = FIXTURE_STAGES.find((s) => {
    const config = loadStackConfig(s, readStackConfigFiles(FIXTURE_ROOT, s));
    return config.accountId !== registryAccountRef(config.project, config.region).accountId;
  })!;
  const original = loadStackConfig(stage, readStackConfigFiles(FIXTURE_ROOT, stage));
  const keys = Object.keys(original.endpoints);
  const key = keys.find((k) => "image" in original.endpoints[k].source)!;
  const singleKey = keys.find((k) => "modelPackageArn" in original.endpoints[k].source)!;

  const { dir, config, account, names } = stageProject(stage, {
    stack: (doc) => {
      doc.setIn(endpointPath(key, "multiModel"), true);
      doc.deleteIn(endpointPath(key, "source", "modelDataKey"));
    },
  });
  const { serviceName } = config.project;
  const registry = registryAccountRef(config.project, config.region);
  const registryBucket = registryNames(serviceName, registry).artifactBucket;
  const endpointName = endpointNames(serviceName, key).endpoint;
  const model = config.endpoints[key].model;
  const source = config.endpoints[key].source;
  return {
    dir,
    config,
    stage,
    key,
    singleKey,
    region: config.region,
    accountId: config.accountId,
    registryAccountId: registry.accountId,
    endpointName,
    model,
    otherModel: config.project.models.find((m) => m !== model)!,
    image: "image" in source ? source.image : "",
    bucket: names.bucket,
    kmsAlias: names.kmsAlias,
    prefix: `multi-model/${endpointName}/`,
    registryBucket,
    artifactKey: `${model}/1a2b3c/model.tar.gz`,
    arnOf: (m: string, v: number) => modelPackageVersionArn(registry, modelPackageGroupName(serviceName, m), v),
    deployerRole: roleArn(account, names.deployerRole),
    readerRole: roleArn(registry, registryNames(serviceName, registry).readerRole),
  };
}

let f: ReturnType<typeof fixture>;
const VERSION = 3;
/** The artifact: 10 bytes, served in chunks of 4, 4 and 2. */
const ARTIFACT = Buffer.from("0123456789");
const CHUNKS = [ARTIFACT.subarray(0, 4), ARTIFACT.subarray(4, 8), ARTIFACT.subarray(8)];
const WRITTEN = new Date("2026-03-04T05:06:07.000Z");

const target = (model = f.model, version = VERSION) => `${model}-v${version}.tar.gz`;
const caller = () => `arn:aws:sts::${f.accountId}:assumed-role/dev/alice`;
const deployerLine = () => `models: as ${f.deployerRole} (the ${f.stage} stage's deployer role; --role-arn overrides)`;
const readerLine = () => `models: as ${f.readerRole} (the registry's reader role; --registry-role-arn overrides)`;
const copyingLine = () => `models: copying s3://${f.registryBucket}/${f.artifactKey} (version ${VERSION} of ${f.model}, Approved) `
  + `to s3://${f.bucket}/${f.prefix}${target()}`;

function described(status = "Approved", extra: { url?: string; image?: string; packageStatus?: string } = {}): DescribeModelPackageCommandOutput {
  return {
    ModelPackageArn: f.arnOf(f.model, VERSION),
    ModelPackageName: modelPackageGroupName(f.config.project.serviceName, f.model),
    ModelPackageStatus: (extra.packageStatus ?? "Completed") as DescribeModelPackageCommandOutput["ModelPackageStatus"],
    ModelPackageStatusDetails: { ValidationStatuses: [] },
    ModelApprovalStatus: status as DescribeModelPackageCommandOutput["ModelApprovalStatus"],
    CreationTime: WRITTEN,
    InferenceSpecification: {
      Containers: [{ Image: extra.image ?? f.image, ModelDataUrl: extra.url ?? `s3://${f.registryBucket}/${f.artifactKey}` }],
      SupportedContentTypes: [],
      SupportedResponseMIMETypes: [],
    },
    $metadata: {},
  };
}

/** The source streams GetObject handed out, to check that each was read or freed. */
let served: Readable[];
/** The bytes each PutObject read from its body. */
let received: Buffer[];

const s3Error = (name: string, status: number) => new S3ServiceException({
  name, message: `${name} (test)`, $fault: status >= 500 ? "server" : "client", $metadata: { httpStatusCode: status },
});

async function read(body: PutObjectCommandInput["Body"]): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body as AsyncIterable<Buffer>) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

beforeEach(() => {
  sm.reset();
  sts.reset();
  s3.reset();
  f = fixture();
  served = [];
  received = [];
  // A person in the stage's account, who is neither role: the CLI assumes both.
  sts.on(GetCallerIdentityCommand).resolves({ Account: f.accountId, Arn: caller() });
  sts.on(AssumeRoleCommand).resolves({ Credentials: { AccessKeyId: "ASIAOTHER", SecretAccessKey: "s", SessionToken: "t", Expiration: new Date() } });
  sts.on(AssumeRoleCommand, { RoleArn: f.deployerRole })
    .resolves({ Credentials: { AccessKeyId: "ASIADEPLOYER", SecretAccessKey: "s", SessionToken: "t", Expiration: new Date() } });
  sts.on(AssumeRoleCommand, { RoleArn: f.readerRole })
    .resolves({ Credentials: { AccessKeyId: "ASIAREADER", SecretAccessKey: "s", SessionToken: "t", Expiration: new Date() } });
  sm.on(DescribeModelPackageCommand).resolves(described());
  s3.on(GetObjectCommand).callsFake(() => {
    const body = Readable.from(CHUNKS);
    served.push(body);
    return { Body: body as unknown as GetObjectCommandOutput["Body"], ContentLength: ARTIFACT.length };
  });
  s3.on(PutObjectCommand).callsFake(async (input: PutObjectCommandInput) => {
    received.push(await read(input.Body));
    return { ETag: "\"etag\"" };
  });
});
afterEach(() => rmSync(f.dir, { recursive: true, force: true }));

async function run(argv: string[], deps: Pick<ModelsDeps, "progressStepBytes"> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, {
    cwd: f.dir,
    io: { out: (l) => out.push(l), err: (l) => err.push(l) },
    sleep: async () => undefined,
    ...deps,
  });
  return { code, out, err };
}

const args = (command: string, ...extra: string[]) => [command, "--stage", f.stage, "--endpoint", f.key, ...extra];
const add = (...extra: string[]) => args("add", "--version", String(VERSION), ...extra);
const assumedRoles = () => sts.commandCalls(AssumeRoleCommand).map((c) => c.args[0].input.RoleArn);
/** The access key of the client that sent a call: whose credentials it carried. */
const keyOf = async (call: { thisValue: unknown }) => (await (call.thisValue as S3Client | SageMakerClient).config.credentials()).accessKeyId;
/** The cells of an output line, split at runs of two or more spaces (table columns). */
const cells = (line: string | undefined) => (line ?? "").trim().split(/\s{2,}/);

describe("add", () => {
  test("checks the version as the reader role, streams its artifact to a write-once, SSE-KMS key as the deployer, and prints the TargetModel", async () => {
    const { code, out, err } = await run(add());
    expect(code).toBe(0);
    // The registry, as the reader role.
    const describes = sm.commandCalls(DescribeModelPackageCommand);
    expect(describes.map((c) => c.args[0].input)).toEqual([{ ModelPackageName: f.arnOf(f.model, VERSION) }]);
    expect(await keyOf(describes[0])).toBe("ASIAREADER");
    const gets = s3.commandCalls(GetObjectCommand);
    expect(gets.map((c) => c.args[0].input)).toEqual([{ Bucket: f.registryBucket, Key: f.artifactKey }]);
    expect(await keyOf(gets[0])).toBe("ASIAREADER");
    // The stage bucket, as the deployer role.
    const puts = s3.commandCalls(PutObjectCommand);
    expect(puts).toHaveLength(1);
    expect(puts[0].args[0].input).toEqual({
      Bucket: f.bucket,
      Key: `${f.prefix}${target()}`,
      Body: expect.any(Readable),
      ContentLength: ARTIFACT.length,
      IfNoneMatch: "*",
      ServerSideEncryption: "aws:kms",
      SSEKMSKeyId: f.kmsAlias,
      BucketKeyEnabled: true,
      Metadata: { "model-package-arn": f.arnOf(f.model, VERSION) },
    });
    expect(await keyOf(puts[0])).toBe("ASIADEPLOYER");
    expect(received).toEqual([ARTIFACT]);
    expect(s3.commandCalls(HeadObjectCommand)).toHaveLength(0);
    // What the user reads.
    expect(err).toEqual([deployerLine(), readerLine(), copyingLine()]);
    expect(out).toEqual([
      `copied version ${VERSION} of ${f.model} (${ARTIFACT.length} bytes) from s3://${f.registryBucket}/${f.artifactKey} to s3://${f.bucket}/${f.prefix}${target()}`,
      `TargetModel: ${target()}`,
      `clients invoke it on endpoint ${f.endpointName} with TargetModel=${target()}; SageMaker loads it on the first such call`,
    ]);
  });

  test("--model adds another of the service's models, under its own key", async () => {
    const { code, out } = await run(add("--model", f.otherModel));
    expect(code).toBe(0);
    expect(sm.commandCalls(DescribeModelPackageCommand)[0].args[0].input).toEqual({ ModelPackageName: f.arnOf(f.otherModel, VERSION) });
    expect(s3.commandCalls(PutObjectCommand)[0].args[0].input.Key).toBe(`${f.prefix}${target(f.otherModel)}`);
    expect(out).toContain(`TargetModel: ${target(f.otherModel)}`);
  });

  test("--json prints the version, source, destination, TargetModel and size", async () => {
    const { code, out } = await run(add("--json"));
    expect(code).toBe(0);
    expect(JSON.parse(out.join("\n"))).toEqual({
      stage: f.stage,
      endpoint: f.endpointName,
      model: f.model,
      version: VERSION,
      modelPackageArn: f.arnOf(f.model, VERSION),
      source: `s3://${f.registryBucket}/${f.artifactKey}`,
      destination: `s3://${f.bucket}/${f.prefix}${target()}`,
      targetModel: target(),
      bytes: ARTIFACT.length,
      copied: true,
    });
  });

  test("a copy larger than the progress step reports the bytes copied on stderr at every step", async () => {
    const { code, err } = await run(add(), { progressStepBytes: 4 });
    expect(code).toBe(0);
    expect(err.slice(3)).toEqual([`models: ${target()}: 4 of 10 bytes (40%)`, `models: ${target()}: 8 of 10 bytes (80%)`]);
    expect(received).toEqual([ARTIFACT]);
  });

  test.each([
    ["PendingManualApproval"],
    ["Rejected"],
  ])("a %s version is refused, naming its status, and nothing is read or written", async (status) => {
    sm.on(DescribeModelPackageCommand).resolves(described(status));
    const { code, out, err } = await run(add());
    expect(code).toBe(1);
    expect(out).toEqual([]);
    expect(err[err.length - 1]).toBe(`models: refusing to add version ${VERSION} of ${f.model} (${f.arnOf(f.model, VERSION)}): it is ${status}, `
      + `not Approved; only approved versions are served (approved ones: registry list --model ${f.model} --status Approved)`);
    expect(s3.calls()).toHaveLength(0);
  });

  test("an approved version still being created is refused", async () => {
    sm.on(DescribeModelPackageCommand).resolves(described("Approved", { packageStatus: "InProgress" }));
    const { code, err } = await run(add());
    expect(code).toBe(1);
    expect(err[err.length - 1]).toContain("its creation is InProgress, not Completed");
    expect(s3.calls()).toHaveLength(0);
  });

  test("a version whose artifact is outside the registry's artifact bucket is refused before any S3 call", async () => {
    const elsewhere = `s3://${f.registryBucket}-copy/${f.artifactKey}`;
    sm.on(DescribeModelPackageCommand).resolves(described("Approved", { url: elsewhere }));
    const { code, err } = await run(add());
    expect(code).toBe(1);
    expect(err[err.length - 1]).toBe(`models: refusing to add version ${VERSION} of ${f.model} (${f.arnOf(f.model, VERSION)}): its model data `
      + `${elsewhere} is not in the registry's artifact bucket ${f.registryBucket}; only artifacts there are the registry's (and readable by its reader role)`);
    expect(s3.calls()).toHaveLength(0);
  });

  test("model data that is not a .tar.gz archive is refused", async () => {
    sm.on(DescribeModelPackageCommand).resolves(described("Approved", { url: `s3://${f.registryBucket}/${f.model}/1a2b3c/model/` }));
    const { code, err } = await run(add());
    expect(code).toBe(1);
    expect(err[err.length - 1]).toContain("is not a .tar.gz archive");
    expect(s3.calls()).toHaveLength(0);
  });

  test("a version the registry does not have is a failure that says how to see its versions", async () => {
    sm.on(DescribeModelPackageCommand).rejects(new SageMakerServiceException({
      name: "ValidationException", message: "Model package not found", $fault: "client", $metadata: { httpStatusCode: 400 },
    }));
    const { code, err } = await run(add());
    expect(code).toBe(1);
    expect(err[err.length - 1]).toBe(`models: version ${VERSION} of ${f.model} (${f.arnOf(f.model, VERSION)}) is not in the registry `
      + `(ValidationException: Model package not found); see its versions with "registry list --model ${f.model}"`);
    expect(s3.calls()).toHaveLength(0);
  });

  test("a key that exists with an object of the source's size is success without a copy (a re-run)", async () => {
    s3.on(PutObjectCommand).rejects(s3Error("PreconditionFailed", 412));
    s3.on(HeadObjectCommand).resolves({ ContentLength: ARTIFACT.length });
    const { code, out } = await run(add("--json"));
    expect(code).toBe(0);
    expect(JSON.parse(out.join("\n"))).toMatchObject({ copied: false, bytes: ARTIFACT.length, targetModel: target() });
    const heads = s3.commandCalls(HeadObjectCommand);
    expect(heads.map((c) => c.args[0].input)).toEqual([{ Bucket: f.bucket, Key: `${f.prefix}${target()}` }]);
    expect(await keyOf(heads[0])).toBe("ASIADEPLOYER");
    expect(s3.commandCalls(PutObjectCommand)).toHaveLength(1);
    // The unread source stream was freed.
    expect(served.map((b) => b.destroyed)).toEqual([true]);
  });

  test("the human report of a re-run says nothing was copied", async () => {
    s3.on(PutObjectCommand).rejects(s3Error("PreconditionFailed", 412));
    s3.on(HeadObjectCommand).resolves({ ContentLength: ARTIFACT.length });
    const { code, out } = await run(add());
    expect(code).toBe(0);
    expect(out[0]).toBe(`s3://${f.bucket}/${f.prefix}${target()} already holds version ${VERSION} of ${f.model} (${ARTIFACT.length} bytes, `
      + `the size of s3://${f.registryBucket}/${f.artifactKey}): nothing copied`);
    expect(out[1]).toBe(`TargetModel: ${target()}`);
  });

  test("a key that exists with an object of another size is refused, never overwritten", async () => {
    s3.on(PutObjectCommand).rejects(s3Error("PreconditionFailed", 412));
    s3.on(HeadObjectCommand).resolves({ ContentLength: 99 });
    const { code, out, err } = await run(add());
    expect(code).toBe(1);
    expect(out).toEqual([]);
    expect(err[err.length - 1]).toMatch(new RegExp(`^models: refusing to overwrite s3://${f.bucket}/${f.prefix}${target()}: it exists with 99 bytes, `
      + `but s3://${f.registryBucket}/${f.artifactKey} has 10; a key is never overwritten`.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")));
    expect(s3.commandCalls(PutObjectCommand)).toHaveLength(1);
    expect(s3.commandCalls(DeleteObjectCommand)).toHaveLength(0);
  });

  test("a concurrent write to the same key is a failure that says to run again", async () => {
    s3.on(PutObjectCommand).rejects(s3Error("ConditionalRequestConflict", 409));
    const { code, err } = await run(add());
    expect(code).toBe(1);
    expect(err[err.length - 1]).toContain("another write to");
    expect(s3.commandCalls(HeadObjectCommand)).toHaveLength(0);
  });

  test("a transient PutObject failure retries the whole copy with a fresh source stream", async () => {
    let attempts = 0;
    s3.on(PutObjectCommand).callsFake(async (input: PutObjectCommandInput) => {
      attempts += 1;
      if (attempts === 1) throw s3Error("ServiceUnavailable", 503);
      received.push(await read(input.Body));
      return {};
    });
    const { code, err } = await run(add());
    expect(code).toBe(0);
    expect(s3.commandCalls(GetObjectCommand)).toHaveLength(2);
    expect(received).toEqual([ARTIFACT]);
    expect(served.map((b) => b.destroyed)).toEqual([true, true]);
    expect(err.some((l) => l.includes(": ServiceUnavailable, retrying in"))).toBe(true);
  });

  test("a version registered with another image than the endpoint runs is copied, with a note on stderr", async () => {
    const other = `${f.image}-other`;
    sm.on(DescribeModelPackageCommand).resolves(described("Approved", { image: other }));
    const { code, err } = await run(add());
    expect(code).toBe(0);
    expect(err).toContain(`models: note: version ${VERSION} of ${f.model} was registered with image ${other}, while endpoint ${f.endpointName} `
      + `runs ${f.image}: its container must be able to load this artifact`);
  });

  test("an endpoint that is not multi-model is refused before any AWS call, naming the stage's multi-model endpoints", async () => {
    const { code, err } = await run(["add", "--stage", f.stage, "--endpoint", f.singleKey, "--version", "3"]);
    expect(code).toBe(2);
    expect(err).toEqual([`models: endpoint "${f.singleKey}" is not a multi-model endpoint (endpoints.${f.singleKey}.multiModel is not true in `
      + `${stackFileName(f.stage)}): it loads no models from s3://${f.bucket}/multi-model/${endpointNames(f.config.project.serviceName, f.singleKey).endpoint}/; `
      + `the multi-model endpoints of ${stackFileName(f.stage)} are ${f.key} (see models --help)`]);
    expect(sts.calls()).toHaveLength(0);
  });

  test("a missing or bad --version and an unknown --model are bad usage before any AWS call", async () => {
    expect((await run(args("add"))).err).toEqual(["models: --version is required (see models --help)"]);
    expect((await run(args("add", "--version", "0"))).err).toEqual(['models: --version must be a whole number from 1 to 2147483647, got "0" (see models --help)']);
    const { code, err } = await run(add("--model", "no-such-model"));
    expect(code).toBe(2);
    expect(err[0]).toMatch(/^models: unknown model "no-such-model"; this service's models are /);
    expect(sts.calls()).toHaveLength(0);
  });
});

describe("list", () => {
  const object = (name: string, size: number) => ({ Key: `${f.prefix}${name}`, Size: size, LastModified: WRITTEN });

  test("reads every page under the endpoint's prefix as the deployer role and prints TargetModel, size and last modified", async () => {
    const pages: ListObjectsV2CommandOutput[] = [
      { Contents: [{ Key: f.prefix, Size: 0, LastModified: WRITTEN }, object(target(), 10)], IsTruncated: true, NextContinuationToken: "page-2", $metadata: {} },
      { Contents: [object(target(f.otherModel, 1), 2048)], IsTruncated: false, $metadata: {} },
    ];
    // Each request as sent (the SDK's paginator reuses one input object from page to page).
    const requests: ListObjectsV2CommandInput[] = [];
    s3.on(ListObjectsV2Command).callsFake((input: ListObjectsV2CommandInput) => {
      requests.push({ ...input });
      return pages[requests.length - 1];
    });
    const { code, out, err } = await run(args("list"));
    expect(code).toBe(0);
    const lists = s3.commandCalls(ListObjectsV2Command);
    expect(requests).toEqual([
      { Bucket: f.bucket, Prefix: f.prefix, MaxKeys: 1000 },
      { Bucket: f.bucket, Prefix: f.prefix, MaxKeys: 1000, ContinuationToken: "page-2" },
    ]);
    expect(await keyOf(lists[0])).toBe("ASIADEPLOYER");
    expect(err).toEqual([deployerLine()]);
    expect(out[0]).toBe(`endpoint ${f.endpointName} can load 2 models from s3://${f.bucket}/${f.prefix} (each on its first invocation):`);
    expect(cells(out[1])).toEqual(["TARGET MODEL", "BYTES", "LAST MODIFIED"]);
    expect(cells(out[2])).toEqual([target(), "10", WRITTEN.toISOString()]);
    expect(cells(out[3])).toEqual([target(f.otherModel, 1), "2048", WRITTEN.toISOString()]);
    expect(out).toHaveLength(4);
    expect(sm.calls()).toHaveLength(0);
  });

  test("--json prints the prefix and the models", async () => {
    s3.on(ListObjectsV2Command).resolves({ Contents: [object(target(), 10)], IsTruncated: false });
    const { code, out } = await run(args("list", "--json"));
    expect(code).toBe(0);
    expect(JSON.parse(out.join("\n"))).toEqual({
      stage: f.stage,
      endpoint: f.endpointName,
      prefix: `s3://${f.bucket}/${f.prefix}`,
      models: [{ targetModel: target(), bytes: 10, lastModified: WRITTEN.toISOString() }],
    });
  });

  test("an empty prefix says so", async () => {
    s3.on(ListObjectsV2Command).resolves({ KeyCount: 0, IsTruncated: false });
    const { code, out } = await run(args("list"));
    expect(code).toBe(0);
    expect(out).toEqual([`endpoint ${f.endpointName} has no models under s3://${f.bucket}/${f.prefix}: add one with models add`]);
  });
});

describe("remove", () => {
  test("deletes the model's key as the deployer role and says SageMaker unloads it lazily and invocations naming it then fail", async () => {
    s3.on(HeadObjectCommand).resolves({ ContentLength: 10 });
    s3.on(DeleteObjectCommand).resolves({});
    const { code, out, err } = await run(args("remove", "--target", target()));
    expect(code).toBe(0);
    const key = `${f.prefix}${target()}`;
    expect(s3.commandCalls(HeadObjectCommand).map((c) => c.args[0].input)).toEqual([{ Bucket: f.bucket, Key: key }]);
    const deletes = s3.commandCalls(DeleteObjectCommand);
    expect(deletes.map((c) => c.args[0].input)).toEqual([{ Bucket: f.bucket, Key: key }]);
    expect(await keyOf(deletes[0])).toBe("ASIADEPLOYER");
    expect(err).toEqual([deployerLine()]);
    expect(out[0]).toBe(`removed s3://${f.bucket}/${key} from endpoint ${f.endpointName}`);
    expect(out[1]).toBe(`SageMaker unloads ${target()} from the instances' memory lazily: instances that loaded it may still answer for it until then; `
      + `invocations naming it (TargetModel=${target()}) then fail. The stage bucket is versioned: the removed object stays as a noncurrent version `
      + `for ${f.config.noncurrentVersionExpirationDays} days (noncurrentVersionExpirationDays).`);
  });

  test("--json prints what was removed and the note", async () => {
    s3.on(HeadObjectCommand).resolves({ ContentLength: 10 });
    s3.on(DeleteObjectCommand).resolves({});
    const { code, out } = await run(args("remove", "--target", target(), "--json"));
    expect(code).toBe(0);
    expect(JSON.parse(out.join("\n"))).toEqual({
      stage: f.stage,
      endpoint: f.endpointName,
      targetModel: target(),
      removed: `s3://${f.bucket}/${f.prefix}${target()}`,
      note: expect.stringContaining("lazily"),
    });
  });

  test.each([
    ["a parent directory", () => `../${target()}`],
    ["a nested key", () => `other/${target()}`],
    ["a full URL", () => `s3://${f.bucket}/${f.prefix}${target()}`],
    ["..", () => ".."],
  ])("a target that is %s is bad usage, and no AWS call is made", async (_what, given) => {
    const { code, err } = await run(args("remove", "--target", given()));
    expect(code).toBe(2);
    expect(err).toEqual([`models: --target must be a TargetModel directly under s3://${f.bucket}/${f.prefix}, such as <model>-v<N>.tar.gz `
      + `(see models list), without "/" or ".."; got "${given()}" (see models --help)`]);
    expect(sts.calls()).toHaveLength(0);
    expect(s3.calls()).toHaveLength(0);
  });

  test("a target that does not exist is a failure, and nothing is deleted", async () => {
    s3.on(HeadObjectCommand).rejects(s3Error("NotFound", 404));
    const { code, err } = await run(args("remove", "--target", target()));
    expect(code).toBe(1);
    expect(err[err.length - 1]).toBe(`models: s3://${f.bucket}/${f.prefix}${target()} does not exist; nothing removed `
      + `(see "models list --stage ${f.stage} --endpoint ${f.key}")`);
    expect(s3.commandCalls(DeleteObjectCommand)).toHaveLength(0);
  });
});

describe("roles", () => {
  test("add assumes the stage's deployer role and the registry's reader role, says so, and uses the service's region", async () => {
    const { code, err } = await run(add());
    expect(code).toBe(0);
    expect(assumedRoles()).toEqual([f.deployerRole, f.readerRole]);
    expect(err.slice(0, 2)).toEqual([deployerLine(), readerLine()]);
    const [get] = s3.commandCalls(GetObjectCommand);
    const [put] = s3.commandCalls(PutObjectCommand);
    expect(await (get.thisValue as S3Client).config.region()).toBe(f.region);
    expect(await (put.thisValue as S3Client).config.region()).toBe(f.region);
  });

  test("--role-arn and --registry-role-arn replace the two roles, and stderr says so", async () => {
    const stageRole = `arn:aws:iam::${f.accountId}:role/model-operator`;
    const registryRole = `arn:aws:iam::${f.registryAccountId}:role/artifact-reader`;
    const { code, err } = await run(add("--role-arn", stageRole, "--registry-role-arn", registryRole));
    expect(code).toBe(0);
    expect(assumedRoles()).toEqual([stageRole, registryRole]);
    expect(err.slice(0, 2)).toEqual([
      `models: as ${stageRole} (--role-arn, instead of the ${f.stage} stage's deployer role)`,
      `models: as ${registryRole} (--registry-role-arn, instead of the registry's reader role)`,
    ]);
  });

  test("credentials that already are the reader role use their own for the registry side", async () => {
    const name = f.readerRole.split("/").pop()!;
    sts.on(GetCallerIdentityCommand).resolves({ Account: f.registryAccountId, Arn: `arn:aws:sts::${f.registryAccountId}:assumed-role/${name}/alice` });
    const { code, err } = await run(add());
    expect(code).toBe(0);
    expect(assumedRoles()).toEqual([f.deployerRole]);
    expect(err[1]).toBe(`models: as ${f.readerRole} (the registry's reader role, already held by these credentials; --registry-role-arn overrides)`);
  });

  test("a denied AssumeRole of the deployer role names the rights another role needs", async () => {
    sts.on(AssumeRoleCommand, { RoleArn: f.deployerRole }).rejects(new STSServiceException({
      name: "AccessDenied", message: "not authorized to perform: sts:AssumeRole", $fault: "client", $metadata: { httpStatusCode: 403 },
    }));
    const { code, err } = await run(args("list"));
    expect(code).toBe(1);
    expect(err).toHaveLength(1);
    expect(err[0]).toMatch(new RegExp(`^models: credentials of account ${f.accountId} \\(.*\\) may not assume ${f.deployerRole}: it is the ${f.stage} stage's deployer role`));
    expect(err[0]).toContain(`pass --role-arn with a role of account ${f.accountId} that may write multi-model artifacts`);
    expect(s3.calls()).toHaveLength(0);
  });

  test("a denied AssumeRole of the reader role names it and who it admits, and nothing is read or written", async () => {
    sts.on(AssumeRoleCommand, { RoleArn: f.readerRole }).rejects(new STSServiceException({
      name: "AccessDenied", message: "not authorized to perform: sts:AssumeRole", $fault: "client", $metadata: { httpStatusCode: 403 },
    }));
    const { code, err } = await run(add());
    expect(code).toBe(1);
    expect(err[err.length - 1]).toBe(`models: credentials of account ${f.accountId} (${caller()}) may not assume ${f.readerRole}: it is the reader role, `
      + "which reads the registry; its trust policy admits the promote GitHub environment, and the principals in publishers: and approvers: "
      + "of the service definition in .projenrc.ts");
    expect(sm.calls()).toHaveLength(0);
    expect(s3.calls()).toHaveLength(0);
  });

  test("a --region other than the service's is bad usage before any AWS call", async () => {
    const { code, err } = await run(add("--region", "eu-north-1"));
    expect(code).toBe(2);
    expect(err[0]).toContain(`--region must be ${f.region}`);
    expect(sts.calls()).toHaveLength(0);
  });
});

describe("command line", () => {
  test("--help lists the commands and the prefix, and exits 0", async () => {
    const { code, out } = await run(["--help"]);
    expect(code).toBe(0);
    expect(out[0]).toBe("Usage: models <command> [options]");
    expect(out.join("\n")).toMatch(/add[\s\S]*list[\s\S]*remove/);
    expect(out.join("\n")).toContain("multi-model/<endpoint name>/");
  });

  test.each([
    ["add", "Usage: models add --stage STAGE --endpoint KEY --version N [--model NAME] [options]", "--registry-role-arn"],
    ["list", "Usage: models list --stage STAGE --endpoint KEY [options]", "ListObjectsV2"],
    ["remove", "Usage: models remove --stage STAGE --endpoint KEY --target TARGET_MODEL [options]", "lazily"],
  ])("%s --help shows its usage without reading config or calling AWS", async (command, usage, mentions) => {
    rmSync(join(f.dir, "Pulumi.yaml"));
    const { code, out } = await run([command, "--help"]);
    expect(code).toBe(0);
    expect(out[0]).toBe(usage);
    expect(out.join("\n")).toContain(mentions);
    expect(sts.calls()).toHaveLength(0);
  });

  test("no command prints the usage on stderr and exits 2", async () => {
    const { code, out, err } = await run([]);
    expect(code).toBe(2);
    expect(out).toEqual([]);
    expect(err[0]).toBe("Usage: models <command> [options]");
  });

  test("an unknown command or option, or a missing one, is bad usage in one line", async () => {
    expect((await run(["load"])).err).toEqual(['models: unknown command "load"; commands are add, list, remove (see models --help)']);
    expect((await run(args("list", "--version", "3"))).err).toEqual(["models: Unknown option '--version' (see models --help)"]);
    const { code, err } = await run(["remove", "--stage", f.stage, "--endpoint", f.key]);
    expect(code).toBe(2);
    expect(err).toEqual(["models: --target is required (see models --help)"]);
  });
});

describe("projen task", () => {
  test("models runs its script and passes the arguments on", () => {
    const project = new Project({ name: "test", outdir: mkdtempSync(join(tmpdir(), "projen-")) });
    addScriptTasks(project);
    const tasks = Testing.synth(project)[".projen/tasks.json"].tasks;
    expect(tasks.models).toEqual({
      name: "models",
      description: expect.stringContaining("multi-model endpoint"),
      steps: [{ execArgs: ["ts-node", "--transpile-only", "scripts/models.ts"], receiveArgs: true }],
    });
  });
});
