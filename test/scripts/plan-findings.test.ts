import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ProductionVariantInstanceType } from "@aws-sdk/client-sagemaker";
import type { Document } from "yaml";
import type { RuleCheck } from "../../components/endpoint-rules";
import { PRODUCTION_VARIANT_INSTANCE_TYPES } from "../../components/production-variant-instance-types";
import { HOURLY_USD } from "../../scripts/lib/prices";
import { planStack, planStacks } from "../../scripts/plan/engine";
import { CHECKS, checkResources, FindingSink } from "../../scripts/plan/findings";
import type { Finding, PlannedResource, StackPlan } from "../../scripts/plan/types";
import * as load from "../../stacks/config/load";
import { FIXTURE_ROOT, FIXTURE_STACKS, FIXTURE_STAGES } from "../fixtures/project";
import { copyProject, endpointPath, type ProjectEdits, REPO_ROOT } from "../support/stack-files";

/**
 * Every finding class of the offline plan, each provoked by a stack file of the fixture project
 * (test/fixtures/project) that makes the mistake.
 * Where the program's own config schema already refuses the file, the plan still reports the class
 * and the key to fix: each rule on an endpoint (components/endpoint-rules.ts) names its class, and
 * the schema, the component and the plan all report it through the same rule. The resource-level
 * checks that remain (names, prices) are tested at the end on registered resources.
 */

const set = (path: (string | number)[], value: unknown) => (doc: Document) => doc.setIn(path, doc.createNode(value));
const ARN_IN_OTHER_ACCOUNT = "arn:aws:cloudwatch:ap-southeast-4:999999999999:alarm:team-slo";

async function planEdited(stage: string, edits: ProjectEdits): Promise<StackPlan> {
  const copy = copyProject(stage, edits);
  try {
    return await planStack(copy.dir, stage);
  } finally {
    copy.cleanup();
  }
}

function only(plan: StackPlan, check: string): Finding {
  const found = plan.findings.filter((f) => f.check === check);
  expect(found).toHaveLength(1);
  return found[0];
}

let fixture: Record<string, StackPlan>;

beforeAll(async () => {
  const plans = await planStacks(FIXTURE_ROOT, FIXTURE_STACKS);
  fixture = Object.fromEntries(plans.map((p) => [p.stack, p]));
});

describe("the fixture stacks", () => {
  it.each(FIXTURE_STACKS)("GIVEN the %s stack WHEN planned THEN it has no error finding", (stage) => {
    expect(fixture[stage].findings.filter((f) => f.severity === "error")).toEqual([]);
    expect(fixture[stage].resources.length).toBeGreaterThan(20);
  });

  it("GIVEN prod's GPU endpoint WHEN planned THEN its 50-minute rollout is a warning within 25% of the provider's 60-minute wait", () => {
    const finding = only(fixture.prod, "rollout-near-limit");
    expect(finding).toMatchObject({ severity: "warning", stack: "prod", configKey: "mlplatform:endpoints.doc-embedder.deployment" });
    expect(finding.urn).toMatch(/BlueGreenEndpoint\$aws:sagemaker\/endpoint:Endpoint::churn-predictor-doc-embedder-endpoint$/);
    expect(finding.message).toContain("estimated rollout 50 min (1 x 15 min provisioning (assumed) + 35 min of waits)");
  });

  it("GIVEN qa's linear and prod's canary rollouts on 2-3 instances WHEN planned THEN none is a single-instance traffic shift", () => {
    expect(FIXTURE_STAGES.flatMap((s) => fixture[s].findings).filter((f) => f.check === "single-instance-traffic-shift")).toEqual([]);
    expect(fixture.qa.estimates.endpoints.map((e) => [e.strategy, e.instanceCount])).toContainEqual(["linear", 2]);
  });

  it("GIVEN sandbox's endpoints WHEN planned THEN a baking period shorter than the alarm window is a warning naming waitSeconds", () => {
    const findings = fixture.sandbox.findings.filter((f) => f.check === "rollback-alarm-window");
    expect(findings.map((f) => f.configKey).sort()).toEqual([
      "mlplatform:endpoints.churn-scorer.deployment.waitSeconds",
      "mlplatform:endpoints.doc-embedder.deployment.waitSeconds",
    ]);
    expect(findings.find((f) => f.configKey?.includes("churn-scorer"))?.message).toContain("(60 s) is shorter than");
    expect(findings.find((f) => f.configKey?.includes("doc-embedder"))?.message).toContain("no baking period (waitSeconds 0)");
  });
});

