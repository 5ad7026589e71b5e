import type { Project } from "projen";
import type { ServiceDefinition } from "./service";

/** Adds `preview:<stage>` and `up:<stage>` for each stage; they run the Pulumi CLI for real users. */
export function addStageTasks(project: Project, def: ServiceDefinition): void {
  for (const stage of def.stages) {
    project.addTask(`preview:${stage.name}`, {
      description: `Preview the ${stage.name} stack (account ${stage.accountId}) with the Pulumi CLI`,
      exec: `pulumi preview --stack ${stage.name} --diff`,
      receiveArgs: true,
    });
    project.addTask(`up:${stage.name}`, {
      description: `Deploy the ${stage.name} stack into account ${stage.accountId} with the Pulumi CLI`,
      exec: `pulumi up --stack ${stage.name}`,
      receiveArgs: true,
    });
  }
}
