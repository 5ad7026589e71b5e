import type { Document } from "yaml";
import { z } from "zod";
import type * as component from "../../components/blue-green-endpoint";
import { realtimeEndpointProblems } from "../../components/endpoint-rules";
import { endpointNames } from "../../components/names";
import { planStack } from "../../scripts/plan/engine";
import { readStackConfigFiles } from "../../stacks/config/files";
import { ConfigError, loadStackConfig } from "../../stacks/config/load";
import { type StackConfig, stageConfigSchema } from "../../stacks/config/schema";
import { FIXTURE_ROOT } from "../fixtures/project";
import { FIXTURE } from "../fixtures/service";
import { recordResources } from "../support/mocks";
import { copyProject, endpointPath, type ProjectEdits } from "../support/stack-files";

/**
 * The rules on an endpoint's arguments live in one place, components/endpoint-rules.ts: the config
 * schema (stacks/config/schema.ts) only types the endpoint's values and runs the rules on them, the
 * component (components/blue-green-endpoint.ts) runs the same rules, and the plan reports what they
 * say. Two guards keep it so: no value under the schema's `endpoints` carries a check of its own,
 * and the schema, the component and the plan report the same problems for the same bad endpoint.
 */

// ---- no checks under `endpoints` in the schema -------------------------------------------------

/** What a zod 4 schema holds in `_zod.def`, as far as the walk reads it. */
interface Def {
  readonly type: string;
  readonly checks?: readonly { _zod: { def: { check: string; format?: string } } }[];
  readonly shape?: Record<string, Schema>;
  readonly catchall?: Schema;
  readonly innerType?: Schema;
  readonly in?: Schema;
  readonly out?: Schema;
  readonly options?: readonly Schema[];
  readonly element?: Schema;
  readonly keyType?: Schema;
  readonly valueType?: Schema;
  readonly left?: Schema;
  readonly right?: Schema;
  readonly items?: readonly Schema[];
  readonly discriminator?: string;
}
type Schema = { readonly _zod: { readonly def: Def } };

/** Schema types the walk knows; any other type under `endpoints` fails the guard, so a new kind of schema is looked at. */
const LEAVES = new Set(["string", "number", "boolean", "literal", "unknown", "any", "transform", "enum"]);
const WRAPPERS = new Set(["default", "prefault", "optional", "nullable", "readonly", "nonoptional", "catch", "pipe", "object", "union", "array", "record", "intersection", "tuple"]);

interface Node {
  /** Path from the stage config: `endpoints.<key>.deployment[canary].canarySizePercent`. */
  readonly path: string;
  readonly type: string;
  /** The schema's own checks: `greater_than`, `number_format safeint`, `string_format regex`, a refinement's `custom`. */
  readonly checks: string[];
}

/** Every schema in the tree, with its path and own checks (the pipe of a transform is looked through). */
function walk(schema: Schema, path = ""): Node[] {
  const def = schema._zod.def;
  const checks = (def.checks ?? []).map((c) => [c._zod.def.check, c._zod.def.format].filter((x) => x !== undefined).join(" "));
  const nodes: Node[] = [{ path, type: def.type, checks }];
  const child = (s: Schema | undefined, p: string) => { if (s !== undefined) nodes.push(...walk(s, p)); };
  child(def.innerType, path);
  child(def.in, path);
  child(def.out, path);
  for (const [key, value] of Object.entries(def.shape ?? {})) child(value, path === "" ? key : `${path}.${key}`);
  if (def.catchall !== undefined && def.catchall._zod.def.type !== "never") child(def.catchall, `${path}.*`);
  (def.options ?? []).forEach((option, i) => {
    const tagSchema = def.discriminator === undefined ? undefined : option._zod.def.shape?.[def.discriminator];
    const literal = tagSchema?._zod.def as { values?: unknown[] } | undefined;
    const tag = String(literal?.values?.[0] ?? i);
    child(option, `${path}[${tag}]`);
  });
  child(def.element, `${path}[]`);
  child(def.keyType, `${path}.<key>`);
  child(def.valueType, `${path}.<key>`);
  child(def.left, path);
  child(def.right, path);
  (def.items ?? []).forEach((item, i) => child(item, `${path}[${i}]`));
  return nodes;
}

