// The catalogue's own shape: unique ids, at least 150 cases, and every RPC of every acb.v1
// service reached by the role matrix (RefreshToken, which takes no credential, by its own case).

import { AdminService } from "@acb/gen/acb/v1/admin_pb";
import { AuthService } from "@acb/gen/acb/v1/auth_pb";
import { ContextService } from "@acb/gen/acb/v1/contexts_pb";
import { ConversationService } from "@acb/gen/acb/v1/conversations_pb";
import { LargeContextService } from "@acb/gen/acb/v1/large_contexts_pb";
import { MeetingService } from "@acb/gen/acb/v1/meetings_pb";
import { MessagingService } from "@acb/gen/acb/v1/messaging_pb";
import { RegistryService } from "@acb/gen/acb/v1/registry_pb";
import { ServerInfoService } from "@acb/gen/acb/v1/server_info_pb";
import { describe, expect, it } from "vitest";
import { roleMatrixRpcs } from "../src/cases/roles.js";
import { catalogue } from "../src/index.js";

const services = [
  AdminService,
  AuthService,
  ContextService,
  ConversationService,
  LargeContextService,
  MeetingService,
  MessagingService,
  RegistryService,
  ServerInfoService,
];

describe("the catalogue", () => {
  it("has at least 150 cases with unique ids", () => {
    expect(catalogue.length).toBeGreaterThanOrEqual(150);
    expect(new Set(catalogue.map((c) => c.id)).size).toBe(catalogue.length);
  });

  it("reaches every RPC of every acb.v1 service", () => {
    const all = services.flatMap((s) => s.methods.map((m) => `${s.name}/${m.name}`));
    const reached = new Set([...roleMatrixRpcs, "AuthService/RefreshToken"]);
    expect(all.filter((rpc) => !reached.has(rpc))).toEqual([]);
    expect(catalogue.some((c) => c.spec === "acb.v1.AuthService.RefreshToken")).toBe(true);
  });
});
