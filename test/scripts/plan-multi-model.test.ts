import type { Document } from "yaml";
import { endpointNames, multiModelPrefix, stageNames } from "../../components/names";
import { planStack } from "../../scripts/plan/engine";
import { FIXTURE } from "../fixtures/service";
import { endpointPath, projectCopies } from "../support/stack-files";

/**
 * A multi-model endpoint through the real program and the plan: a MultiModel container that reads
 * the endpoint's prefix of the stage bucket, variant timeouts, and the rules of the kind.
 */

const STAGE = "qa";
const [, EMBEDDER] = FIXTURE.models;
const ENDPOINT = endpointNames(FIXTURE.serviceName, EMBEDDER).endpoint;
const BUCKET = stageNames(FIXTURE.serviceName, STAGE, { accountId: FIXTURE.accounts.qa, region: FIXTURE.region }).bucket;
const copy = projectCopies();

/** The fixture's qa embedder (an image source) made multi-model, then edited further. */
function multiModelProject(edit: (doc: Document) => void = () => undefined): string {
  return copy(STAGE, {
    stack: (doc) => {
      doc.deleteIn(endpointPath(EMBEDDER, "source", "modelDataKey"));
      doc.setIn(endpointPath(EMBEDDER, "multiModel"), true);
      doc.setIn(endpointPath(EMBEDDER, "containerStartupHealthCheckTimeoutSeconds"), 60);
      edit(doc);
    },
  });
}

test("GIVEN a multi-model endpoint THEN its container is MultiModel on the endpoint's prefix of the stage bucket, with the health check timeout", async () => {
  const plan = await planStack(multiModelProject(), STAGE);
  const model = plan.resources.find((r) => r.type === "aws:sagemaker/model:Model" && r.name === `${ENDPOINT}-model`);
  expect(model?.inputs.primaryContainer).toMatchObject({ mode: "MultiModel", modelDataUrl: `s3://${BUCKET}/${multiModelPrefix(ENDPOINT)}` });
  const config = plan.resources.find((r) => r.type === "aws:sagemaker/endpointConfiguration:EndpointConfiguration" && r.name === `${ENDPOINT}-config`);
  expect((config?.inputs.productionVariants as Record<string, unknown>[])[0]).toMatchObject({ containerStartupHealthCheckTimeoutInSeconds: 60 });
  expect(plan.findings.filter((f) => f.severity === "error")).toEqual([]);
}, 60_000);

test.each<[string, (doc: Document) => void, string, string]>([
  ["a modelDataKey", (doc) => doc.setIn(endpointPath(EMBEDDER, "source", "modelDataKey"), "x/model.tar.gz"), "source.modelDataKey", "does not apply to a multi-model endpoint"],
  ["a registry version", (doc) => doc.setIn(endpointPath(EMBEDDER, "source"), doc.createNode({ version: 3 })), "source.version", "serves an image"],
  ["a health check of 30 s", (doc) => doc.setIn(endpointPath(EMBEDDER, "containerStartupHealthCheckTimeoutSeconds"), 30),
    "containerStartupHealthCheckTimeoutSeconds", "from 60 to 3600"],
])("GIVEN %s THEN the plan refuses it at its key", async (_, edit, field, text) => {
  const plan = await planStack(multiModelProject(edit), STAGE);
  const finding = plan.findings.find((f) => f.configKey === `mlplatform:endpoints.${EMBEDDER}.${field}`);
  expect(finding?.severity).toBe("error");
  expect(finding?.message).toContain(text);
}, 60_000);
