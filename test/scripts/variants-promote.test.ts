import { readFileSync } from "node:fs";
import { join } from "node:path";
import { CloudWatchClient, GetMetricDataCommand, type GetMetricDataCommandInput, type MetricDataResult } from "@aws-sdk/client-cloudwatch";
import {
  DescribeEndpointCommand, DescribeEndpointConfigCommand, type DescribeEndpointConfigCommandOutput, DescribeModelCommand,
  type DescribeModelCommandInput, SageMakerClient,
} from "@aws-sdk/client-sagemaker";
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts";
import { mockClient } from "aws-sdk-client-mock";
import type { ModelSource } from "../../components/model-source";
import { endpointNames, roleArn, stageNames } from "../../components/names";
import { abTestOf, promoteWinner, variantNamed } from "../../scripts/promote/ab-winner";
import { parseStackFile } from "../../scripts/promote/changes";
import { main } from "../../scripts/variants";
import { readProjectConfig, readStackConfigFiles } from "../../stacks/config/files";
import { loadStackConfig, stackFileName } from "../../stacks/config/load";
import { accountRef, type StackConfig } from "../../stacks/config/schema";
import { FIXTURE_ROOT, FIXTURE_STAGES } from "../fixtures/project";
import { projectCopies } from "../support/stack-files";

/**
 * `variants promote`: ending an A/B test in a copy of the fixture project's stack file, with the
 * winner named (no AWS) or chosen from CloudWatch metrics (aws-sdk-client-mock).
 */

const sm = mockClient(SageMakerClient);
const sts = mockClient(STSClient);
const cw = mockClient(CloudWatchClient);
const copy = projectCopies();

const STAGE = FIXTURE_STAGES[1];
const FILE = stackFileName(STAGE);
const { project } = readProjectConfig(FIXTURE_ROOT);
const [SCORER_MODEL, EMBEDDER_MODEL] = project.models;
const { accountId: ACCOUNT_ID, region: REGION } = loadStackConfig(STAGE, readStackConfigFiles(FIXTURE_ROOT, STAGE));

/** The endpoints of the test stack file: a registry version against two challengers, and an image against another. */
const SCORER = "scorer-ab";
const EMBEDDER = "embedder-ab";
const OWN = "primary";
const CHALLENGER = "challenger";
const SMALL = "small";
const NEXT = "next";

/**
 * The test stack file in parts, so that each test can say which parts the promotion keeps, replaces
 * or removes: the head, the scorer's own source, its keys up to its A/B test, the A/B test (with the
 * comment above it), the scorer's tail; then the embedder's parts in the same order.
 */
const PARTS = {
  head: `# The ${STAGE} stage of the A/B promotion tests.
config:
  aws:allowedAccountIds:
    - "${ACCOUNT_ID}"
  mlplatform:endpoints:
    # A registry version against two challengers.
    ${SCORER}:
      model: ${SCORER_MODEL}
      # The endpoint's own variant serves this.
      source: # own source
`,
  ownSource: `        version: 6 # since the last release
`,
  middle: `      instanceType: ml.m5.large
      instanceCount: 2
      deployment:
        strategy: all-at-once
`,
  abTest: `      # A/B test since the first of the month.
      abTest:
        weight: 80
        variants:
          - name: ${CHALLENGER} # retrained
            source:
              version: 7 # retrained on more data
            weight: 15
            instanceType: ml.m5.xlarge
            instanceCount: 1
          - name: ${SMALL}
            source:
              version: 8
            weight: 5
`,
  scorerTail: `      # Alarms stay after the test.
      alarms:
        modelLatencyP99Milliseconds: 800

`,
  embedderHead: `    # An image with model data against another image.
    ${EMBEDDER}:
      model: ${EMBEDDER_MODEL}
      source:
`,
  embedderSource: `        imageTag: v2
        modelDataKey: ${EMBEDDER_MODEL}/v2/model.tar.gz
        environment:
          MODEL_NAME: old
`,
  embedderMiddle: `      instanceType: ml.g4dn.xlarge
      instanceCount: 1
      deployment:
        strategy: all-at-once
`,
  embedderAbTest: `      abTest:
        weight: 1
        variants:
          - name: ${NEXT}
            source:
              imageTag: v3 # the new image
              modelDataKey: ${EMBEDDER_MODEL}/v3/model.tar.gz
              environment:
                MODEL_NAME: new
            weight: 1
`,
  tail: `      alarms:
        modelLatencyP99Milliseconds: 200
`,
};