interface Case {
  readonly check: string;
  readonly severity: "error" | "warning";
  readonly stage: string;
  readonly title: string;
  readonly edits: ProjectEdits;
  readonly configKey: string;
  /** The logical name of the resource the finding names. */
  readonly resource: string;
  readonly message: string | RegExp;
}

const LONG_KEY = "churn-scorer-with-a-name-far-too-long";

/** One case: the check, its severity, the stage, what the stack file gets wrong, and what the finding must say. */
function kase(
  check: string, severity: "error" | "warning", stage: string, title: string, edits: ProjectEdits, configKey: string, resource: string,
  message: string | RegExp,
): Case {
  return { check, severity, stage, title, edits, configKey, resource, message };
}

const cases: Case[] = [
  kase("config", "error", "qa", "a misspelled endpoint setting",
    { stack: set(endpointPath("churn-scorer", "instanceCout"), 2) },
    "mlplatform:endpoints.churn-scorer.instanceCout", "churn-predictor-churn-scorer", "Pulumi.qa.yaml: unknown key"),
  kase("name", "error", "qa", "an endpoint key whose auto-named children pass 63 characters",
    {
      stack: (doc) => {
        doc.setIn(["config", "mlplatform:endpoints", LONG_KEY], doc.getIn(endpointPath("churn-scorer")));
        doc.deleteIn(endpointPath("churn-scorer"));
      },
    },
    `mlplatform:endpoints.${LONG_KEY}`, `churn-predictor-${LONG_KEY}`, /too long.*limit 63/),
  kase("tags", "error", "prod", "a tag under the reserved aws: prefix",
    { stack: set(["config", "mlplatform:tags", "aws:owner"], "ml-team") },
    "mlplatform:tags.aws:owner", "stage-account", "the aws: prefix is reserved"),
  kase("name", "error", "qa", "a variant name with an underscore",
    { stack: set(endpointPath("churn-scorer", "variantName"), "blue_green") },
    "mlplatform:endpoints.churn-scorer.variantName", "churn-predictor-churn-scorer", "Pulumi.qa.yaml: must be letters, digits and hyphens (at most 63)"),
  kase("environment", "error", "sandbox", "a container environment variable with a hyphen",
    { stack: set(endpointPath("doc-embedder", "source", "environment", "MODEL-NAME"), "x") },
    "mlplatform:endpoints.doc-embedder.source.environment.MODEL-NAME", "churn-predictor-doc-embedder", "names take letters, digits and _"),
  kase("guardrail-range", "error", "prod", "a canary above half the fleet",
    { stack: set(endpointPath("churn-scorer", "deployment", "canarySizePercent"), 60) },
    "mlplatform:endpoints.churn-scorer.deployment.canarySizePercent", "churn-predictor-churn-scorer",
    "Pulumi.prod.yaml: must be a whole number of percent from 1 to 50, got 60"),
  kase("guardrail-range", "error", "prod", "a blank rollback alarm name",
    { stack: set(endpointPath("churn-scorer", "alarms", "additionalRollbackAlarmNames"), ["  "]) },
    "mlplatform:endpoints.churn-scorer.alarms.additionalRollbackAlarmNames", "churn-predictor-churn-scorer",
    "alarm names take 1-255 characters, not only whitespace, got \"  \""),
  kase("instance-type", "error", "qa", "an instance type SageMaker does not host",
    { stack: set(endpointPath("churn-scorer", "instanceType"), "ml.m5.huge") },
    "mlplatform:endpoints.churn-scorer.instanceType", "churn-predictor-churn-scorer", "production-variant instance type"),
  kase("rollout-timeout", "error", "qa", "a rolling update in twenty 5% batches",
    {
      stack: (doc) => {
        doc.setIn(endpointPath("churn-scorer", "instanceCount"), 20);
        doc.setIn(endpointPath("churn-scorer", "deployment"), doc.createNode({ strategy: "rolling", batchSizePercent: 5, waitSeconds: 120 }));
      },
    },
    "mlplatform:endpoints.churn-scorer.deployment", "churn-predictor-churn-scorer-endpoint",
    "estimated rollout 240 min (20 x 10 min provisioning (assumed) + 40 min of waits) exceeds the provider's 60-minute wait"),
  kase("rollout-timeout", "error", "sandbox", "baking and termination waits of two hours",
    { stack: set(endpointPath("churn-scorer", "deployment"), { strategy: "all-at-once", waitSeconds: 3600, terminationWaitSeconds: 3600 }) },
    "mlplatform:endpoints.churn-scorer.deployment", "churn-predictor-churn-scorer", "baking and termination waits add up to 7200 s"),
  kase("rollback-alarm-account", "error", "prod", "a rollback alarm in another account",
    { stack: set(endpointPath("churn-scorer", "alarms", "additionalRollbackAlarmNames"), [ARN_IN_OTHER_ACCOUNT]) },
    "mlplatform:endpoints.churn-scorer.alarms.additionalRollbackAlarmNames", "churn-predictor-churn-scorer-endpoint",
    "is in account 999999999999 (ap-southeast-4), not the endpoint's account 404040404043 (ap-southeast-4)"),
  kase("capacity", "error", "sandbox", "a volume size on an instance type with local NVMe storage",
    { stack: set(endpointPath("doc-embedder", "volumeSizeGiB"), 100) },
    "mlplatform:endpoints.doc-embedder.volumeSizeGiB", "churn-predictor-doc-embedder",
    "Pulumi.sandbox.yaml: ml.g4dn.xlarge has local NVMe instance storage of a fixed size and takes no volume size"),
  kase("capacity", "error", "qa", "no instances",
    { stack: set(endpointPath("churn-scorer", "instanceCount"), 0) },
    "mlplatform:endpoints.churn-scorer.instanceCount", "churn-predictor-churn-scorer", "must be a whole number of at least 1, got 0"),
  // s3://<53-character bucket>/ is 59 characters: a 966-character key makes 1025.
  kase("model-source", "error", "sandbox", "a modelDataKey that makes the model data URL 1025 characters",
    { stack: set(endpointPath("doc-embedder", "source", "modelDataKey"), `doc-embedder/${"k".repeat(953)}`) },
    "mlplatform:endpoints.doc-embedder.source.modelDataKey", "churn-predictor-doc-embedder", "model data URL of 1025 characters"),
  kase("execution-timeout", "warning", "qa", "a 15-minute execution timeout for a 20-minute canary",
    {
      stack: set(endpointPath("churn-scorer", "deployment"), {
        strategy: "canary", canarySizePercent: 10, waitSeconds: 300, terminationWaitSeconds: 0, maximumExecutionTimeoutSeconds: 900,
      }),
    },
    "mlplatform:endpoints.churn-scorer.deployment.maximumExecutionTimeoutSeconds", "churn-predictor-churn-scorer-endpoint",
    "maximum execution timeout 15 min is shorter than the estimated rollout 20 min"),
  kase("rollback-alarm-external", "warning", "qa", "a rollback alarm this stack does not create",
    { stack: set(endpointPath("churn-scorer", "alarms", "additionalRollbackAlarmNames"), ["team-slo-breach"]) },
    "mlplatform:endpoints.churn-scorer.alarms.additionalRollbackAlarmNames", "churn-predictor-churn-scorer-endpoint",
    "\"team-slo-breach\" is not created by this stack: it must exist in account 404040404042"),
  kase("single-instance-traffic-shift", "warning", "qa", "a canary on the one-instance GPU endpoint",
    { stack: set(endpointPath("doc-embedder", "deployment"), { strategy: "canary", canarySizePercent: 50, waitSeconds: 300, terminationWaitSeconds: 0 }) },
    "mlplatform:endpoints.doc-embedder.deployment.strategy", "churn-predictor-doc-embedder-endpoint",
    "canary on 1 instance: traffic moves in whole instances, so the first step already sends all traffic"),
  kase("single-instance-traffic-shift", "warning", "qa", "a linear rollout on the one-instance GPU endpoint",
    { stack: set(endpointPath("doc-embedder", "deployment"), { strategy: "linear", stepSizePercent: 25, waitSeconds: 120, terminationWaitSeconds: 0 }) },
    "mlplatform:endpoints.doc-embedder.deployment.strategy", "churn-predictor-doc-embedder-endpoint", "linear on 1 instance"),
  kase("price-unknown", "warning", "qa", "an instance type missing from the price table",
    { stack: set(endpointPath("churn-scorer", "instanceType"), "ml.m5.24xlarge") },
    "mlplatform:endpoints.churn-scorer.instanceType", "churn-predictor-churn-scorer-config", "no price for ml.m5.24xlarge"),
];

