import type { Project } from "projen";
import type { ParsedService } from "./service";
import { addToolTask } from "./tool-task";
import { deploymentStacks } from "../stacks/config/schema";

/**
 * Adds `preview:<stack>` and `up:<stack>` for each stack of the service (every stage, and the
 * registry's); they run the Pulumi CLI for real users and pass further
 * arguments on intact (`npx projen up:qa --message "hotfix INC-42"`).
 */
export function addStageTasks(project: Project, service: ParsedService): void {
  for (const stack of deploymentStacks(service.project)) {
    addToolTask(project, `preview:${stack.name}`, {
      description: `Preview the ${stack.name} stack (account ${stack.accountId}) with the Pulumi CLI`,
      command: ["pulumi", "preview", "--stack", stack.name, "--diff"],
    });
    addToolTask(project, `up:${stack.name}`, {
      description: `Deploy the ${stack.name} stack into account ${stack.accountId} with the Pulumi CLI`,
      command: ["pulumi", "up", "--stack", stack.name],
    });
  }
}