/** The challenger's source, moved to the endpoint's indentation, its comment with it. */
const CHALLENGER_SOURCE = `        version: 7 # retrained on more data
`;
const NEXT_SOURCE = `        imageTag: v3 # the new image
        modelDataKey: ${EMBEDDER_MODEL}/v3/model.tar.gz
        environment:
          MODEL_NAME: new
`;

const join2 = (...parts: string[]) => parts.join("");
/** The embedder's part of the file, unchanged. */
const EMBEDDER_PART = join2(PARTS.embedderHead, PARTS.embedderSource, PARTS.embedderMiddle, PARTS.embedderAbTest, PARTS.tail);
const ORIGINAL = join2(PARTS.head, PARTS.ownSource, PARTS.middle, PARTS.abTest, PARTS.scorerTail, EMBEDDER_PART);

/** A copy of the fixture project whose stage file is `text`. */
function projectWith(text = ORIGINAL): string {
  return copy(STAGE, { stackText: text });
}

const stackText = (dir: string) => readFileSync(join(dir, FILE), "utf8");
const configOf = (dir: string): StackConfig => loadStackConfig(STAGE, readStackConfigFiles(dir, STAGE));

async function run(dir: string, argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, {
    cwd: dir,
    io: { out: (l) => out.push(l), err: (l) => err.push(l) },
    now: () => new Date("2026-03-04T05:06:07.000Z"),
    sleep: async () => undefined,
  });
  return { code, out, err };
}

const promote = (key: string, ...extra: string[]) => ["promote", "--stage", STAGE, "--endpoint", key, ...extra];
const awsCalls = () => sm.calls().length + sts.calls().length + cw.calls().length;

beforeEach(() => {
  sm.reset();
  sts.reset();
  cw.reset();
});

