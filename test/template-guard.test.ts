import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { EXAMPLE_VALUES } from "./fixtures/example";
import { REPO_ROOT } from "./support/stack-files";
import { readProjectConfig } from "../stacks/config/files";
import { deploymentStacks } from "../stacks/config/schema";

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

/** The current definition's own values (Pulumi.yaml, written by projen from .projenrc.ts). */
function definitionValues(): string[] {
  const { project } = readProjectConfig(REPO_ROOT);
  const repository = project.ciPrincipal.type === "github-oidc" ? [project.ciPrincipal.repository] : [];
  return [project.serviceName, ...project.models, ...deploymentStacks(project).map((s) => s.accountId), ...repository];
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
    const values = [...new Set([...EXAMPLE_VALUES, ...definitionValues()])];
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

  test("the guard looks at every test directory and skips only the fixtures", () => {
    const files = testFiles(TEST_DIR).map((f) => relative(TEST_DIR, f));
    expect(files).toContain("template-guard.test.ts");
    expect(files.some((f) => f.startsWith("components/"))).toBe(true);
    expect(files.some((f) => f.startsWith("fixtures/"))).toBe(false);
  });
});
