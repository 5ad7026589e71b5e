import type { Document } from "yaml";
import { endpointNames } from "../../components/names";
import { planStack } from "../../scripts/plan/engine";
import { FIXTURE } from "../fixtures/service";
import { endpointPath, projectCopies } from "../support/stack-files";

/**
 * A serverless endpoint, through the real program and the plan: its EndpointConfiguration carries a
 * serverless config and no instance fields or volume key, the plan warns about cold starts unless
 * concurrency is provisioned, refuses a rolling deployment, and estimates no instance cost.
 */

const STAGE = "sandbox";
const [SCORER] = FIXTURE.models;
const copy = projectCopies();

/** The fixture's sandbox stack with its scorer endpoint made serverless, then edited further. */
function serverlessProject(edit: (doc: Document) => void = () => undefined): string {
  return copy(STAGE, {
    stack: (doc) => {
      doc.deleteIn(endpointPath(SCORER, "instanceType"));
      doc.deleteIn(endpointPath(SCORER, "instanceCount"));
      doc.deleteIn(endpointPath(SCORER, "volumeSizeGiB"));
      doc.setIn(endpointPath(SCORER, "serverless"), doc.createNode({ memorySizeMiB: 2048, maxConcurrency: 5 }));
      doc.setIn(endpointPath(SCORER, "deployment"), doc.createNode({ strategy: "all-at-once", waitSeconds: 180 }));
      edit(doc);
    },
  });
}

const configOf = (plan: Awaited<ReturnType<typeof planStack>>) => plan.resources.find((r) =>
  r.type === "aws:sagemaker/endpointConfiguration:EndpointConfiguration" && r.name === `${endpointNames(FIXTURE.serviceName, SCORER).endpoint}-config`);

test("GIVEN a serverless endpoint THEN its config has a serverless variant, no instances and no volume key", async () => {
  const plan = await planStack(serverlessProject(), STAGE);
  const config = configOf(plan);
  expect(config?.inputs.productionVariants).toEqual([{
    variantName: "primary", modelName: expect.any(String), initialVariantWeight: 1, serverlessConfig: { memorySizeInMb: 2048, maxConcurrency: 5 },
  }]);
  expect(config?.inputs.kmsKeyArn).toBeUndefined();
  expect(plan.findings.filter((f) => f.severity === "error")).toEqual([]);
}, 60_000);

test("GIVEN no provisioned concurrency THEN the plan warns about cold starts at serverless.provisionedConcurrency", async () => {
  const plan = await planStack(serverlessProject(), STAGE);
  const warnings = plan.findings.filter((f) => f.check === "serverless-cold-start");
  expect(warnings.map((f) => [f.severity, f.configKey])).toEqual([["warning", `mlplatform:endpoints.${SCORER}.serverless.provisionedConcurrency`]]);
  expect(warnings[0].message).toContain("set serverless.provisionedConcurrency to keep that many warm");
}, 60_000);

test("GIVEN provisioned concurrency THEN no cold-start warning, and the config provisions it", async () => {
  const plan = await planStack(serverlessProject((doc) => doc.setIn(endpointPath(SCORER, "serverless", "provisionedConcurrency"), 2)), STAGE);
  expect(plan.findings.filter((f) => f.check === "serverless-cold-start")).toEqual([]);
  expect((configOf(plan)?.inputs.productionVariants as { serverlessConfig: unknown }[])[0].serverlessConfig)
    .toEqual({ memorySizeInMb: 2048, maxConcurrency: 5, provisionedConcurrency: 2 });
}, 60_000);

test("GIVEN a rolling deployment on serverless THEN the plan refuses it at deployment.strategy", async () => {
  const plan = await planStack(serverlessProject((doc) => doc.setIn(endpointPath(SCORER, "deployment"),
    doc.createNode({ strategy: "rolling", batchSizePercent: 20, waitSeconds: 60 }))), STAGE);
  const finding = plan.findings.find((f) => f.configKey === `mlplatform:endpoints.${SCORER}.deployment.strategy`);
  expect(finding).toMatchObject({ severity: "error", check: "guardrail-range" });
  expect(finding?.message).toContain("rolling deployments are not available for serverless endpoints");
}, 60_000);

test("GIVEN a serverless endpoint THEN its estimate has no instance cost and the serverless provisioning assumption", async () => {
  const plan = await planStack(serverlessProject(), STAGE);
  const estimate = plan.estimates.endpoints.find((e) => e.endpointKey === SCORER);
  expect(estimate).toMatchObject({ instanceType: "serverless 2048 MiB", instanceCount: 5, monthlyCostUsd: null, deployCostUsd: null, rolloutMinutes: 8 });
  expect(plan.estimates.assumptions.provisioningMinutes.serverless).toBe(5);
}, 60_000);
