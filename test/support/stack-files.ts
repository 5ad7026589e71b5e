import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseDocument, type Document } from "yaml";
import { echoInputs, type OfflineRun, runStackFromFiles } from "../../stacks/offline-run";

/** The repository root, holding the shipped Pulumi.yaml and stack files. */
export const REPO_ROOT = resolve(__dirname, "../..");
export const STAGES = ["sandbox", "qa", "prod"] as const;

/** Runs a stack of the repository (or of a copy) through the real program under mocks; onResource sees every registration. */
export function runStack(stage: string, dir = REPO_ROOT, onResource?: () => void): Promise<OfflineRun> {
  return runStackFromFiles(dir, stage, onResource && ((args) => {
    onResource();
    return echoInputs(args);
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

/** A temporary copy of the project files, edited; remove it with cleanup(). */
export function copyProject(stage: string, edits: ProjectEdits): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), "mlplatform-stack-"));
  for (const file of ["Pulumi.yaml", ...STAGES.map((s) => `Pulumi.${s}.yaml`)]) {
    copyFileSync(join(REPO_ROOT, file), join(dir, file));
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

/** Path of an endpoint setting in a stack file. */
export function endpointPath(endpoint: string, ...rest: string[]): string[] {
  return ["config", "mlplatform:endpoints", endpoint, ...rest];
}