describe("promote --variant (no AWS)", () => {
  test("GIVEN a challenger wins, THEN its source replaces the endpoint's, abTest goes, and every other byte of the file stays", async () => {
    // GIVEN
    const dir = projectWith();
    // WHEN
    const { code, out } = await run(dir, promote(SCORER, "--variant", CHALLENGER));
    // THEN
    expect(code).toBe(0);
    expect(stackText(dir)).toBe(join2(PARTS.head, CHALLENGER_SOURCE, PARTS.middle, PARTS.scorerTail, EMBEDDER_PART));
    expect(awsCalls()).toBe(0);
    expect(out).toContain(`wrote ${FILE}`);
  });

  test("GIVEN a challenger wins, THEN the file still passes the schema and the endpoint serves the challenger's version alone", async () => {
    const dir = projectWith();
    const challenger = configOf(dir).endpoints[SCORER].abTest!.variants.find((v) => v.name === CHALLENGER)!;
    await run(dir, promote(SCORER, "--variant", CHALLENGER));
    const after = configOf(dir).endpoints[SCORER];
    expect(after.source).toEqual(challenger.model);
    expect(after.abTest).toBeUndefined();
    expect(after.variantName).toBe(OWN);
    // The stage's own size stays.
    expect([after.instanceType, after.instanceCount]).toEqual(["ml.m5.large", 2]);
  });

  test("GIVEN the challenger ran on another size, THEN one line says the endpoint keeps its own and how to adopt the winner's", async () => {
    const dir = projectWith();
    const { out } = await run(dir, promote(SCORER, "--variant", CHALLENGER));
    const notes = out.filter((l) => l.startsWith("note: "));
    expect(notes).toEqual([`note: ${CHALLENGER} ran on 1 x ml.m5.xlarge; the endpoint keeps its own 2 x ml.m5.large (instanceType and `
      + `instanceCount of ${FILE}: mlplatform:endpoints.${SCORER}): change them by hand to adopt the winner's`]);
  });

  test("GIVEN a challenger of the endpoint's own size wins, THEN no size note is printed", async () => {
    const dir = projectWith();
    const { code, out } = await run(dir, promote(SCORER, "--variant", SMALL));
    expect(code).toBe(0);
    expect(out.some((l) => l.startsWith("note: "))).toBe(false);
    expect(configOf(dir).endpoints[SCORER].abTest).toBeUndefined();
  });

  test("GIVEN the endpoint's own variant wins, THEN only abTest is removed and the source stays as written", async () => {
    const dir = projectWith();
    const before = configOf(dir).endpoints[SCORER].source;
    const { code, out } = await run(dir, promote(SCORER, "--variant", OWN));
    expect(code).toBe(0);
    expect(stackText(dir)).toBe(join2(PARTS.head, PARTS.ownSource, PARTS.middle, PARTS.scorerTail, EMBEDDER_PART));
    expect(configOf(dir).endpoints[SCORER].source).toEqual(before);
    expect(out).toContain("  source: { version: 6 } (kept: the endpoint's own variant won)");
  });

  test("GIVEN an image challenger wins, THEN the image, model data and environment all move, with the comment beside them", async () => {
    const dir = projectWith();
    const next = configOf(dir).endpoints[EMBEDDER].abTest!.variants[0];
    const { code, out } = await run(dir, promote(EMBEDDER, "--variant", NEXT));
    expect(code).toBe(0);
    const untouched = join2(PARTS.head, PARTS.ownSource, PARTS.middle, PARTS.abTest, PARTS.scorerTail, PARTS.embedderHead);
    expect(stackText(dir)).toBe(join2(untouched, NEXT_SOURCE, PARTS.embedderMiddle, PARTS.tail));
    expect(configOf(dir).endpoints[EMBEDDER].source).toEqual(next.model);
    expect(out).toContain(`  source: { imageTag: v2, modelDataKey: ${EMBEDDER_MODEL}/v2/model.tar.gz, environment: { MODEL_NAME: old } } -> `
      + `{ imageTag: v3, modelDataKey: ${EMBEDDER_MODEL}/v3/model.tar.gz, environment: { MODEL_NAME: new } }`);
  });

  test("says what changed, what was removed and the next step: deploy the stage, then the endpoint serves one variant with the winner's version", async () => {
    const dir = projectWith();
    const { out } = await run(dir, promote(SCORER, "--variant", CHALLENGER));
    expect(out[0]).toBe(`${FILE}: mlplatform:endpoints.${SCORER}: ${CHALLENGER} wins the A/B test, chosen with --variant`);
    expect(out).toContain("  source: { version: 6 } -> { version: 7 }");
    expect(out).toContain(`  abTest: removed (${OWN} weight 80, ${CHALLENGER} weight 15, ${SMALL} weight 5)`);
    expect(out[out.length - 1]).toBe(`next: deploy the ${STAGE} stage (npx projen up:${STAGE}, or merge the change and let the deploy workflow run): `
      + `the endpoint then serves one variant, ${OWN}, with version 7`);
  });

  test("--dry-run shows the change and the next step, and writes nothing", async () => {
    const dir = projectWith();
    const { code, out } = await run(dir, promote(SCORER, "--variant", CHALLENGER, "--dry-run"));
    expect(code).toBe(0);
    expect(stackText(dir)).toBe(ORIGINAL);
    expect(out).toContain("  source: { version: 6 } -> { version: 7 }");
    expect(out).toContain(`dry run: ${FILE} not written`);
    expect(out[out.length - 1]).toMatch(new RegExp(`^next: run again without --dry-run to write ${FILE.replace(/\./g, "\\.")}, then deploy the ${STAGE} stage`));
  });

  test("--json prints the change as data", async () => {
    const dir = projectWith();
    const { code, out } = await run(dir, promote(SCORER, "--variant", CHALLENGER, "--json", "--dry-run"));
    expect(code).toBe(0);
    const report = JSON.parse(out.join("\n"));
    expect(report).toEqual({
      stage: STAGE,
      file: FILE,
      endpoint: SCORER,
      winner: CHALLENGER,
      ownVariant: OWN,
      sourceBefore: { version: 6 },
      sourceAfter: { version: 7 },
      sourceChanged: true,
      removedVariants: [{ name: OWN, weight: 80 }, { name: CHALLENGER, weight: 15 }, { name: SMALL, weight: 5 }],
      sizeNote: expect.stringContaining(`${CHALLENGER} ran on 1 x ml.m5.xlarge`),
      chosenBy: "--variant",
      dryRun: true,
      written: false,
      next: expect.stringContaining("with version 7"),
    });
  });

  test("GIVEN an endpoint with its own variantName, THEN that name is the own variant", async () => {
    const dir = projectWith(ORIGINAL.replace(`      model: ${SCORER_MODEL}\n`, `      model: ${SCORER_MODEL}\n      variantName: blue\n`));
    const unknown = await run(dir, promote(SCORER, "--variant", OWN));
    expect(unknown.code).toBe(2);
    const { code, out } = await run(dir, promote(SCORER, "--variant", "blue"));
    expect(code).toBe(0);
    expect(out).toContain("  source: { version: 6 } (kept: the endpoint's own variant won)");
  });
});