describe("each finding class, provoked by a stack file", () => {
  it.each(cases)("GIVEN $title WHEN planned THEN it reports $check ($severity) naming the stack, the resource and $configKey", async (c) => {
    const plan = await planEdited(c.stage, c.edits);
    const finding = plan.findings.find((f) => f.check === c.check && f.configKey === c.configKey);
    expect(finding).toBeDefined();
    expect(finding).toMatchObject({ severity: c.severity, stack: c.stage, resource: c.resource });
    expect(finding?.urn).toMatch(new RegExp(`^urn:pulumi:${c.stage}::churn-predictor::.*::${c.resource}$`));
    if (typeof c.message === "string") expect(finding?.message).toContain(c.message);
    else expect(finding?.message).toMatch(c.message);
    expect(plan.findings.some((f) => f.severity === "error")).toBe(c.severity === "error");
  });
});

describe("two rules broken in one endpoint", () => {
  it("GIVEN an endpoint with both a guardrail problem and a capacity problem WHEN planned THEN each is reported once, with its rule's check", async () => {
    const plan = await planEdited("sandbox", {
      stack: (doc) => {
        doc.setIn(endpointPath("doc-embedder", "volumeSizeGiB"), 100);
        doc.setIn(endpointPath("doc-embedder", "deployment"), doc.createNode({ strategy: "all-at-once", waitSeconds: 3600, terminationWaitSeconds: 3600 }));
      },
    });
    expect(plan.findings.map((f) => [f.check, f.configKey])).toEqual([
      ["capacity", "mlplatform:endpoints.doc-embedder.volumeSizeGiB"],
      ["rollout-timeout", "mlplatform:endpoints.doc-embedder.deployment"],
    ]);
  });
});

