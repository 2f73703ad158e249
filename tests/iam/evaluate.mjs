// Decide IAM requests with @cloud-copilot/iam-simulate: an IAM policy evaluator nobody on
// this project wrote, which evaluates identity policies and a session policy together as
// AWS documents it. Used by tests/session_policy.rs (test-only; AGPL-3.0, never shipped).
//
// stdin:  {"principal": "arn:aws:sts::…:assumed-role/…/…", "account": "123456789012",
//          "identityPolicies": [policy…], "sessionPolicy": policy | null,
//          "requests": [{"action": "s3:PutObject", "resource": "arn:aws:s3:::b/k",
//                        "context": {"s3:if-none-match": "*"}}…]}
// stdout: ["Allowed" | "ImplicitlyDenied" | "ExplicitlyDenied", …], one per request.
// A request the simulator cannot evaluate stops the run with its errors (exit 1).

import { runSimulation } from "@cloud-copilot/iam-simulate";

let input = "";
for await (const chunk of process.stdin) input += chunk;
const job = JSON.parse(input);

const verdicts = [];
for (const request of job.requests) {
  const result = await runSimulation(
    {
      request: {
        principal: job.principal,
        action: request.action,
        resource: { resource: request.resource, accountId: job.account },
        contextVariables: request.context ?? {},
      },
      identityPolicies: job.identityPolicies.map((policy, i) => ({ name: `identity-${i}`, policy })),
      sessionPolicy: job.sessionPolicy ?? undefined,
      serviceControlPolicies: [],
      resourceControlPolicies: [],
    },
    {},
  );
  if (result.resultType === "error") {
    console.error(`cannot evaluate ${JSON.stringify(request)}: ${JSON.stringify(result.errors)}`);
    process.exit(1);
  }
  verdicts.push(result.overallResult);
}
process.stdout.write(JSON.stringify(verdicts));
