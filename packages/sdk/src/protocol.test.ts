import { AdminService as GenAdminService, Tier as GenTier } from "@acb/gen/acb/v1/admin_pb";
import { Role as GenRole } from "@acb/gen/acb/v1/auth_pb";
import { ContextScope as GenContextScope } from "@acb/gen/acb/v1/contexts_pb";
import { describe, expect, it } from "vitest";
import * as bun from "./bun.js";
import * as deno from "./deno.js";
import * as index from "./index.js";
import * as node from "./node.js";
import * as web from "./web.js";

describe("every entry point re-exports the protocol's descriptors and enums", () => {
  it.each([
    ["@acb/sdk", index],
    ["@acb/sdk/web", web],
    ["@acb/sdk/node", node],
    ["@acb/sdk/deno", deno],
    ["@acb/sdk/bun", bun],
  ])("%s exports Role, Tier, ContextScope and the services", (_entry, sdk) => {
    // The very objects @acb/gen defines: values compare equal and descriptors are shared.
    expect(sdk.Role).toBe(GenRole);
    expect(sdk.Tier).toBe(GenTier);
    expect(sdk.ContextScope).toBe(GenContextScope);
    expect(sdk.AdminService).toBe(GenAdminService);
    expect(sdk.Role.AGENT_FULL).toBe(4);
    expect(
      [
        sdk.AuthService,
        sdk.ContextService,
        sdk.ConversationService,
        sdk.LargeContextService,
        sdk.MeetingService,
        sdk.MessagingService,
        sdk.RegistryService,
        sdk.ServerInfoService,
      ].map((s) => s.typeName),
    ).toEqual([
      "acb.v1.AuthService",
      "acb.v1.ContextService",
      "acb.v1.ConversationService",
      "acb.v1.LargeContextService",
      "acb.v1.MeetingService",
      "acb.v1.MessagingService",
      "acb.v1.RegistryService",
      "acb.v1.ServerInfoService",
    ]);
  });
});
