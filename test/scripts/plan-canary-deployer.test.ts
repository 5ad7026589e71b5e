import type { Document } from "yaml";
import { endpointChildNames, endpointNames } from "../../components/names";
import { hourlyPrice } from "../../scripts/lib/prices";
import { diffPlans } from "../../scripts/plan/diff";
import { planStack } from "../../scripts/plan/engine";
import { provisioningMinutes } from "../../scripts/plan/estimates";
import { FIXTURE } from "../fixtures/service";
import { endpointPath, projectCopies } from "../support/stack-files";

/**
 * The canary deployer (deployment.strategy step-functions-canary) through the real program and the
 * plan: Pulumi's Endpoint carries no guardrails, the rollout estimate is the deployer's (two
 * provisioning rounds and the bake, not the provider's hour), and the plan warns where the bake,
 * the polling bound or the stack file and the endpoint can drift apart.
 */

const STAGE = "sandbox";
const [SCORER] = FIXTURE.models;
const copy = projectCopies();
const INSTANCE_TYPE = "ml.m5.large";
const INSTANCE_COUNT = 2;

/** The fixture's sandbox stack with its scorer moved to the canary deployer, then edited further. */
function deployerProject(deployment: Record<string, unknown> = {}, edit: (doc: Document) => void = () => undefined): string {
  return copy(STAGE, {
    stack: (doc) => {
      doc.setIn(endpointPath(SCORER, "instanceType"), INSTANCE_TYPE);
      doc.setIn(endpointPath(SCORER, "instanceCount"), INSTANCE_COUNT);
      doc.setIn(endpointPath(SCORER, "deployment"), doc.createNode({ strategy: "step-functions-canary", ...deployment }));
      edit(doc);
    },
  });
}

const endpointName = endpointNames(FIXTURE.serviceName, SCORER).endpoint;
const key = `mlplatform:endpoints.${SCORER}`;

test("GIVEN the deployer strategy THEN the plan has no error and the Endpoint carries no guardrails nor rollback alarms", async () => {
  const plan = await planStack(deployerProject(), STAGE);
  expect(plan.findings.filter((f) => f.severity === "error")).toEqual([]);
  const endpoint = plan.resources.find((r) => r.type === "aws:sagemaker/endpoint:Endpoint" && r.physicalName === endpointName);
  expect(endpoint?.inputs.endpointConfigName).toEqual(expect.any(String));
  expect(endpoint?.inputs.deploymentConfig).toBeUndefined();
  const children = endpointChildNames(endpointName);
  const alarmNames = plan.resources.filter((r) => r.type === "aws:cloudwatch/metricAlarm:MetricAlarm").map((r) => r.physicalName);
  expect(alarmNames).not.toContain(children.errorAlarm);
  expect(alarmNames).not.toContain(children.latencyAlarm);
}, 60_000);

test("GIVEN the defaults THEN the estimate is two provisioning rounds plus a 20-minute bake, with the canary's cost", async () => {
  const plan = await planStack(deployerProject(), STAGE);
  const estimate = plan.estimates.endpoints.find((e) => e.endpointKey === SCORER);
  const perRound = provisioningMinutes(INSTANCE_TYPE);
  const hourly = hourlyPrice(INSTANCE_TYPE) ?? Number.NaN;
  const rollout = 2 * perRound + 20;
  // One canary instance for the whole rollout, and the promoted fleet while it comes up.
  const deployCost = Math.round(((1 * hourly * rollout + INSTANCE_COUNT * hourly * perRound) / 60) * 100) / 100;
  expect(estimate).toMatchObject({
    strategy: "step-functions-canary",
    provisioningRounds: 2,
    waitMinutes: 20,
    rolloutMinutes: rollout,
    maximumExecutionTimeoutMinutes: null,
    deployCostUsd: deployCost,
  });
}, 60_000);

test("GIVEN a two-hour bake THEN no rollout-timeout: the state machine waits, not the provider", async () => {
  const plan = await planStack(deployerProject({ bakeSeconds: 7200 }), STAGE);
  expect(plan.estimates.endpoints.find((e) => e.endpointKey === SCORER)?.rolloutMinutes).toBeGreaterThan(120);
  expect(plan.findings.filter((f) => f.check === "rollout-timeout" || f.check === "rollout-near-limit")).toEqual([]);
}, 60_000);

test("GIVEN any deployer endpoint THEN the plan says which inputs Pulumi leaves to the state machine, at source", async () => {
  const plan = await planStack(deployerProject(), STAGE);
  const owned = plan.findings.filter((f) => f.check === "canary-deployer-owned");
  expect(owned.map((f) => [f.severity, f.configKey])).toEqual([["warning", `${key}.source`]]);
  expect(owned[0].message).toContain(`npx projen deploy --stage <stage> --endpoint ${SCORER}`);
}, 60_000);

