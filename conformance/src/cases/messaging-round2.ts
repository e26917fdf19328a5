// Delivery profile, what the messaging service's surviving mutants showed no case checked: whose
// dead letters a caller may name (list, replay and purge, by id and all at once), and
// SubscribeTopic by an agent that is not registered and for a pattern it already holds.

import { Role } from "@acb/gen/acb/v1/auth_pb";
import { DeadLetterReason } from "@acb/gen/acb/v1/messaging_pb";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { type ConformanceCase, check } from "../case.js";
import type { CaseContext, TestAgent } from "../harness.js";
import { Inbox } from "../inbox.js";
import { Code, expectCode, expectReason } from "../wire.js";
import { deadLetters, to } from "./delivery-helpers.js";

const requires = ["messaging"];

/** Sends `kind` to `r` and has `r` dead-letter it; returns its dead letter's id. */
async function deadLetter(t: CaseContext, s: TestAgent, r: TestAgent, kind: string) {
  await s.messaging.send(to(r, kind));
  const inbox = await Inbox.open(t, r);
  try {
    const d = await inbox.next(`the delivery of ${kind}`);
    await r.messaging.nack({ deliveryIds: [d.deliveryId], deadLetter: true });
  } finally {
    inbox.close();
  }
  const [dl] = await deadLetters(t, r, 1, `${r.id}'s dead letter`);
  if (!dl) throw new Error("no dead letter");
  return dl.id;
}

const ids = (list: { id: string }[]) => list.map((d) => d.id).join(",");