describe("refusals: one line naming the stack file and key, nothing written", () => {
  test("an unknown stage is bad usage, listing the stages", async () => {
    const dir = projectWith();
    const { code, err } = await run(dir, ["promote", "--stage", "staging", "--endpoint", SCORER, "--variant", CHALLENGER]);
    expect(code).toBe(2);
    expect(err).toEqual([`variants: unknown stage "staging"; the stages of Pulumi.yaml are ${FIXTURE_STAGES.join(", ")} (see variants --help)`]);
    expect(stackText(dir)).toBe(ORIGINAL);
  });

  test("an unknown endpoint is bad usage, listing the stack file's endpoints", async () => {
    const dir = projectWith();
    const { code, err } = await run(dir, promote("nope", "--variant", CHALLENGER));
    expect(code).toBe(2);
    expect(err).toEqual([`variants: unknown endpoint "nope"; the endpoints of ${FILE} are ${SCORER}, ${EMBEDDER} (see variants --help)`]);
    expect(stackText(dir)).toBe(ORIGINAL);
  });

  test("an endpoint without abTest is refused, saying what it serves", async () => {
    const text = join2(PARTS.head, PARTS.ownSource, PARTS.middle, PARTS.scorerTail, EMBEDDER_PART);
    const dir = projectWith(text);
    const { code, err } = await run(dir, promote(SCORER, "--variant", OWN));
    expect(code).toBe(1);
    expect(err).toEqual([`variants: ${FILE}: mlplatform:endpoints.${SCORER} has no A/B test (abTest): it already serves one variant, ${OWN}, `
      + "with version 6; nothing to promote"]);
    expect(stackText(dir)).toBe(text);
  });

  test("an unknown variant is bad usage, listing the test's variants", async () => {
    const dir = projectWith();
    const { code, err } = await run(dir, promote(SCORER, "--variant", "green"));
    expect(code).toBe(2);
    expect(err).toEqual([`variants: unknown variant "green" of ${FILE}: mlplatform:endpoints.${SCORER}; its variants are ${OWN}, ${CHALLENGER}, ${SMALL} `
      + "(see variants --help)"]);
    expect(stackText(dir)).toBe(ORIGINAL);
  });

  test("--hours or --min-invocations with --variant is bad usage: they choose from metrics", async () => {
    const dir = projectWith();
    const { code, err } = await run(dir, promote(SCORER, "--variant", CHALLENGER, "--min-invocations", "10"));
    expect(code).toBe(2);
    expect(err).toEqual(["variants: --hours and --min-invocations choose the winner from metrics: give them without --variant (see variants --help)"]);
    expect(awsCalls()).toBe(0);
  });

  test("an endpoint written as a flow map is refused: it cannot be edited in place", async () => {
    const text = join2(PARTS.head, PARTS.ownSource, PARTS.middle, PARTS.abTest, PARTS.scorerTail)
      + `    ${EMBEDDER}: {model: ${EMBEDDER_MODEL}, source: {imageTag: v2, modelDataKey: ${EMBEDDER_MODEL}/v2/model.tar.gz}, `
      + "instanceType: ml.g4dn.xlarge, instanceCount: 1, deployment: {strategy: all-at-once}, abTest: {weight: 1, variants: "
      + `[{name: ${NEXT}, source: {imageTag: v3, modelDataKey: ${EMBEDDER_MODEL}/v3/model.tar.gz}, weight: 1}]}}\n`;
    const dir = projectWith(text);
    expect(configOf(dir).endpoints[EMBEDDER].abTest).toBeDefined();
    const { code, err } = await run(dir, promote(EMBEDDER, "--variant", NEXT));
    expect(code).toBe(1);
    expect(err).toEqual([`variants: ${FILE}: mlplatform:endpoints.${EMBEDDER} is written as a flow map ({ ... }), which cannot be edited in place; `
      + "write it out as a block map (one key per line) and run again; nothing written"]);
    expect(stackText(dir)).toBe(text);
  });
});