/**
 * Checks the stack file's own form of the source keeps: a version number, an image tag or digest and
 * an S3 key are how a stack file names the model, not arguments of the endpoint (the component takes
 * the ARN, image URI and URL the schema derives from them, and the rules check those).
 */
const SOURCE_FORM_CHECKS: Readonly<Record<string, readonly string[]>> = {
  "endpoints.<key>.source.version": ["number_format safeint", "greater_than", "less_than"],
  "endpoints.<key>.source.imageTag": ["string_format regex"],
  "endpoints.<key>.source.imageDigest": ["string_format regex"],
  "endpoints.<key>.source.modelDataKey": ["string_format regex"],
};

/** Every check (or rule-like schema) under `endpoints`, as `path: type [checks]`, except the source's form. */
function rulesUnderEndpoints(nodes: readonly Node[]): string[] {
  return nodes.filter((n) => n.path === "endpoints" || n.path.startsWith("endpoints."))
    .flatMap((n) => {
      // The source's form is one schema, used for the endpoint's source and for each A/B variant's.
      const asSource = n.path.replace(/^endpoints\.<key>\.abTest\.variants\[\]\.source\./, "endpoints.<key>.source.");
      const checks = n.checks.filter((c) => !(SOURCE_FORM_CHECKS[asSource] ?? []).includes(c));
      // An enum is a list of allowed values: a rule (the instance types were one), unlike a literal, which tags a union.
      const rule = n.type === "enum" ? [`${n.path}: enum`] : [];
      const unknown = LEAVES.has(n.type) || WRAPPERS.has(n.type) ? [] : [`${n.path}: ${n.type} (a schema type this guard does not know)`];
      return [...(checks.length > 0 ? [`${n.path}: ${n.type} [${checks.join(", ")}]`] : []), ...rule, ...unknown];
    });
}

let fixtureConfig: Record<string, StackConfig>;
let stageSchema: Schema;

beforeAll(async () => {
  fixtureConfig = Object.fromEntries(["sandbox", "qa", "prod"].map((stage) => [stage, loadStackConfig(stage, readStackConfigFiles(FIXTURE_ROOT, stage))]));
  const { project, stage, region } = fixtureConfig.prod;
  stageSchema = stageConfigSchema({ project, stage, region }) as unknown as Schema;
});

