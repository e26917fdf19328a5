// MAY cases: a capability is optional, but a hub that declares one in GetServerInfo must serve it.
// Each case runs only when the capability is declared, and fails when its service is
// UNIMPLEMENTED.

import { Code, ConnectError } from "@connectrpc/connect";
import { CaseFailure, type ConformanceCase, type Profile } from "../case.js";
import type { TestAgent } from "../harness.js";

function served(
  capability: string,
  profile: Profile,
  service: string,
  probe: (a: TestAgent) => Promise<unknown>,
): ConformanceCase {
  return {
    id: `capabilities.${capability}`,
    level: "MAY",
    profile,
    description: `A hub declaring "${capability}" serves ${service} (not UNIMPLEMENTED)`,
    spec: "acb.v1.GetServerInfoResponse.capabilities",
    rules: ["capabilities.served"],
    requires: [capability],
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent(`cap-${capability}`);
      try {
        await probe(a);
      } catch (err) {
        const e = ConnectError.from(err);
        if (e.code === Code.Unimplemented) {
          throw new CaseFailure(`"${capability}" is declared but ${service} answers UNIMPLEMENTED`);
        }
        // Any other answer (even a refusal) shows the service is there.
      }
    },
  };
}

export const capabilityCases: ConformanceCase[] = [
  served("messaging", "delivery", "acb.v1.MessagingService", (a) =>
    a.messaging.listTopicSubscriptions({}),
  ),
  served("request-reply", "request-reply", "acb.v1.MessagingService.Request", (a) =>
    a.messaging.request({ recipientId: "nobody-registered", kind: "probe" }),
  ),
  served("conversations", "request-reply", "acb.v1.ConversationService", (a) =>
    a.conversations.listConversations({}),
  ),
  served("large-contexts", "streaming", "acb.v1.LargeContextService", (a) =>
    a.large.getUploadStatus({ uploadId: "upl-conformance-probe" }),
  ),
  served("meetings", "meetings", "acb.v1.MeetingService", (a) => a.meetings.listMeetings({})),
];