describe("promote by metrics (the leader of CloudWatch's numbers)", () => {
  const serviceName = project.serviceName;
  const endpointName = endpointNames(serviceName, SCORER).endpoint;
  const modelOf = (endpoint: string, variant: string) => `${endpoint}-${variant}-model`;

  /** An endpoint's sources as the stack file resolves them, by variant. */
  function resolved(dir: string, key = SCORER): Record<string, ModelSource> {
    const endpoint = configOf(dir).endpoints[key];
    return Object.fromEntries([[OWN, endpoint.source], ...endpoint.abTest!.variants.map((v) => [v.name, v.model])]);
  }

  /** One variant's CloudWatch numbers over the window; latency in microseconds, as CloudWatch has ModelLatency. */
  interface Traffic { invocations: number; errors5xx: number; p99Us: number }

  /** The endpoint `key` deployed with `variants`, each serving `serves[variant]`, and CloudWatch's numbers per variant. */
  function deployed(variants: string[], serves: Record<string, ModelSource>, traffic: Record<string, Traffic>, key = SCORER) {
    const name = endpointNames(serviceName, key).endpoint;
    const endpointConfig = `${name}-config-1a2b3c4`;
    sts.on(GetCallerIdentityCommand).resolves({ Account: ACCOUNT_ID, Arn: `arn:aws:sts::${ACCOUNT_ID}:assumed-role/dev/alice` });
    sts.on(AssumeRoleCommand).resolves({ Credentials: { AccessKeyId: "ASIADEPLOYER", SecretAccessKey: "s", SessionToken: "t", Expiration: new Date() } });
    sm.on(DescribeEndpointCommand).resolves({
      EndpointName: name,
      EndpointArn: `arn:aws:sagemaker:${REGION}:${ACCOUNT_ID}:endpoint/${name}`,
      EndpointConfigName: endpointConfig,
      EndpointStatus: "InService",
      ProductionVariants: variants.map((v) => ({
        VariantName: v, CurrentWeight: 1, DesiredWeight: 1, CurrentInstanceCount: 1, DesiredInstanceCount: 1,
      })),
      CreationTime: new Date(0),
      LastModifiedTime: new Date(0),
    });
    sm.on(DescribeEndpointConfigCommand, { EndpointConfigName: endpointConfig }).resolves({
      EndpointConfigName: endpointConfig,
      ProductionVariants: variants.map((v) => ({ VariantName: v, ModelName: modelOf(name, v) })),
    } as DescribeEndpointConfigCommandOutput);
    sm.on(DescribeModelCommand).callsFake((input: DescribeModelCommandInput) => {
      const variant = variants.find((v) => modelOf(name, v) === input.ModelName)!;
      const source = serves[variant];
      return {
        ModelName: input.ModelName,
        PrimaryContainer: "modelPackageArn" in source
          ? { ModelPackageName: source.modelPackageArn }
          : { Image: source.image, ModelDataUrl: source.modelDataUrl },
      };
    });
    cw.on(GetMetricDataCommand).callsFake((input: GetMetricDataCommandInput) => ({
      MetricDataResults: (input.MetricDataQueries ?? []).map((q): MetricDataResult => {
        const stat = q.MetricStat!;
        const dims = Object.fromEntries((stat.Metric?.Dimensions ?? []).map((d) => [d.Name, d.Value]));
        const t = dims.EndpointName === name ? traffic[dims.VariantName ?? ""] : undefined;
        const values: Record<string, number> = t === undefined ? {} : {
          "Invocations/Sum": t.invocations,
          "Invocation4XXErrors/Sum": 0,
          "Invocation5XXErrors/Sum": t.errors5xx,
          "ModelLatency/p50": t.p99Us / 2,
          "ModelLatency/p99": t.p99Us,
        };
        const value = values[`${stat.Metric?.MetricName}/${stat.Stat}`] as number | undefined;
        return { Id: q.Id, StatusCode: "Complete", Timestamps: value === undefined ? [] : [input.StartTime!], Values: value === undefined ? [] : [value] };
      }),
    }));
  }

  /** The challenger leads: the lowest 5XX rate, everyone with enough traffic. */
  const challengerLeads = {
    [OWN]: { invocations: 8000, errors5xx: 16, p99Us: 90_000 },
    [CHALLENGER]: { invocations: 1500, errors5xx: 0, p99Us: 80_000 },
    [SMALL]: { invocations: 500, errors5xx: 2, p99Us: 70_000 },
  };

  test("GIVEN the deployed endpoint is the stack file's, THEN the leader is promoted as with --variant, as the stage's deployer role", async () => {
    const dir = projectWith();
    deployed([OWN, CHALLENGER, SMALL], resolved(dir), challengerLeads);
    const { code, out, err } = await run(dir, promote(SCORER));
    expect(code).toBe(0);
    expect(stackText(dir)).toBe(join2(PARTS.head, CHALLENGER_SOURCE, PARTS.middle, PARTS.scorerTail, EMBEDDER_PART));
    const account = accountRef(ACCOUNT_ID, REGION);
    expect(sts.commandCalls(AssumeRoleCommand).map((c) => c.args[0].input.RoleArn))
      .toEqual([roleArn(account, stageNames(serviceName, STAGE, account).deployerRole)]);
    expect(err[0]).toMatch(/^variants: as .*deployer/);
    expect(sm.commandCalls(DescribeModelCommand).map((c) => c.args[0].input.ModelName))
      .toEqual([OWN, CHALLENGER, SMALL].map((v) => modelOf(endpointName, v)));
    expect(out).toContain(`leader: ${CHALLENGER}: lowest 5XX error rate (0.00%) among the 3 variants with at least 100 invocations`);
    expect(out).toContain(`${FILE}: mlplatform:endpoints.${SCORER}: ${CHALLENGER} wins the A/B test, the leader of the metrics `
      + "(lowest 5XX error rate (0.00%) among the 3 variants with at least 100 invocations)");
  });

  test("GIVEN image variants, THEN the leader's deployed image and model data must be the stack file's, and it is promoted", async () => {
    const dir = projectWith();
    const serves = resolved(dir, EMBEDDER);
    const traffic = {
      [OWN]: { invocations: 900, errors5xx: 9, p99Us: 5_000 },
      [NEXT]: { invocations: 900, errors5xx: 0, p99Us: 5_000 },
    };
    const next = serves[NEXT] as Extract<ModelSource, { image: string }>;
    // The same image with other model data is another version.
    deployed([OWN, NEXT], { ...serves, [NEXT]: { ...next, modelDataUrl: `${next.modelDataUrl}.old` } }, traffic, EMBEDDER);
    const refused = await run(dir, promote(EMBEDDER));
    expect(refused.code).toBe(1);
    expect(refused.err[refused.err.length - 1]).toContain(`but ${FILE}: mlplatform:endpoints.${EMBEDDER} gives ${NEXT} image tag v3 with model data `
      + `${EMBEDDER_MODEL}/v3/model.tar.gz: its metrics are not of that version`);
    expect(stackText(dir)).toBe(ORIGINAL);

    sm.reset();
    deployed([OWN, NEXT], serves, traffic, EMBEDDER);
    const { code } = await run(dir, promote(EMBEDDER));
    expect(code).toBe(0);
    expect(configOf(dir).endpoints[EMBEDDER].source).toEqual(serves[NEXT]);
  });

  test("--json includes the metrics that named the leader", async () => {
    const dir = projectWith();
    deployed([OWN, CHALLENGER, SMALL], resolved(dir), challengerLeads);
    const { code, out } = await run(dir, promote(SCORER, "--json", "--hours", "48"));
    expect(code).toBe(0);
    const report = JSON.parse(out.join("\n"));
    expect(report).toMatchObject({ winner: CHALLENGER, chosenBy: "metrics", written: true, metrics: { hours: 48, leader: { variant: CHALLENGER } } });
    expect(report.metrics.variants.map((v: { variant: string; invocations: number }) => [v.variant, v.invocations]))
      .toEqual([[OWN, 8000], [CHALLENGER, 1500], [SMALL, 500]]);
  });

  test("GIVEN too few invocations, THEN there is no leader: refused with the threshold and the options to pass, nothing written", async () => {
    const dir = projectWith();
    deployed([OWN, CHALLENGER, SMALL], resolved(dir), {
      ...challengerLeads, [CHALLENGER]: { invocations: 40, errors5xx: 0, p99Us: 1 }, [SMALL]: { invocations: 3, errors5xx: 0, p99Us: 1 },
    });
    const { code, err } = await run(dir, promote(SCORER));
    expect(code).toBe(1);
    expect(err[err.length - 1]).toBe(`variants: no leader to promote for ${FILE}: mlplatform:endpoints.${SCORER}: not enough traffic to compare: `
      + "1 of 3 variants had at least 100 invocations (--min-invocations). With more traffic a longer --hours (now 24) or a lower "
      + `--min-invocations (now 100) may name one; or choose the winner with --variant NAME (one of ${OWN}, ${CHALLENGER}, ${SMALL})`);
    expect(stackText(dir)).toBe(ORIGINAL);

    // A lower bar names the challenger.
    const lowered = await run(dir, promote(SCORER, "--min-invocations", "40", "--dry-run"));
    expect(lowered.code).toBe(0);
    expect(lowered.out).toContain(`${FILE}: mlplatform:endpoints.${SCORER}: ${CHALLENGER} wins the A/B test, the leader of the metrics `
      + "(lowest 5XX error rate (0.00%) among the 2 variants with at least 40 invocations)");
  });

  test("GIVEN the deployed endpoint has other variants than the stack file, THEN its metrics are refused: deploy first", async () => {
    const dir = projectWith();
    const serves = resolved(dir);
    deployed([OWN, CHALLENGER], serves, challengerLeads);
    const { code, err } = await run(dir, promote(SCORER));
    expect(code).toBe(1);
    expect(err[err.length - 1]).toBe(`variants: the deployed endpoint ${endpointName} has the variants ${OWN}, ${CHALLENGER}, but ${FILE}: `
      + `mlplatform:endpoints.${SCORER} has ${OWN}, ${CHALLENGER}, ${SMALL}: its metrics are not of the stack file's A/B test; deploy the ${STAGE} `
      + `stage first (npx projen up:${STAGE}), or choose the winner with --variant NAME (one of ${OWN}, ${CHALLENGER}, ${SMALL})`);
    expect(stackText(dir)).toBe(ORIGINAL);
  });

  test("GIVEN the leader serves another version than the stack file gives it, THEN it is refused: its metrics are not of that version", async () => {
    const dir = projectWith();
    const serves = resolved(dir);
    // The challenger still runs the small variant's version: the stack file moved on since the last deployment.
    deployed([OWN, CHALLENGER, SMALL], { ...serves, [CHALLENGER]: serves[SMALL] }, challengerLeads);
    const { code, err } = await run(dir, promote(SCORER));
    expect(code).toBe(1);
    const arn = (serves[SMALL] as { modelPackageArn: string }).modelPackageArn;
    expect(err[err.length - 1]).toBe(`variants: the leader ${CHALLENGER} of the deployed endpoint ${endpointName} serves model package ${arn}, `
      + `but ${FILE}: mlplatform:endpoints.${SCORER} gives ${CHALLENGER} version 7: its metrics are not of that version; deploy the ${STAGE} stage `
      + `first (npx projen up:${STAGE}), or choose the winner with --variant NAME (one of ${OWN}, ${CHALLENGER}, ${SMALL})`);
    expect(stackText(dir)).toBe(ORIGINAL);
  });
});

