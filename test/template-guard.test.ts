import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { EXAMPLE_VALUES } from "./fixtures/example";
import { FIXTURE, FIXTURE_DEFINITION } from "./fixtures/service";
import { parseServiceDefinition } from "../projen/service";
import { REPO_ROOT } from "./support/stack-files";
import { readProjectConfig } from "../stacks/config/files";
import { deploymentStacks, type ProjectConfig } from "../stacks/config/schema";

/**
 * Tests of the template, not of the example: no test file outside test/fixtures/ hard-codes a value
 * of the example service, or of the service this repository now defines (its name, accounts, models
 * and CI repository), because changing the service definition must not break a test. Tests take
 * such values from the definition (Pulumi.yaml) or from fixtures of their own (test/fixtures/).
 * The definition's region is not guarded: the suite names regions of its own (the price table's,
 * a foreign region), and a team may well deploy to one of them.
 */

const TEST_DIR = join(REPO_ROOT, "test");
const FIXTURES = join(TEST_DIR, "fixtures");

function testFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return path === FIXTURES ? [] : testFiles(path);
    return entry.name.endsWith(".ts") ? [path] : [];
  });
}

/**
 * The current definition's own values (Pulumi.yaml, written by projen from .projenrc.ts): its name,
 * models, accounts (of its stacks, its registry's principals and its state backend), GitHub
 * repositories and state bucket.
 */
export function definitionValues(project: ProjectConfig): string[] {
  const ci = project.ciPrincipal;
  const principals = [...project.publishers ?? [], ...project.approvers ?? []];
  const repositories = [
    ...ci.type === "github-oidc" ? [ci.repository] : [],
    ...principals.flatMap((p) => ("github" in p && p.github.repository !== undefined ? [p.github.repository] : [])),
  ];
  const roleAccounts = [ci.type === "iam-role" ? ci.roleArn : undefined, ...principals.map((p) => ("roleArn" in p ? p.roleArn : undefined))]
    .flatMap((arn) => /^arn:[\w-]+:iam::(\d{12}):/.exec(arn ?? "")?.[1] ?? []);
  const backend = project.stateBackend === undefined ? [] : [project.stateBackend.bucket, project.stateBackend.accountId];
  const accounts = deploymentStacks(project).map((s) => s.accountId);
  const values = [project.serviceName, ...project.models, ...accounts, ...repositories, ...roleAccounts, ...backend];
  return [...new Set(values)];
}

/** Each place a value appears as a whole token (not inside a longer name such as `my-<model>-v2`). */
export function findHardCoded(text: string, values: readonly string[]): { value: string; line: number }[] {
  const found: { value: string; line: number }[] = [];
  text.split("\n").forEach((line, i) => {
    for (const value of values) {
      const escaped = value.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
      if (new RegExp(`(^|[^A-Za-z0-9-])${escaped}($|[^A-Za-z0-9-])`).test(line)) found.push({ value, line: i + 1 });
    }
  });
  return found;
}

describe("the test suite", () => {
  test("hard-codes no value of the example service or of the current service definition outside test/fixtures/", () => {
    const values = [...new Set([...EXAMPLE_VALUES, ...definitionValues(readProjectConfig(REPO_ROOT).project)])];
    const offences = testFiles(TEST_DIR).flatMap((file) => findHardCoded(readFileSync(file, "utf8"), values)
      .map((f) => `${relative(REPO_ROOT, file)}:${f.line}: "${f.value}"`));
    expect(offences).toEqual([]);
  });

  test("the guard finds a value as a whole token, in any quoting, and not inside a longer name", () => {
    const values = ["scorer-x", "123412341234"];
    expect(findHardCoded('const a = "scorer-x";\nb(`x ${1} 123412341234`)', values)).toEqual([
      { value: "scorer-x", line: 1 },
      { value: "123412341234", line: 2 },
    ]);
    expect(findHardCoded('"my-scorer-x-v2" 1234123412345', values)).toEqual([]);
  });

  test("the guarded values of a definition include the accounts, repositories and state bucket of its registry principals and state backend", () => {
    const project = parseServiceDefinition({
      ...FIXTURE_DEFINITION,
      ciPrincipal: { type: "iam-role", roleArn: "arn:aws:iam::404040404050:role/ci" },
      publishers: [{ github: { repository: "acme-test-org/trainer", environment: "publish" } }],
      approvers: [{ roleArn: "arn:aws:iam::404040404051:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Approver_*" }],
      stateBackend: { bucket: "acme-test-state", accountId: "404040404052" },
    }).project;
    expect(definitionValues(project).sort()).toEqual([
      FIXTURE.serviceName, ...FIXTURE.models, ...Object.values(FIXTURE.accounts),
      "acme-test-org/trainer", "404040404050", "404040404051", "acme-test-state", "404040404052",
    ].sort());
  });

  test("the guard looks at every test directory and skips only the fixtures", () => {
    const files = testFiles(TEST_DIR).map((f) => relative(TEST_DIR, f));
    expect(files).toContain("template-guard.test.ts");
    expect(files.some((f) => f.startsWith("components/"))).toBe(true);
    expect(files.some((f) => f.startsWith("fixtures/"))).toBe(false);
  });
});