/** A project edit that makes the fixture's program stop outside the endpoint rules (see "a program that stops"). */
const PROGRAM_FAILURE: ProjectEdits = {
  project: (doc) => {
    doc.setIn(["config", "aws:region"], "ap-southeasternmostislands-4");
    doc.setIn(["config", "mlplatform:region"], "ap-southeasternmostislands-4");
  },
};

describe("a program that stops", () => {
  /**
   * The schema runs the endpoint rules on every endpoint before the program starts, so a stack file
   * alone never reaches the component's own check. A program change that hands the component a
   * value the schema never saw does: here the validated config gets a volume size on the sandbox's
   * NVMe-backed ml.g4dn.xlarge afterwards.
   */
  it("GIVEN the component refuses a value the schema never saw WHEN planned THEN each problem is a finding of its rule's check, not program", async () => {
    const loadStackConfig = load.loadStackConfig;
    const spy = jest.spyOn(load, "loadStackConfig").mockImplementation((stage, raw) => {
      const config = loadStackConfig(stage, raw);
      const endpoint = config.endpoints["doc-embedder"];
      return { ...config, endpoints: { ...config.endpoints, "doc-embedder": { ...endpoint, volumeSizeGiB: 100, variantName: "blue_green" } } };
    });
    let plan: StackPlan;
    try {
      plan = await planStack(FIXTURE_ROOT, "sandbox");
      expect(spy).toHaveBeenCalled();
    } finally {
      spy.mockRestore();
    }
    expect(plan.findings.map((f) => [f.check, f.severity, f.configKey, f.resource])).toEqual([
      ["name", "error", "mlplatform:endpoints.doc-embedder.variantName", "churn-predictor-doc-embedder"],
      ["capacity", "error", "mlplatform:endpoints.doc-embedder.volumeSizeGiB", "churn-predictor-doc-embedder"],
    ]);
    expect(plan.findings[1].message).toBe("BlueGreenEndpoint \"churn-predictor-doc-embedder\": ml.g4dn.xlarge has local NVMe instance storage "
      + "of a fixed size and takes no volume size; remove volumeSizeGiB");
    expect(plan.findings[1].urn).toBe("urn:pulumi:sandbox::churn-predictor::mlplatform:sagemaker:BlueGreenEndpoint::churn-predictor-doc-embedder");
  });

  /**
   * No stack file that passes validation makes the fixture's program stop: every rule the program
   * applies is checked first. The project's region is only checked for its form, though, and the
   * stage bucket's name carries it: a (fictional) 28-character region pushes
   * churn-predictor-sandbox-404040404041-<region> past S3's 63 characters, which the bucket
   * component refuses. That failure is no endpoint rule, so the plan reports it as `program`.
   */
  it("GIVEN a failure outside the endpoint rules WHEN planned THEN it is one program finding on the stack, quoting the error", async () => {
    const plan = await planEdited("sandbox", PROGRAM_FAILURE);
    expect(plan.findings.map((f) => [f.check, f.severity, f.configKey, f.resource])).toEqual([["program", "error", null, "churn-predictor-sandbox"]]);
    expect(plan.findings[0].message).toBe("the program stopped: churn-predictor-sandbox-bucket: bucketName must be 3-63 characters of a-z, 0-9 and hyphens, "
      + "got \"churn-predictor-sandbox-404040404041-ap-southeasternmostislands-4\"");
    expect(plan.findings[0].urn).toBe("urn:pulumi:sandbox::churn-predictor::pulumi:pulumi:Stack::churn-predictor-sandbox");
  });
});

