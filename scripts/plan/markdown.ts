import type { Operation, StackDiff } from "./diff";
import { shortType } from "./types";
import type { Finding } from "./types";

/**
 * The Markdown summary of `plan diff` (`--summary <file>`), written for a pull request's job summary
 * (`$GITHUB_STEP_SUMMARY`): one row per stack with its operations and findings, then each stack's
 * findings in full, then its changes in a collapsed section. The job log keeps the text output.
 */

const OPS: readonly Operation[] = ["create", "update", "replace", "delete"];

/** Text for a table cell: no line breaks, no cell separators, no HTML. */
function cell(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/\|/g, "\\|").replace(/\r?\n/g, "<br>");
}

/** An identifier in a table cell, as code. */
function code(text: string): string {
  return `\`${text.replace(/`/g, "'").replace(/\|/g, "\\|")}\``;
}

function row(cells: readonly string[]): string {
  return `| ${cells.join(" | ")} |`;
}

const errorsOf = (findings: readonly Finding[]) => findings.filter((f) => f.severity === "error");

/** The Markdown document, ending with a newline. */
export function diffMarkdown(diffs: readonly StackDiff[]): string {
  const lines: string[] = ["## Offline plan diff", ""];
  const revisions = [...new Set(diffs.filter((d) => d.mode === "revision").map((d) => d.before.label))];
  if (revisions.length > 0) {
    lines.push(`Stack files of this change compared with ${cell(revisions.join(", "))}; the program is this change's.`, "");
  }
  const errors = diffs.reduce((n, d) => n + errorsOf(d.findings).length, 0);
  lines.push(errors === 0 ? "**No errors.**" : `**${errors} error${errors === 1 ? "" : "s"}**: the check fails.`, "");
  lines.push(
    row(["Stack", "Creates", "Updates", "Replaces", "Deletes", "Errors", "Warnings"]),
    row(["---", ...Array<string>(6).fill("---:")]),
    ...diffs.map((d) => row([
      d.mode === "promotion" ? cell(`${d.before.stack} -> ${d.after.stack}`) : cell(d.stack),
      ...OPS.map((op) => String(d.changes.filter((c) => c.op === op).length)),
      String(errorsOf(d.findings).length),
      String(d.findings.length - errorsOf(d.findings).length),
    ])),
  );
  for (const d of diffs) {
    if (d.findings.length === 0 && d.changes.length === 0 && d.notes.length === 0) continue;
    lines.push("", `### ${cell(d.stack)}`, "");
    for (const note of d.notes) lines.push(`- note: ${cell(note)}`);
    if (d.notes.length > 0) lines.push("");
    if (d.findings.length > 0) {
      lines.push(
        row(["Severity", "Check", "Resource", "Config key", "Message"]),
        row(Array<string>(5).fill("---")),
        ...d.findings.map((f) => row([
          f.severity === "error" ? "**error**" : "warning", code(f.check), code(f.resource), f.configKey ? code(f.configKey) : "", cell(f.message),
        ])),
        "",
      );
    }
    if (d.changes.length > 0) {
      lines.push(
        `<details><summary>${d.changes.length} change${d.changes.length === 1 ? "" : "s"}, ${d.unchanged} unchanged</summary>`,
        "",
        row(["Operation", "Type", "Name", "Physical name", "Because of"]),
        row(Array<string>(5).fill("---")),
        ...d.changes.map((c) => row([
          c.op === "replace" ? `**REPLACE**${c.deleteFirst ? " (delete first)" : ""}` : c.op === "delete" ? "**delete**" : c.op,
          code(shortType(c.type)),
          code(c.name),
          cell(c.physicalName.before === c.physicalName.after || c.physicalName.before === null || c.physicalName.after === null
            ? c.physicalName.after ?? c.physicalName.before ?? "-" : `${c.physicalName.before} -> ${c.physicalName.after}`),
          cell((c.op === "replace" ? c.causes : c.properties).join(", ")),
        ])),
        "",
        "</details>",
      );
    }
  }
  return `${lines.join("\n")}\n`;
}