describe("editing in place (scripts/promote/ab-winner.ts)", () => {
  const stack = (text: string) => parseStackFile(FILE, text);
  const promoteIn = (text: string, key: string, winner: string) => {
    const parsed = stack(text);
    const ab = abTestOf(parsed, key, OWN);
    return promoteWinner(parsed, ab, variantNamed(ab, winner)!).text;
  };

  test("an endpoint the file does not have is refused", () => {
    expect(() => abTestOf(stack(ORIGINAL), "nope", OWN)).toThrow(`${FILE}: mlplatform:endpoints.nope not found; nothing written`);
  });

  test("a flow-style source of the endpoint gets the winner's source in flow style on the same line", () => {
    const text = ORIGINAL.replace(`      source: # own source\n${PARTS.ownSource}`, "      source: {version: 6} # own source\n");
    const after = promoteIn(text, SCORER, CHALLENGER);
    expect(after).toContain("      source: { version: 7 } # own source\n      instanceType");
    expect(stack(after).doc.getIn(["config", "mlplatform:endpoints", SCORER, "abTest"])).toBeUndefined();
  });

  test("a winner written in flow style is rendered into the endpoint's block layout", () => {
    const text = ORIGINAL.replace("            source:\n              version: 7 # retrained on more data\n", "            source: {version: 7}\n");
    const after = promoteIn(text, SCORER, CHALLENGER);
    expect(after.startsWith(join2(PARTS.head, "        version: 7\n", PARTS.middle, PARTS.scorerTail))).toBe(true);
  });

  test("an endpoint that is a YAML alias of another is refused", () => {
    const text = `${ORIGINAL}    copy: *scorer\n`.replace(`    ${SCORER}:\n`, `    ${SCORER}: &scorer\n`);
    expect(() => promoteIn(text, "copy", CHALLENGER)).toThrow(`${FILE}: mlplatform:endpoints.copy is written as a YAML alias, which cannot be edited in place`);
  });

  test("abTest inherited through a merge key is refused", () => {
    const text = `${ORIGINAL}    merged:\n      <<: *scorer\n      instanceCount: 3\n`.replace(`    ${SCORER}:\n`, `    ${SCORER}: &scorer\n`);
    expect(() => promoteIn(text, "merged", CHALLENGER)).toThrow(`${FILE}: mlplatform:endpoints.merged has abTest only through a YAML merge key (<<)`);
  });

  test("a key that does not start its line (an explicit ? key) is refused", () => {
    const text = ORIGINAL.replace("      abTest:\n", "      ? abTest\n      :\n");
    expect(() => promoteIn(text, SCORER, CHALLENGER)).toThrow(`${FILE}: mlplatform:endpoints.${SCORER} has its abTest key where a line does not start with it`);
  });

  test("an anchor inside abTest that is used elsewhere is refused: removing it would make the file unreadable", () => {
    const text = ORIGINAL.replace("            instanceType: ml.m5.xlarge\n", "            instanceType: &big ml.m5.xlarge\n")
      .replace("      instanceType: ml.g4dn.xlarge\n", "      instanceType: *big\n");
    expect(() => promoteIn(text, SCORER, OWN)).toThrow(new RegExp(`^${FILE.replace(/\./g, "\\.")}: mlplatform:endpoints\\.${SCORER}: ending the A/B test in place `
      + "would make the file unreadable [\\s\\S]*; nothing written\\. Edit the file by hand: remove abTest"));
  });

  test("a source anchored and used by another endpoint is refused: replacing it would change the other too", () => {
    const text = ORIGINAL.replace("      source: # own source\n", "      source: &own # own source\n")
      .replace(`      source:\n${PARTS.embedderSource}`, "      source: *own\n");
    expect(() => promoteIn(text, SCORER, CHALLENGER)).toThrow(`${FILE}: mlplatform:endpoints.${SCORER}: ending the A/B test in place would also change `
      + "other values of the file; nothing written");
  });

  test("Windows line endings stay Windows line endings", () => {
    const after = promoteIn(ORIGINAL.replace(/\n/g, "\r\n"), SCORER, CHALLENGER);
    expect(after).toBe(join2(PARTS.head, CHALLENGER_SOURCE, PARTS.middle, PARTS.scorerTail, EMBEDDER_PART).replace(/\n/g, "\r\n"));
  });
});

describe("command line", () => {
  test("promote --help shows its usage without reading config or calling AWS", async () => {
    const dir = projectWith();
    const { code, out } = await run(join(dir, "missing"), ["promote", "--help"]);
    expect(code).toBe(0);
    expect(out[0]).toBe("Usage: variants promote --stage STAGE --endpoint KEY [--variant NAME] [--dry-run] [options]");
    expect(out.join("\n")).toContain("--dry-run");
    expect(awsCalls()).toBe(0);
  });
});