describe("the stage config schema under endpoints", () => {
  test("GIVEN the schema WHEN walked THEN it reaches every endpoint value the rules look at (the walk is not empty)", () => {
    const paths = new Set(walk(stageSchema).map((n) => n.path));
    const expected = [
      "endpoints.<key>.variantName",
      "endpoints.<key>.instanceType",
      "endpoints.<key>.instanceCount",
      "endpoints.<key>.volumeSizeGiB",
      "endpoints.<key>.source.environment.<key>",
      "endpoints.<key>.deployment[canary].canarySizePercent",
      "endpoints.<key>.deployment[linear].stepSizePercent",
      "endpoints.<key>.deployment[rolling].batchSizePercent",
      "endpoints.<key>.deployment[all-at-once].maximumExecutionTimeoutSeconds",
      "endpoints.<key>.alarms.evaluationPeriods",
      "endpoints.<key>.alarms.additionalRollbackAlarmNames[]",
      ...Object.keys(SOURCE_FORM_CHECKS),
    ];
    expect(expected.filter((p) => !paths.has(p))).toEqual([]);
  });

  test("GIVEN the schema WHEN walked THEN no value under endpoints carries a check: the rules are in components/endpoint-rules.ts only", () => {
    expect(rulesUnderEndpoints(walk(stageSchema))).toEqual([]);
  });

  test("GIVEN the source's own form WHEN walked THEN those checks are exactly the ones the guard lets through", () => {
    const nodes = walk(stageSchema).filter((n) => n.path in SOURCE_FORM_CHECKS && n.checks.length > 0);
    expect(Object.fromEntries(nodes.map((n) => [n.path, n.checks]))).toEqual(SOURCE_FORM_CHECKS);
  });

  test("GIVEN the rest of the stage config WHEN walked THEN its checks are still seen (the guard reads checks, it is not blind to them)", () => {
    const checked = walk(stageSchema).filter((n) => !n.path.startsWith("endpoints") && n.checks.length > 0).map((n) => n.path);
    expect(checked).toEqual(expect.arrayContaining(["tags.<key>", "noncurrentVersionExpirationDays"]));
  });

  describe("the guard itself, on copies of the schema with a rule put back", () => {
    /** The endpoint's object schema: stage config (a pipe into its transform) -> endpoints (a default) -> record -> value. */
    const endpointOf = () => stageSchema._zod.def.in?._zod.def.shape?.endpoints._zod.def.innerType?._zod.def.valueType as unknown as z.ZodObject;
    const stageWith = (endpoint: z.ZodObject) => walk(z.strictObject({ endpoints: z.record(z.string(), endpoint).default({}) }) as unknown as Schema);

    test.each<[string, (e: z.ZodObject) => z.ZodObject, string]>([
      ["volumeSizeGiB .max(512)", (e) => e.extend({ volumeSizeGiB: z.number().max(512).optional() }), "endpoints.<key>.volumeSizeGiB: number [less_than]"],
      ["instanceCount .int()", (e) => e.extend({ instanceCount: z.number().int() }), "endpoints.<key>.instanceCount: number [number_format safeint]"],
      ["variantName .regex()", (e) => e.extend({ variantName: z.string().regex(/^[a-z]+$/).default("primary") }), "endpoints.<key>.variantName: string [string_format regex]"],
      ["instanceType as an enum", (e) => e.extend({ instanceType: z.enum(["ml.m5.large"]) }), "endpoints.<key>.instanceType: enum"],
      ["alarm names .min(1)", (e) => e.extend({ alarms: z.strictObject({ additionalRollbackAlarmNames: z.array(z.string().min(1)) }) }),
        "endpoints.<key>.alarms.additionalRollbackAlarmNames[]: string [min_length]"],
      ["at most 8 alarm names", (e) => e.extend({ alarms: z.strictObject({ additionalRollbackAlarmNames: z.array(z.string()).max(8) }) }),
        "endpoints.<key>.alarms.additionalRollbackAlarmNames: array [max_length]"],
      ["a refinement on the endpoint", (e) => e.refine((v) => v.instanceCount !== 0), "endpoints.<key>: object [custom]"],
    ])("GIVEN %s put back WHEN walked THEN the guard names it", (_title, edit, line) => {
      const endpoint = endpointOf();
      expect(rulesUnderEndpoints(stageWith(endpoint))).not.toContain(line);
      expect(rulesUnderEndpoints(stageWith(edit(endpoint)))).toContain(line);
    });
  });
});

// ---- the same problems from the schema, the component and the plan -----------------------------

interface Case {
  readonly title: string;
  readonly stage: "sandbox" | "qa" | "prod";
  /** The endpoint's key in the stack file. */
  readonly key: string;
  /** The key of the fixture's endpoint the case starts from (the same as key unless the case renames it). */
  readonly from?: string;
  readonly edits: ProjectEdits;
  /** The same mistake, in the component's arguments. */
  readonly args: (args: component.BlueGreenEndpointArgs) => component.BlueGreenEndpointArgs;
  /** `field check` of each problem, in the rules' order. */
  readonly expected: readonly [string, string][];
}

const set = (path: (string | number)[], value: unknown) => (doc: Document) => doc.setIn(path, doc.createNode(value));
const LONG_KEY = "churn-scorer-with-a-name-far-too-long";
const ARTIFACTS = `${FIXTURE.serviceName}-artifacts-${FIXTURE.accounts.sandbox}-${FIXTURE.region}`;
/** s3://<53-character bucket>/ is 59 characters: this 966-character key makes 1025. */
const LONG_DATA_KEY = `doc-embedder/${"k".repeat(953)}`;

