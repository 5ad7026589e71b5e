import type { Project } from "projen";
import type { ServiceDefinition } from "./service";
import { addToolTask } from "./tool-task";

/**
 * Adds `preview:<stage>` and `up:<stage>` for each stage; they run the Pulumi CLI for real users and
 * pass further arguments on intact (`npx projen up:qa --message "hotfix INC-42"`).
 */
export function addStageTasks(project: Project, def: ServiceDefinition): void {
  for (const stage of def.stages) {
    addToolTask(project, `preview:${stage.name}`, {
      description: `Preview the ${stage.name} stack (account ${stage.accountId}) with the Pulumi CLI`,
      command: ["pulumi", "preview", "--stack", stage.name, "--diff"],
    });
    addToolTask(project, `up:${stage.name}`, {
      description: `Deploy the ${stage.name} stack into account ${stage.accountId} with the Pulumi CLI`,
      command: ["pulumi", "up", "--stack", stage.name],
    });
  }
}