describe("the list of finding classes", () => {
  it("GIVEN every class the plan can report WHEN the tests are listed THEN each one is provoked by a test", () => {
    // The fixture's stacks provoke some classes (tested above); the other plan tests (plan diff's) provoke the diff classes.
    const dir = join(REPO_ROOT, "test", "scripts");
    const diffTests = readdirSync(dir).filter((f) => /^plan-.+\.test\.ts$/.test(f) && f !== "plan-findings.test.ts")
      .map((f) => readFileSync(join(dir, f), "utf8")).join("\n");
    const tested = new Set([
      ...cases.map((c) => c.check),
      "program", // PROGRAM_FAILURE, in "a program that stops"
      ...FIXTURE_STACKS.flatMap((s) => fixture[s].findings.map((f) => f.check)),
      ...Object.keys(CHECKS).filter((check) => diffTests.includes(`"${check}"`)),
    ]);
    expect(Object.keys(CHECKS).filter((check) => !tested.has(check))).toEqual([]);
  });

  it("GIVEN the endpoint rules' classes WHEN looked up THEN each is an error class of the plan", () => {
    // A Record over RuleCheck: adding a class to the rules without listing it here fails to compile.
    const ruleChecks: Record<RuleCheck, true> = {
      "name": true, "instance-type": true, "guardrail-range": true, "rollout-timeout": true, "environment": true, "model-source": true, "capacity": true,
    };
    expect(Object.keys(ruleChecks).filter((check) => CHECKS[check]?.severity !== "error")).toEqual([]);
  });

  it("GIVEN the README's table of checks WHEN compared with the plan's list THEN each class is there with its severity and description", () => {
    const readme = readFileSync(join(REPO_ROOT, "README.md"), "utf8");
    const rows = Object.entries(CHECKS).map(([check, { severity, description }]) => `| \`${check}\` | ${severity} | ${description} |`);
    expect(rows.filter((row) => !readme.includes(row))).toEqual([]);
  });
});