const cases: Case[] = [
  {
    title: "a canary of 60% and a blank rollback alarm name",
    stage: "prod",
    key: "churn-scorer",
    edits: {
      stack: (doc) => {
        set(endpointPath("churn-scorer", "deployment", "canarySizePercent"), 60)(doc);
        set(endpointPath("churn-scorer", "alarms", "additionalRollbackAlarmNames"), ["  "])(doc);
      },
    },
    args: (a) => ({
      ...a,
      deployment: { ...a.deployment, canarySizePercent: 60 } as component.BlueGreenEndpointArgs["deployment"],
      alarms: { ...a.alarms, additionalRollbackAlarmNames: ["  "] },
    }),
    expected: [["alarms.additionalRollbackAlarmNames", "guardrail-range"], ["deployment.canarySizePercent", "guardrail-range"]],
  },
  {
    title: "a volume size on an NVMe-backed type and a variant name with an underscore",
    stage: "sandbox",
    key: "doc-embedder",
    edits: {
      stack: (doc) => {
        set(endpointPath("doc-embedder", "volumeSizeGiB"), 100)(doc);
        set(endpointPath("doc-embedder", "variantName"), "blue_green")(doc);
      },
    },
    args: (a) => ({ ...a, volumeSizeGiB: 100, variantName: "blue_green" }),
    expected: [["variantName", "name"], ["volumeSizeGiB", "capacity"]],
  },
  {
    title: "a volume of 600 GiB",
    stage: "qa",
    key: "churn-scorer",
    edits: { stack: set(endpointPath("churn-scorer", "volumeSizeGiB"), 600) },
    args: (a) => ({ ...a, volumeSizeGiB: 600 }),
    expected: [["volumeSizeGiB", "capacity"]],
  },
  {
    title: "an instance type SageMaker does not host and waits that outlast the provider",
    stage: "qa",
    key: "churn-scorer",
    edits: {
      stack: (doc) => {
        set(endpointPath("churn-scorer", "instanceType"), "ml.t3.medium")(doc);
        set(endpointPath("churn-scorer", "deployment", "waitSeconds"), 3600)(doc);
      },
    },
    args: (a) => ({ ...a, instanceType: "ml.t3.medium", deployment: { ...a.deployment, waitSeconds: 3600 } as component.BlueGreenEndpointArgs["deployment"] }),
    expected: [["instanceType", "instance-type"], ["deployment", "rollout-timeout"], ["deployment.maximumExecutionTimeoutSeconds", "guardrail-range"]],
  },
  {
    title: "an environment variable with a hyphen",
    stage: "sandbox",
    key: "doc-embedder",
    edits: { stack: set(endpointPath("doc-embedder", "source", "environment", "MODEL-NAME"), "x") },
    args: (a) => {
      if (!("environment" in a.model)) throw new Error("the fixture's doc-embedder serves an image");
      return { ...a, model: { ...a.model, environment: { ...a.model.environment, "MODEL-NAME": "x" } } };
    },
    expected: [["source.environment.MODEL-NAME", "environment"]],
  },
  {
    title: "a modelDataKey that makes the model data URL 1025 characters",
    stage: "sandbox",
    key: "doc-embedder",
    edits: { stack: set(endpointPath("doc-embedder", "source", "modelDataKey"), LONG_DATA_KEY) },
    args: (a) => {
      if (!("environment" in a.model)) throw new Error("the fixture's doc-embedder serves an image");
      return { ...a, model: { ...a.model, modelDataUrl: `s3://${ARTIFACTS}/${LONG_DATA_KEY}` } };
    },
    expected: [["source.modelDataKey", "model-source"]],
  },
  {
    title: "an endpoint key whose auto-named children pass 63 characters",
    stage: "qa",
    key: LONG_KEY,
    from: "churn-scorer",
    edits: {
      stack: (doc) => {
        doc.setIn(["config", "mlplatform:endpoints", LONG_KEY], doc.getIn(endpointPath("churn-scorer")));
        doc.deleteIn(endpointPath("churn-scorer"));
      },
    },
    args: (a) => a,
    expected: [["", "name"]],
  },
];

/** What the rule said: the field relative to the endpoint, the check and the message, from any of the three. */
interface Said {
  readonly field: string;
  readonly check: string | undefined;
  readonly message: string;
}

