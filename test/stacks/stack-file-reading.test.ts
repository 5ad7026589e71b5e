import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readProjectFile, readStackConfigFiles } from "../../stacks/config/files";
import { ConfigError } from "../../stacks/config/load";

/**
 * Hostile stack files, read as the Pulumi CLI reads them. Each file is written to a temp
 * directory; every mistake must come back as a ConfigError naming the file, the key path and
 * what was expected.
 */

const PROJECT = "name: churn-predictor\nconfig:\n  mlplatform:serviceName: churn-predictor\n";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A project directory holding exactly these files. */
function projectWith(files: Record<string, string | Uint8Array>): string {
  const dir = mkdtempSync(join(tmpdir(), "stack-file-reading-"));
  dirs.push(dir);
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  return dir;
}

/** A project directory with the standard Pulumi.yaml and this qa stack file. */
function qaStack(stackFile: string | Uint8Array): string {
  return projectWith({ "Pulumi.yaml": PROJECT, "Pulumi.qa.yaml": stackFile });
}

/** The ConfigError that `read` throws (failing the test when it throws anything else). */
function configErrorOf(read: () => unknown): ConfigError {
  try {
    read();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error("expected a ConfigError, but the files were read");
}

const bytes = (...parts: (string | number[])[]): Uint8Array =>
  Buffer.concat(parts.map((part) => (typeof part === "string" ? Buffer.from(part, "utf8") : Buffer.from(part))));

describe("a key written twice", () => {
  it("GIVEN a config key set twice WHEN the stack is read THEN the key and the line of the second one are named", () => {
    const dir = qaStack("config:\n  mlplatform:tags:\n    team: a\n  aws:region: ap-southeast-4\n  mlplatform:tags:\n    team: b\n");

    const error = configErrorOf(() => readStackConfigFiles(dir, "qa"));

    expect(error.problems).toEqual([{ file: "Pulumi.qa.yaml", path: "mlplatform:tags", message: "is set twice (again at line 5); keep one" }]);
  });

  it("GIVEN a key set twice inside an endpoint WHEN the stack is read THEN its full key path is named", () => {
    const dir = qaStack([
      "config:",
      "  mlplatform:endpoints:",
      "    churn-scorer:",
      "      model: churn-scorer",
      "      instanceCount: 2",
      "      instanceType: ml.m5.xlarge",
      "      instanceCount: 3",
      "",
    ].join("\n"));

    const error = configErrorOf(() => readStackConfigFiles(dir, "qa"));

    expect(error.message).toContain("Pulumi.qa.yaml: mlplatform:endpoints.churn-scorer.instanceCount: is set twice (again at line 7)");
  });

  it("GIVEN a key set twice inside a Pulumi.yaml value WHEN the project is read THEN the path leaves out the value wrapper", () => {
    const dir = projectWith({
      "Pulumi.yaml": [
        "name: churn-predictor",
        "config:",
        "  mlplatform:stages:",
        "    value:",
        "      - name: sandbox",
        "        accountId: \"404040404041\"",
        "      - name: qa",
        "        accountId: \"404040404042\"",
        "        accountId: \"404040404043\"",
        "",
      ].join("\n"),
    });

    const error = configErrorOf(() => readProjectFile(dir));

    expect(error.message).toContain("Pulumi.yaml: mlplatform:stages[1].accountId: is set twice (again at line 9)");
  });

  it("GIVEN several keys set twice WHEN the stack is read THEN every one is reported at once", () => {
    const dir = qaStack("config:\n  a:b: 1\n  a:b: 2\n  c:d:\n    e: 1\n    e: 2\n");

    const error = configErrorOf(() => readStackConfigFiles(dir, "qa"));

    expect(error.problems.map((p) => p.path)).toEqual(["a:b", "c:d.e"]);
  });

  it("GIVEN a top-level key set twice WHEN the stack is read THEN that key is named", () => {
    const dir = qaStack("config:\n  a:b: 1\nconfig:\n  a:b: 2\n");

    const error = configErrorOf(() => readStackConfigFiles(dir, "qa"));

    expect(error.message).toContain("Pulumi.qa.yaml: config: is set twice (again at line 3)");
  });
});

describe("YAML anchors and merge keys", () => {
  it("GIVEN an endpoint that merges another's settings with <<: *anchor WHEN the stack is read THEN it gets the merged values, its own keys winning", () => {
    const dir = qaStack([
      "config:",
      "  mlplatform:endpoints:",
      "    churn-scorer: &defaults",
      "      model: churn-scorer",
      "      instanceType: ml.m5.xlarge",
      "      instanceCount: 2",
      "    doc-embedder:",
      "      instanceType: ml.g5.xlarge",
      "      <<: *defaults",
      "      model: doc-embedder",
      "",
    ].join("\n"));

    const config = readStackConfigFiles(dir, "qa");

    expect(JSON.parse(config["mlplatform:endpoints"])).toEqual({
      "churn-scorer": { model: "churn-scorer", instanceType: "ml.m5.xlarge", instanceCount: 2 },
      "doc-embedder": { model: "doc-embedder", instanceType: "ml.g5.xlarge", instanceCount: 2 },
    });
  });

  it("GIVEN a merge of a list of anchors WHEN the stack is read THEN earlier anchors win", () => {
    const dir = qaStack("base: &base { a: 1, b: 1 }\nextra: &extra { b: 2, c: 2 }\nconfig:\n  x:y:\n    <<: [*base, *extra]\n");

    expect(JSON.parse(readStackConfigFiles(dir, "qa")["x:y"])).toEqual({ a: 1, b: 1, c: 2 });
  });

  it("GIVEN two merge keys in one map WHEN the stack is read THEN the second is refused, as Pulumi refuses it", () => {
    const dir = qaStack("a: &a { x: 1 }\nb: &b { y: 2 }\nconfig:\n  x:y:\n    <<: *a\n    <<: *b\n");

    expect(configErrorOf(() => readStackConfigFiles(dir, "qa")).message).toContain("Pulumi.qa.yaml: x:y.<<: is set twice (again at line 6)");
  });

  it("GIVEN aliases that expand without end WHEN the stack is read THEN it is refused as invalid YAML", () => {
    const dir = qaStack([
      "a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1]",
      "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]",
      "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]",
      "config:",
      "  x:y: [*c, *c, *c, *c, *c, *c, *c, *c, *c]",
      "",
    ].join("\n"));

    const error = configErrorOf(() => readStackConfigFiles(dir, "qa"));

    expect(error.message).toContain("Pulumi.qa.yaml: (file): is not valid YAML: Excessive alias count");
  });

  it("GIVEN an alias with no anchor WHEN the stack is read THEN it is refused naming the alias", () => {
    const dir = qaStack("config:\n  x:y: *nowhere\n");

    const error = configErrorOf(() => readStackConfigFiles(dir, "qa"));

    expect(error.message).toContain("Pulumi.qa.yaml: (file): is not valid YAML: Unresolved alias");
    expect(error.message).toContain("nowhere");
  });
});

describe("text encoding", () => {
  it("GIVEN a Latin-1 byte in the stack file WHEN it is read THEN the byte, its offset and its line are named", () => {
    const dir = qaStack(bytes("config:\n  mlplatform:tags:\n    owner: Ren", [0xe9], "\n"));

    const error = configErrorOf(() => readStackConfigFiles(dir, "qa"));

    expect(error.problems).toEqual([{
      file: "Pulumi.qa.yaml",
      path: "(file)",
      message: "is not UTF-8 text: invalid byte 0xE9 at offset 41 (line 3); save the file as UTF-8",
    }]);
  });

  it("GIVEN a UTF-8 sequence cut short in Pulumi.yaml WHEN it is read THEN the first byte of the sequence is named", () => {
    const dir = projectWith({ "Pulumi.yaml": bytes("name: caf", [0xc3], "\n") });

    const error = configErrorOf(() => readProjectFile(dir));

    expect(error.message).toContain("Pulumi.yaml: (file): is not UTF-8 text: invalid byte 0xC3 at offset 9 (line 1)");
  });

  it("GIVEN a written U+FFFD character before an invalid byte WHEN the stack is read THEN the invalid byte is the one named", () => {
    const dir = qaStack(bytes("config:\n  x:y: \uFFFD ", [0x80], "\n"));

    expect(configErrorOf(() => readStackConfigFiles(dir, "qa")).message).toContain("invalid byte 0x80 at offset 19 (line 2)");
  });

  it("GIVEN a UTF-8 BOM at the start WHEN the stack is read THEN it is ignored, as Pulumi ignores it", () => {
    const dir = qaStack(bytes([0xef, 0xbb, 0xbf], "config:\n  x:y: café\n"));

    expect(readStackConfigFiles(dir, "qa")["x:y"]).toBe("café");
  });

  it("GIVEN a BOM and an invalid byte WHEN the stack is read THEN the offset counts the BOM's bytes", () => {
    const dir = qaStack(bytes([0xef, 0xbb, 0xbf], "config:\n  x:y: ", [0xff], "\n"));

    expect(configErrorOf(() => readStackConfigFiles(dir, "qa")).message).toContain("invalid byte 0xFF at offset 18 (line 2)");
  });

  it("GIVEN CRLF line endings WHEN the stack is read THEN the values are those of LF endings", () => {
    const dir = qaStack("config:\r\n  x:y: a\r\n  x:z:\r\n    k: v\r\n");

    expect(readStackConfigFiles(dir, "qa")).toMatchObject({ "x:y": "a", "x:z": "{\"k\":\"v\"}" });
  });

  it("GIVEN CRLF line endings and a key set twice WHEN the stack is read THEN the line number is right", () => {
    const dir = qaStack("config:\r\n  x:y: a\r\n  x:y: b\r\n");

    expect(configErrorOf(() => readStackConfigFiles(dir, "qa")).message).toContain("x:y: is set twice (again at line 3)");
  });
});

describe("documents that hold no usable config", () => {
  it.each([
    ["empty", ""],
    ["only comments", "# qa: nothing set yet\n\n# more later\n"],
  ])("GIVEN a stack file that is %s WHEN it is read THEN the stack has the project's values only", (_title, text) => {
    const dir = qaStack(text);

    expect(readStackConfigFiles(dir, "qa")).toEqual({ "mlplatform:serviceName": "churn-predictor" });
  });

  it("GIVEN an empty Pulumi.yaml WHEN it is read THEN the missing project name is named", () => {
    const dir = projectWith({ "Pulumi.yaml": "# nothing here\n" });

    const error = configErrorOf(() => readProjectFile(dir));

    expect(error.problems).toEqual([{ file: "Pulumi.yaml", path: "name", message: "must be the Pulumi project name, got nothing" }]);
  });

  it("GIVEN a config that is a list WHEN the stack is read THEN it is refused as not a map", () => {
    const dir = qaStack("config:\n  - x:y: 1\n");

    const error = configErrorOf(() => readStackConfigFiles(dir, "qa"));

    expect(error.problems).toEqual([{ file: "Pulumi.qa.yaml", path: "config", message: "must be a map of keys to values, got a list" }]);
  });

  it("GIVEN a stack file that is a single string WHEN it is read THEN the file is refused as not a map", () => {
    const dir = qaStack("just some text\n");

    expect(configErrorOf(() => readStackConfigFiles(dir, "qa")).message).toContain("Pulumi.qa.yaml: (file): must be a map of keys to values, got a string");
  });

  it("GIVEN two YAML documents in a stack file WHEN it is read THEN it is refused, naming where the second starts", () => {
    const dir = qaStack("---\nconfig:\n  x:y: 1\n---\nconfig:\n  x:y: 2\n");

    const error = configErrorOf(() => readStackConfigFiles(dir, "qa"));

    expect(error.problems).toEqual([{
      file: "Pulumi.qa.yaml",
      path: "(file)",
      message: "holds more than one YAML document (another starts at line 4); Pulumi reads only the first, so put every setting in one document",
    }]);
  });

  it("GIVEN a stack file that ends with a bare --- WHEN it is read THEN the empty second document is ignored", () => {
    const dir = qaStack("config:\n  x:y: 1\n---\n");

    expect(readStackConfigFiles(dir, "qa")["x:y"]).toBe("1");
  });
});

describe("what stays refused", () => {
  it("GIVEN an encrypted secret WHEN the stack is read THEN it is refused with the secrets message", () => {
    const dir = qaStack("config:\n  mlplatform:tags:\n    secure: v1:abc\n");

    const error = configErrorOf(() => readStackConfigFiles(dir, "qa"));

    expect(error.problems).toEqual([{
      file: "Pulumi.qa.yaml",
      path: "mlplatform:tags",
      message: "is a secret; the offline tools cannot decrypt it and this program reads no secrets",
    }]);
  });

  it("GIVEN an encrypted secret inside an object WHEN the stack is read THEN its full key path is named", () => {
    const dir = qaStack("config:\n  mlplatform:endpoints:\n    a:\n      environment:\n        - TOKEN:\n            secure: v1:abc\n");

    const error = configErrorOf(() => readStackConfigFiles(dir, "qa"));

    expect(error.message).toContain("Pulumi.qa.yaml: mlplatform:endpoints.a.environment[0].TOKEN: is a secret");
  });

  it("GIVEN a stack file that is not YAML WHEN it is read THEN the parser's first line is given", () => {
    const dir = qaStack("config:\n  x:y: [\n");

    expect(configErrorOf(() => readStackConfigFiles(dir, "qa")).message).toMatch(/Pulumi\.qa\.yaml: \(file\): is not valid YAML: .* at line \d+, column \d+:$/m);
  });

  it("GIVEN no stack file WHEN the stack is read THEN the missing stack is named", () => {
    const dir = projectWith({ "Pulumi.yaml": PROJECT });

    expect(configErrorOf(() => readStackConfigFiles(dir, "qa")).message).toContain("Pulumi.qa.yaml: (file): cannot be read; does the stack exist?");
  });

  it("GIVEN no Pulumi.yaml WHEN the project is read THEN the directory is named", () => {
    const dir = projectWith({});

    expect(configErrorOf(() => readProjectFile(dir)).message).toContain(`Pulumi.yaml: (file): cannot be read from ${dir}: is it the project directory?`);
  });
});
