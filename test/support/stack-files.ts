import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseDocument, type Document } from "yaml";
import { type AccountRef, stageNames, type StageNames } from "../../components/names";
import { readStackConfigFiles } from "../../stacks/config/files";
import { loadStackConfig } from "../../stacks/config/load";
import { accountRef, type StackConfig } from "../../stacks/config/schema";
import { echoInputs, type OfflineRun, runStackFromFiles } from "../../stacks/offline-run";

import { FIXTURE_ROOT } from "../fixtures/project";

/** The repository root, holding the service's own Pulumi.yaml and stack files (tests of the shipped stacks only). */
export const REPO_ROOT = resolve(__dirname, "../..");

/** Runs a stack of the fixture project (or of another project directory) through the real program under mocks; onResource sees every registration. */
export function runStack(stage: string, dir = FIXTURE_ROOT, onResource?: () => void): Promise<OfflineRun> {
  return runStackFromFiles(dir, stage, onResource && ((args, ignoreChanges) => {
    onResource();
    return echoInputs(args, ignoreChanges);
  }));
}

/** Edits applied to a copy of the project: the stack file and Pulumi.yaml as YAML documents. */
export interface ProjectEdits {
  /** Edits Pulumi.<stage>.yaml (for the stage given to copyProject). */
  readonly stack?: (doc: Document) => void;
  /** Edits Pulumi.yaml. */
  readonly project?: (doc: Document) => void;
  /** Replaces Pulumi.<stage>.yaml with this text. */
  readonly stackText?: string;
}

/** A temporary copy of a project's Pulumi files (the fixture project's by default), edited; remove it with cleanup(). */
export function copyProject(stage: string, edits: ProjectEdits, from = FIXTURE_ROOT): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), "mlplatform-stack-"));
  for (const file of readdirSync(from).filter((f) => /^Pulumi(\.[^.]+)?\.yaml$/.test(f))) {
    copyFileSync(join(from, file), join(dir, file));
  }
  const edit = (file: string, fn: (doc: Document) => void) => {
    const doc = parseDocument(readFileSync(join(dir, file), "utf8"));
    fn(doc);
    writeFileSync(join(dir, file), doc.toString());
  };
  if (edits.project) edit("Pulumi.yaml", edits.project);
  if (edits.stack) edit(`Pulumi.${stage}.yaml`, edits.stack);
  if (edits.stackText !== undefined) writeFileSync(join(dir, `Pulumi.${stage}.yaml`), edits.stackText);
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * A copy of the fixture project (edited) for a stage tool's tests, and the stage as the tools read
 * it: its config, account and names. Remove `dir` after the test.
 */
export function stageProject(stage: string, edits: ProjectEdits = {}): { dir: string; config: StackConfig; account: AccountRef; names: StageNames } {
  const { dir } = copyProject(stage, edits);
  const config = loadStackConfig(stage, readStackConfigFiles(dir, stage));
  const account = accountRef(config.accountId, config.region);
  return { dir, config, account, names: stageNames(config.project.serviceName, stage, account) };
}

/**
 * copyProject for a test file that makes many copies: call it once at the top of the file; each
 * copy it returns is removed after the file's tests.
 */
export function projectCopies(): (stage: string, edits: ProjectEdits, from?: string) => string {
  const cleanups: (() => void)[] = [];
  afterAll(() => cleanups.forEach((cleanup) => cleanup()));
  return (stage, edits, from) => {
    const { dir, cleanup } = copyProject(stage, edits, from);
    cleanups.push(cleanup);
    return dir;
  };
}

/** Path of an endpoint setting in a stack file. */
export function endpointPath(endpoint: string, ...rest: string[]): string[] {
  return ["config", "mlplatform:endpoints", endpoint, ...rest];
}
