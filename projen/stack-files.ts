import { existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Component, type Project } from "projen";
import { isScalar, isSeq, parseDocument } from "yaml";
import type { ParsedService } from "./service";
import { stackFileName } from "../stacks/config/load";
import { type DeploymentStack, deploymentStacks } from "../stacks/config/schema";

/**
 * Stack files (Pulumi.<stack>.yaml) belong to the team: people and promotion edit them, projen never
 * overwrites one. What projen does with them, from the service definition:
 * - writes a day-zero starter for every stack that has none (a new stage, or the registry): the
 *   account lock and a commented example endpoint, nothing else to fill in;
 * - keeps `aws:allowedAccountIds` equal to the stack's account in the definition, editing only
 *   that value in place (every other byte of the file stays as it is);
 * - warns about stack files of stacks the definition no longer has (it never deletes one).
 */
export class StackFiles extends Component {
  constructor(project: Project, private readonly service: ParsedService) {
    super(project);
  }

  public synthesize(): void {
    const stacks = deploymentStacks(this.service.project);
    for (const stack of stacks) {
      const file = join(this.project.outdir, stackFileName(stack.name));
      if (!existsSync(file)) {
        writeWhole(file, starterStackFile(this.service, stack));
        this.project.logger.info(`${stackFileName(stack.name)}: written as a day-zero stack (account ${stack.accountId})`);
        continue;
      }
      const text = readFileSync(file, "utf8");
      const locked = withAccountLock(text, stack.accountId);
      if (locked.text !== text) {
        writeWhole(file, locked.text);
        this.project.logger.info(`${stackFileName(stack.name)}: aws:allowedAccountIds set to the account of the service definition, ${stack.accountId}`);
      } else if (locked.problem !== undefined) {
        this.project.logger.warn(`${stackFileName(stack.name)}: ${locked.problem}`);
      }
    }
    const known = new Set(stacks.map((s) => stackFileName(s.name)));
    for (const name of readdirSync(this.project.outdir)) {
      if (/^Pulumi\.[^.]+\.yaml$/.test(name) && !known.has(name)) {
        this.project.logger.warn(`${name}: the service definition has no stack of that name; remove the file or add the stage to .projenrc.ts`);
      }
    }
  }
}

/** The starter stack file of a stack: account lock, and for a stage a commented example endpoint. */
export function starterStackFile(service: ParsedService, stack: DeploymentStack): string {
  const { project, region } = service;
  const lines = stack.kind === "registry"
    ? [
      `# The model registry of ${project.serviceName}: account ${stack.accountId}, region ${region} (both from .projenrc.ts).`,
      "# A stack of its own, deployed by its own roles, that serves no endpoints and is never promoted to:",
      "# the artifact bucket and key, one model package group per model, the ECR repository (if enabled),",
      "# and the training, publisher and approver roles. Written once by `npx projen`; projen never overwrites it.",
    ]
    : [
      `# Stage ${stack.name} of ${project.serviceName}: account ${stack.accountId}, region ${region} (both from .projenrc.ts).`,
      "# Written once by `npx projen` as a day-zero stack: it deploys the account's bucket, key and roles.",
      "# projen never overwrites this file; it only keeps aws:allowedAccountIds equal to the definition.",
      "# Only the stage's own choices go here: accounts, region, registry ARNs, image repository and bucket",
      "# names all follow from the service definition.",
    ];
  lines.push(
    "config:",
    "  # The provider refuses any account but this one (kept equal to .projenrc.ts by `npx projen`).",
    "  aws:allowedAccountIds:",
    `    - "${stack.accountId}"`,
  );
  if (stack.kind === "stage") {
    const model = project.models[0];
    lines.push(
      "  # Endpoints of this stage. Uncomment once the registry has an approved version of the model",
      "  # (`npx projen registry latest-approved --model <model>`); promotion copies `source` onward.",
      "  # mlplatform:endpoints:",
      `  #   ${model}:`,
      `  #     model: ${model}`,
      "  #     source:",
      "  #       version: 1",
      "  #     instanceType: ml.m5.large",
      "  #     instanceCount: 1",
      "  #     deployment:",
      "  #       strategy: all-at-once",
    );
  }
  return `${lines.join("\n")}\n`;
}

/**
 * The stack file's text with `aws:allowedAccountIds` naming exactly `accountId`. Only the one value
 * changes, spliced into the original text; a file whose lock is missing or not a one-item list is
 * left alone with a problem to report (the program refuses it with the value to write).
 */
export function withAccountLock(text: string, accountId: string): { text: string; problem?: string } {
  const doc = parseDocument(text);
  if (doc.errors.length > 0) return { text, problem: `is not valid YAML (${doc.errors[0].message.split("\n")[0]}); aws:allowedAccountIds not checked` };
  const lock = doc.getIn(["config", "aws:allowedAccountIds"], true);
  const item = isSeq(lock) && lock.items.length === 1 ? lock.items[0] : undefined;
  if (!isScalar(item) || !item.range) {
    return { text, problem: `aws:allowedAccountIds must be a list of the one account ${accountId}; set it by hand` };
  }
  if (String(item.value) === accountId) return { text };
  const [start, end] = item.range;
  return { text: `${text.slice(0, start)}"${accountId}"${text.slice(end)}` };
}

/** Writes a file whole or not at all: a temporary file beside it, renamed over it. */
function writeWhole(file: string, text: string): void {
  const temp = `${file}.projen-${process.pid}.tmp`;
  try {
    writeFileSync(temp, text);
    renameSync(temp, file);
  } finally {
    rmSync(temp, { force: true });
  }
}