test("GIVEN a bake shorter than the alarms' evaluation window THEN the plan warns at bakeSeconds", async () => {
  const plan = await planStack(deployerProject({ bakeSeconds: 120 }, (doc) => doc.setIn(endpointPath(SCORER, "alarms", "evaluationPeriods"), 3)), STAGE);
  const warnings = plan.findings.filter((f) => f.check === "canary-bake-window");
  expect(warnings.map((f) => [f.severity, f.configKey])).toEqual([["warning", `${key}.deployment.bakeSeconds`]]);
  expect(warnings[0].message).toContain("(120 s) is shorter than the canary alarms need to fire (180 s = 60 s x 3 evaluation periods)");
}, 60_000);

test("GIVEN a bake as long as the window THEN no bake warning", async () => {
  const plan = await planStack(deployerProject({ bakeSeconds: 180 }, (doc) => doc.setIn(endpointPath(SCORER, "alarms", "evaluationPeriods"), 3)), STAGE);
  expect(plan.findings.filter((f) => f.check === "canary-bake-window")).toEqual([]);
}, 60_000);

test("GIVEN a polling bound shorter than provisioning THEN the plan warns at maxPolls with the count that would do", async () => {
  const plan = await planStack(deployerProject({ pollSeconds: 10, maxPolls: 6 }), STAGE);
  const warnings = plan.findings.filter((f) => f.check === "canary-poll-bound");
  expect(warnings.map((f) => [f.severity, f.configKey])).toEqual([["warning", `${key}.deployment.maxPolls`]]);
  const needed = Math.ceil((provisioningMinutes(INSTANCE_TYPE) * 60) / 10);
  expect(warnings[0].message).toContain("(pollSeconds 10 x maxPolls 6)");
  expect(warnings[0].message).toContain(`raise maxPolls to at least ${needed}`);
  const enough = await planStack(deployerProject({ pollSeconds: 10, maxPolls: needed }), STAGE);
  expect(enough.findings.filter((f) => f.check === "canary-poll-bound")).toEqual([]);
}, 60_000);

test("GIVEN the deployer on an image source THEN the plan refuses it at source", async () => {
  const plan = await planStack(copy(STAGE, {
    stack: (doc) => {
      const [, embedder] = FIXTURE.models;
      doc.setIn(endpointPath(embedder, "deployment"), doc.createNode({ strategy: "step-functions-canary" }));
    },
  }), STAGE);
  const refused = plan.findings.filter((f) => f.message.includes("cannot use strategy step-functions-canary"));
  expect(refused.map((f) => [f.severity, f.check])).toEqual([["error", "model-source"]]);
}, 60_000);

describe("the plan diff of a deployer endpoint", () => {
  const diff = async (before: string, after: string) => diffPlans(await planStack(before, STAGE), await planStack(after, STAGE),
    { mode: "revision", beforeLabel: "base", afterLabel: "head" });

  test("GIVEN a new version THEN Pulumi changes nothing: the deployment, not pulumi up, moves the endpoint", async () => {
    const d = await diff(deployerProject(), deployerProject({}, (doc) => doc.setIn(endpointPath(SCORER, "source", "version"), 99)));
    expect(d.changes.map((c) => [c.op, c.type])).toEqual([]);
  }, 60_000);

  test("GIVEN the same new version on a guardrail endpoint THEN the Model and config are replaced: the ignored inputs are the deployer's only", async () => {
    const guardrails = (edit: (doc: Document) => void = () => undefined) => copy(STAGE, { stack: edit });
    const d = await diff(guardrails(), guardrails((doc) => doc.setIn(endpointPath(SCORER, "source", "version"), 99)));
    expect(d.changes.map((c) => c.op).sort()).toEqual(["replace", "replace", "update"]);
  }, 60_000);

  test("GIVEN an instance type change on an autoscaled deployer endpoint THEN no error: the state machine deregisters scaling around it", async () => {
    const scaling = (doc: Document) => doc.setIn(endpointPath(SCORER, "autoscaling"), doc.createNode({ minCapacity: 2, maxCapacity: 4, targetInvocationsPerInstance: 50 }));
    const d = await diff(deployerProject({}, scaling), deployerProject({}, (doc) => {
      scaling(doc);
      doc.setIn(endpointPath(SCORER, "instanceType"), "ml.c5.xlarge");
    }));
    expect(d.findings.filter((f) => f.check === "autoscaling-instance-type")).toEqual([]);
    expect(d.changes.map((c) => [c.op, c.type])).toEqual([]);
  }, 60_000);
});