const prefixOf = (key: string) => `mlplatform:endpoints.${key}`;
const fieldOf = (key: string, configKey: string | null) => {
  if (configKey === prefixOf(key)) return "";
  if (configKey?.startsWith(`${prefixOf(key)}.`)) return configKey.slice(prefixOf(key).length + 1);
  return `(not this endpoint's: ${configKey})`;
};

/** The component's arguments for a fixture endpoint, as stacks/program.ts builds them from the validated config. */
function argsOf(config: StackConfig, key: string): component.BlueGreenEndpointArgs {
  const endpoint = config.endpoints[key];
  return {
    variantName: endpoint.variantName,
    model: endpoint.source,
    executionRoleArn: `arn:aws:iam::${config.accountId}:role/${FIXTURE.serviceName}-${config.stage}-sagemaker-execution`,
    instanceType: endpoint.instanceType,
    instanceCount: endpoint.instanceCount,
    volumeSizeGiB: endpoint.volumeSizeGiB,
    deployment: endpoint.deployment,
    alarms: endpoint.alarms,
    autoscaling: endpoint.autoscaling,
  } as component.BlueGreenEndpointArgs;
}

describe("one bad endpoint, three reporters", () => {
  let mod: typeof component;

  beforeAll(async () => {
    await recordResources();
    mod = await import("../../components/blue-green-endpoint");
  });

  async function reports(c: Case): Promise<{ schema: Said[]; component: Said[]; plan: Said[] }> {
    const copy = copyProject(c.stage, c.edits);
    try {
      let schema: Said[] = [];
      try {
        loadStackConfig(c.stage, readStackConfigFiles(copy.dir, c.stage));
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        schema = error.problems.map((p) => ({ field: fieldOf(c.key, p.path), check: p.check, message: p.message }));
      }

      const name = endpointNames(FIXTURE.serviceName, c.key).endpoint;
      let componentSaid: Said[] = [];
      try {
        new mod.BlueGreenEndpoint(name, c.args(argsOf(fixtureConfig[c.stage], c.from ?? c.key)));
      } catch (error) {
        if (!mod.isEndpointArgsError(error)) throw error;
        componentSaid = error.problems.map((p) => ({ field: p.field, check: p.check, message: p.message }));
      }

      const plan = await planStack(copy.dir, c.stage);
      return {
        schema,
        component: componentSaid,
        plan: plan.findings.map((f) => ({ field: fieldOf(c.key, f.configKey), check: f.check, message: f.message })),
      };
    } finally {
      copy.cleanup();
    }
  }

  const sorted = (said: readonly Said[]) => said.map((s) => [s.field, s.check ?? "(none)"]).sort((a, b) => a.join(" ").localeCompare(b.join(" ")));

  it.each(cases)("GIVEN $title WHEN the schema, the component and the plan check it THEN all three report the same fields and checks", async (c) => {
    const said = await reports(c);
    const expected = sorted(c.expected.map(([field, check]) => ({ field, check, message: "" })));
    expect({ schema: sorted(said.schema), component: sorted(said.component), plan: sorted(said.plan) })
      .toEqual({ schema: expected, component: expected, plan: expected });
  });

  it.each(cases)("GIVEN $title WHEN reported THEN the schema and the plan quote the component's (the rule's) message", async (c) => {
    const said = await reports(c);
    const pairs = said.component.map((p) => ({
      field: p.field,
      schema: said.schema.some((s) => s.field === p.field && s.message.includes(p.message)),
      plan: said.plan.some((s) => s.field === p.field && s.message.includes(p.message)),
    }));
    expect(pairs).toEqual(said.component.map((p) => ({ field: p.field, schema: true, plan: true })));
    expect(pairs.length).toBeGreaterThan(0);
  });

  it("GIVEN a case's arguments WHEN the rules are called directly THEN they say what the component says (the component adds nothing)", () => {
    for (const c of cases) {
      const name = endpointNames(FIXTURE.serviceName, c.key).endpoint;
      const args = c.args(argsOf(fixtureConfig[c.stage], c.from ?? c.key));
      expect([c.title, sorted(realtimeEndpointProblems({ ...args, name }))]).toEqual([c.title, sorted(c.expected.map(([field, check]) => ({ field, check, message: "" })))]);
    }
  });
});
