// Every conformance case, in the order they run.

import type { ConformanceCase } from "./case.js";
import { auditCases } from "./cases/audit.js";
import { authRuleCases } from "./cases/auth-rules.js";
import { capabilityCases } from "./cases/capabilities.js";
import { clusterCases } from "./cases/cluster.js";
import { contextListCases } from "./cases/context-lists.js";
import { contextRound2Cases } from "./cases/context-round2.js";
import { contextCases } from "./cases/contexts.js";
import { conversationRound2Cases } from "./cases/conversation-round2.js";
import { conversationRuleCases } from "./cases/conversation-rules.js";
import { credentialCases } from "./cases/credentials.js";
import { deliveryCases } from "./cases/delivery.js";
import { deliveryPathCases } from "./cases/delivery-paths.js";
import { deliveryRound3Cases } from "./cases/delivery-round3.js";
import { deliveryRound4Cases } from "./cases/delivery-round4.js";
import { deliveryRuleCases } from "./cases/delivery-rules.js";
import { deliveryStreamCases } from "./cases/delivery-streams.js";
import { domainRuleCases } from "./cases/domain-rules.js";
import { durabilityCases } from "./cases/durability.js";
import { isolationCases } from "./cases/isolation.js";
import { latencyCases } from "./cases/latency.js";
import { lifecycleCases } from "./cases/lifecycle.js";
import { meetingRound2Cases } from "./cases/meeting-round2.js";
import { meetingRuleCases } from "./cases/meeting-rules.js";
import { meetingCases } from "./cases/meetings.js";
import { memoryStoreRuleCases } from "./cases/memory-store-rules.js";
import { messagingRound2Cases } from "./cases/messaging-round2.js";
import { quotaCases } from "./cases/quotas.js";
import { registryCases } from "./cases/registry.js";
import { registryRound3Cases } from "./cases/registry-round3.js";
import { registryRound4Cases } from "./cases/registry-round4.js";
import { registrySessionCases } from "./cases/registry-sessions.js";
import { requestReplyCases } from "./cases/request-reply.js";
import { roleCases } from "./cases/roles.js";
import { securityCases } from "./cases/security.js";
import { streamingCases } from "./cases/streaming.js";
import { streamingErrorCases } from "./cases/streaming-errors.js";

export const catalogue: readonly ConformanceCase[] = [
  ...capabilityCases,
  // First: they kill the memory stores' mutants that every case reaches, so a mutation run stops early.
  ...memoryStoreRuleCases,
  // Early too: they kill mutants of the meeting store's tenant deletion, which every case reaches.
  ...meetingRound2Cases,
  // Early for the same reason: they kill mutants of the delivery paths that most cases reach.
  ...deliveryRound3Cases,
  ...deliveryRound4Cases,
  ...registryRound3Cases,
  ...registryRound4Cases,
  ...registryCases,
  ...registrySessionCases,
  ...contextCases,
  ...contextListCases,
  ...contextRound2Cases,
  ...deliveryCases,
  ...deliveryPathCases,
  ...messagingRound2Cases,
  ...deliveryStreamCases,
  ...deliveryRuleCases,
  ...requestReplyCases,
  ...conversationRuleCases,
  ...conversationRound2Cases,
  ...quotaCases,
  ...streamingCases,
  ...streamingErrorCases,
  ...meetingCases,
  ...meetingRuleCases,
  ...securityCases,
  ...credentialCases,
  ...auditCases,
  ...authRuleCases,
  ...domainRuleCases,
  ...roleCases,
  ...isolationCases,
  ...lifecycleCases,
  ...latencyCases,
  ...durabilityCases,
  ...clusterCases,
];