describe("the resource-level checks, on registered inputs the schema never saw", () => {
  function withEndpoint(plan: StackPlan, edit: (inputs: Record<string, any>) => void): PlannedResource[] {
    return plan.resources.map((r) => {
      if (r.type !== "aws:sagemaker/endpoint:Endpoint" || !r.name.includes("churn-scorer")) return r;
      const inputs = structuredClone(r.inputs) as Record<string, any>;
      edit(inputs);
      return { ...r, inputs };
    });
  }

  function check(resources: PlannedResource[]): Finding[] {
    const sink = new FindingSink("prod");
    checkResources(sink, { resources, endpointKeyOf: (r) => (r.name.includes("churn-scorer") ? "churn-scorer" : null) });
    return sink.findings;
  }

  it("GIVEN the price table WHEN compared with the SDK THEN every priced type is a hosting type, and the rules check against the SDK's list", () => {
    const hosting = new Set<string>(Object.values(ProductionVariantInstanceType));
    expect(Object.keys(HOURLY_USD).filter((t) => !hosting.has(t))).toEqual([]);
    expect(new Set(PRODUCTION_VARIANT_INSTANCE_TYPES)).toEqual(hosting);
  });

  it("GIVEN an EndpointConfiguration of a hosting type the price table lacks WHEN checked THEN price-unknown names the instanceType key", () => {
    const resources = fixture.prod.resources.map((r) => {
      if (r.type !== "aws:sagemaker/endpointConfiguration:EndpointConfiguration" || !r.name.includes("churn-scorer")) return r;
      const inputs = structuredClone(r.inputs) as Record<string, any>;
      inputs.productionVariants[0].instanceType = "ml.m5.24xlarge";
      return { ...r, inputs };
    });
    expect(check(resources).map((f) => [f.check, f.configKey])).toEqual([["price-unknown", "mlplatform:endpoints.churn-scorer.instanceType"]]);
  });

  it("GIVEN an Endpoint whose registered canary is 60% WHEN checked THEN the resource checks leave the ranges to the rules (no finding)", () => {
    const findings = check(withEndpoint(fixture.prod, (i) => {
      i.deploymentConfig.blueGreenUpdatePolicy.trafficRoutingConfiguration.canarySize.value = 60;
    }));
    expect(findings).toEqual([]);
  });

  it("GIVEN an auto-named Model whose logical name leaves no room for the suffix WHEN checked THEN its 66-character name is an error", () => {
    const model = fixture.prod.resources.find((r) => r.type === "aws:sagemaker/model:Model")!;
    const logical = "m".repeat(58);
    const findings = check([{ ...model, name: logical, physicalName: `${logical}-abcdef0` }]);
    expect(findings).toHaveLength(1);
    expect(findings[0]).toMatchObject({ check: "name", severity: "error", configKey: "mlplatform:serviceName" });
    expect(findings[0].message).toContain("is 66 characters, outside the 1-63 allowed (auto-naming added 8 to the logical name");
  });

  it("GIVEN a bucket name with upper case and an IAM role name of 65 characters WHEN checked THEN both are name errors", () => {
    const bucket = fixture.prod.resources.find((r) => r.type === "aws:s3/bucket:Bucket")!;
    const role = fixture.prod.resources.find((r) => r.type === "aws:iam/role:Role")!;
    const findings = check([{ ...bucket, physicalName: "Churn-Bucket" }, { ...role, physicalName: "r".repeat(65) }]);
    expect(findings.map((f) => f.message)).toEqual([
      "S3 bucket name \"Churn-Bucket\" must be lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit",
      `IAM role name "${"r".repeat(65)}" is 65 characters, outside the 1-64 allowed`,
    ]);
  });
});