export const messagingRound2Cases: ConformanceCase[] = [
  {
    id: "delivery.dead-letter-scope",
    level: "MUST",
    profile: "delivery",
    description:
      "Naming another agent's dead letters (ListDeadLetters, Replay and Purge with all) needs the admin role, else PERMISSION_DENIED; another agent's ids are not_found_ids and stay; an admin naming an agent gets that agent's only, empty its own",
    spec: "acb.v1.ListDeadLettersRequest.agent_id",
    rules: ["delivery.dead-letter-scope"],
    requires,
    async run(t) {
      const tenant = await t.tenant({ maxDeliveryAttempts: 5 });
      const s = await tenant.agent("dls-s");
      const r1 = await tenant.agent("dls-r1");
      const r2 = await tenant.agent("dls-r2");
      const admin = await tenant.agent("dls-admin", { roles: [Role.ADMIN] });
      const dl1 = await deadLetter(t, s, r1, "for-r1");
      const dl2 = await deadLetter(t, s, r2, "for-r2");
      for (const agentId of [r2.id, "*"]) {
        await expectCode(
          r1.messaging.listDeadLetters({ agentId }),
          Code.PermissionDenied,
          `ListDeadLetters of "${agentId}" by an agent without the admin role`,
        );
        await expectCode(
          r1.messaging.replayDeadLetters({ all: true, agentId }),
          Code.PermissionDenied,
          `ReplayDeadLetters of all of "${agentId}" by an agent without the admin role`,
        );
        await expectCode(
          r1.messaging.purgeDeadLetters({ all: true, agentId }),
          Code.PermissionDenied,
          `PurgeDeadLetters of all of "${agentId}" by an agent without the admin role`,
        );
      }
      const own = await r1.messaging.listDeadLetters({ agentId: r1.id });
      check(ids(own.deadLetters) === dl1, `r1 naming itself lists [${ids(own.deadLetters)}]`);
      const replayed = await r1.messaging.replayDeadLetters({ deadLetterIds: [dl2] });
      const purged = await r1.messaging.purgeDeadLetters({ deadLetterIds: [dl2] });
      check(
        replayed.replayedCount === 0n &&
          replayed.notFoundIds.join(",") === dl2 &&
          purged.purgedCount === 0n &&
          purged.notFoundIds.join(",") === dl2,
        `r1's replay and purge of r2's dead letter answered ${replayed.replayedCount} [${replayed.notFoundIds}] and ${purged.purgedCount} [${purged.notFoundIds}], not 0 with its id not found`,
      );
      const still = await r2.messaging.listDeadLetters({});
      check(ids(still.deadLetters) === dl2, `r2's dead letters are [${ids(still.deadLetters)}]`);
      const ofR1 = await admin.messaging.listDeadLetters({ agentId: r1.id });
      check(ids(ofR1.deadLetters) === dl1, `the admin's list of r1 is [${ids(ofR1.deadLetters)}]`);
      const ofAdmin = await admin.messaging.listDeadLetters({});
      check(
        ofAdmin.deadLetters.length === 0,
        `the admin's own list is [${ids(ofAdmin.deadLetters)}], though it has no dead letters`,
      );
      const adminPurge = await admin.messaging.purgeDeadLetters({ all: true, agentId: r2.id });
      check(adminPurge.purgedCount === 1n, `the admin purged ${adminPurge.purgedCount} of r2's`);
      const left = await admin.messaging.listDeadLetters({ agentId: "*" });
      check(
        ids(left.deadLetters) === dl1,
        `after that the tenant holds [${ids(left.deadLetters)}]`,
      );
    },
  },
  {
    id: "delivery.subscribe-rules",
    level: "MUST",
    profile: "delivery",
    description:
      "SubscribeTopic by an agent that is not registered is FAILED_PRECONDITION (AGENT_NOT_REGISTERED); subscribing again to a pattern answers the existing subscription with created false",
    spec: "acb.v1.MessagingService.SubscribeTopic",
    rules: ["delivery.subscribe-registered", "delivery.subscribe-again"],
    requires,
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("sbr-a");
      const u = await tenant.agent("sbr-u", { register: false });
      await expectReason(
        u.messaging.subscribeTopic({ pattern: "sbr.x" }),
        Code.FailedPrecondition,
        "AGENT_NOT_REGISTERED",
        "SubscribeTopic by an agent that never registered",
      );
      const first = await a.messaging.subscribeTopic({ pattern: "sbr.*" });
      await a.messaging.subscribeTopic({ pattern: "sbr.other" });
      const again = await a.messaging.subscribeTopic({ pattern: "sbr.*" });
      const at = (r: typeof first) =>
        r.subscription?.createdAt ? timestampMs(r.subscription.createdAt) : undefined;
      check(first.created, "the first SubscribeTopic of a pattern answered created false");
      check(
        !again.created &&
          again.subscription?.pattern === "sbr.*" &&
          at(again) !== undefined &&
          at(again) === at(first),
        `subscribing again answered created ${again.created}, pattern "${again.subscription?.pattern}", created_at ${at(again)}, not the first subscription (created_at ${at(first)})`,
      );
      const listed = await a.messaging.listTopicSubscriptions({ pageSize: 2 });
      check(
        listed.subscriptions.map((x) => x.pattern).join(",") === "sbr.*,sbr.other" &&
          listed.nextPageToken === "",
        `a page of 2 holds [${listed.subscriptions.map((x) => x.pattern)}] and next_page_token "${listed.nextPageToken}", not [sbr.*, sbr.other] and none`,
      );
      const first1 = await a.messaging.listTopicSubscriptions({ pageSize: 1 });
      const second1 = await a.messaging.listTopicSubscriptions({
        pageSize: 1,
        pageToken: first1.nextPageToken,
      });
      check(
        first1.nextPageToken !== "" &&
          second1.nextPageToken === "" &&
          [...first1.subscriptions, ...second1.subscriptions].map((x) => x.pattern).join(",") ===
            "sbr.*,sbr.other",
        "pages of 1 do not list sbr.* then sbr.other, with a token after the first page only",
      );
    },
  },
  {
    id: "delivery.dead-letters-by-reason",
    level: "MUST",
    profile: "delivery",
    description:
      "ListDeadLetters with a reason lists exactly the dead letters of that reason, oldest first, page by page, each once, and no token after the last",
    spec: "acb.v1.ListDeadLettersRequest.reason",
    rules: ["delivery.dead-letter-filter", "pagination.complete"],
    requires,
    async run(t) {
      const tenant = await t.tenant({ maxDeliveryAttempts: 1 });
      const s = await tenant.agent("dlr-s");
      const r = await tenant.agent("dlr-r");
      const inbox = await Inbox.open(t, r);
      // Rejected (Nack with dead_letter) and out of attempts (a plain Nack of the only attempt), in turn.
      const kinds = ["r1", "m1", "r2", "m2", "r3"];
      for (const kind of kinds) {
        await s.messaging.send(to(r, kind));
        const d = await inbox.next(`the delivery of ${kind}`);
        await r.messaging.nack({ deliveryIds: [d.deliveryId], deadLetter: kind.startsWith("r") });
      }
      inbox.close();
      await deadLetters(t, r, kinds.length, "five dead letters");
      for (const [reason, want] of [
        [DeadLetterReason.REJECTED, "r1,r2,r3"],
        [DeadLetterReason.MAX_DELIVERY_ATTEMPTS, "m1,m2"],
      ] as const) {
        for (const pageSize of [1, 2, 3]) {
          const got: string[] = [];
          let pageToken = "";
          for (let page = 0; page < 10; page++) {
            const res = await r.messaging.listDeadLetters({ reason, pageSize, pageToken });
            got.push(...res.deadLetters.map((d) => d.message?.kind ?? "?"));
            check(
              res.deadLetters.every((d) => d.reason === reason),
              `a page of ${DeadLetterReason[reason]} holds another reason`,
            );
            pageToken = res.nextPageToken;
            if (pageToken === "") break;
          }
          check(
            got.join(",") === want,
            `${DeadLetterReason[reason]} in pages of ${pageSize} lists [${got.join(", ")}], not [${want}]`,
          );
        }
      }
    },
  },
];
