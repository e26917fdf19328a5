// Cluster profile: several base URLs of one hub (`--url A --url B …`) act as one hub. Each case
// works through one node and checks through another, over the wire only; with one URL they skip.

import { Tier } from "@acb/gen/acb/v1/admin_pb";
import { Role } from "@acb/gen/acb/v1/auth_pb";
import { RetryInfoSchema } from "@acb/gen/acb/v1/common_pb";
import { SubscribeContextsResponse_Kind as ContextKind } from "@acb/gen/acb/v1/contexts_pb";
import {
  WatchMeetingResponse_Kind as MeetingKind,
  MeetingTurnPolicy,
} from "@acb/gen/acb/v1/meetings_pb";
import { CaseSkipped, type ConformanceCase, check } from "../case.js";
import { type CaseContext, duration } from "../harness.js";
import { Inbox, text } from "../inbox.js";
import { Code, expectCode } from "../wire.js";

/** Skips the case unless the run was given at least two nodes. */
function needNodes(t: CaseContext): number {
  if (t.nodes < 2) {
    throw new CaseSkipped("needs the URLs of at least two nodes of one hub (--url A --url B …)");
  }
  return t.nodes;
}

const decode = (data: Uint8Array | undefined) => new TextDecoder().decode(data);

export const clusterCases: ConformanceCase[] = [
  {
    id: "cluster.one-hub",
    level: "MUST",
    profile: "cluster",
    description:
      "Every node answers with one hub_epoch, and a tenant and token made through one node work on every other",
    spec: "acb.v1.GetServerInfoResponse.hub_epoch",
    rules: ["cluster.one-hub"],
    async run(t) {
      const nodes = needNodes(t);
      const epochs: string[] = [];
      for (let n = 0; n < nodes; n++) {
        epochs.push((await t.clientsWith(undefined, n).info.getServerInfo({})).hubEpoch);
      }
      check(
        epochs.every((e) => e === epochs[0] && e !== ""),
        `the nodes answer with hub_epoch [${epochs.join(", ")}]`,
      );
      // The tenant and the token come from node 0; the agent registers on the last node and is
      // found through every node.
      const tenant = await t.tenant();
      const agent = await tenant.agent("one-a", { node: nodes - 1 });
      for (let n = 0; n < nodes; n++) {
        const seen = await t.clientsWith(`Bearer ${agent.token}`, n).registry.getAgent({
          agentId: agent.id,
        });
        check(
          seen.agent?.id === agent.id,
          `node ${n} does not know the agent registered on node ${nodes - 1}`,
        );
      }
    },
  },
  {
    id: "cluster.cross-node-delivery",
    level: "MUST",
    profile: "cluster",
    description:
      "Messages sent through one node reach a recipient streaming from another, in send order",
    spec: "acb.v1.MessagingService.Receive",
    rules: ["cluster.cross-node-delivery"],
    requires: ["messaging"],
    async run(t) {
      const nodes = needNodes(t);
      const tenant = await t.tenant();
      // On every node a recipient, and a sender on the next node round the ring.
      for (let n = 0; n < nodes; n++) {
        const recipient = await tenant.agent(`xr-${n}`, { node: n });
        const sender = await tenant.agent(`xs-${n}`, { node: (n + 1) % nodes });
        const inbox = await Inbox.open(t, recipient);
        const count = 10;
        for (let i = 0; i < count; i++) {
          await sender.messaging.send({
            target: { case: "recipientId", value: recipient.id },
            kind: "cross",
            payload: text(String(i)),
          });
        }
        const got = await inbox.collect(
          count,
          `${count} messages sent through node ${(n + 1) % nodes} to a stream on node ${n}`,
        );
        const order = got.map((d) => decode(d.message?.payload?.data));
        check(
          order.every((v, i) => v === String(i)),
          `the recipient on node ${n} got them in the order [${order.join(", ")}]`,
        );
        check(
          got.every((d) => d.message?.senderId === sender.id),
          "a delivery names another sender",
        );
        inbox.close();
      }
    },
  },
  {
    id: "cluster.cross-node-subscription",
    level: "MUST",
    profile: "cluster",
    description:
      "A context created and updated through other nodes reaches a subscriber on this one",
    spec: "acb.v1.ContextService.SubscribeContexts",
    rules: ["cluster.cross-node-subscription"],
    requires: ["contexts"],
    async run(t) {
      const nodes = needNodes(t);
      const tenant = await t.tenant();
      const watcher = await tenant.agent("sub-w", { node: 0 });
      const writer = await tenant.agent("sub-1", { node: 1 });
      const updater = await tenant.agent("sub-2", { node: 2 % nodes });
      const changes = t.stream((signal) =>
        watcher.contexts.subscribeContexts({ types: ["board"] }, { signal }),
      );
      await changes.waitFor(
        (c) => c.kind === ContextKind.READY,
        "SubscribeContexts READY on node 0",
        t.settings.waitMs,
      );
      await writer.contexts.createContext({
        contextId: "board-1",
        type: "board",
        payload: text("v1"),
      });
      await updater.contexts.updateContext({
        contextId: "board-1",
        expectedRevision: 1n,
        payload: text("v2"),
      });
      const created = await changes.waitFor(
        (c) => c.kind === ContextKind.CREATED,
        "CREATED of a context written through node 1",
        t.settings.waitMs,
      );
      check(created.context?.id === "board-1", `CREATED names "${created.context?.id}"`);
      const updated = await changes.waitFor(
        (c) => c.kind === ContextKind.UPDATED,
        `UPDATED of that context, changed through node ${2 % nodes}`,
        t.settings.waitMs,
      );
      check(
        updated.context?.revision === 2n && decode(updated.context.payload?.data) === "v2",
        `UPDATED carries revision ${updated.context?.revision}`,
      );
    },
  },
  {
    id: "cluster.cross-node-meeting",
    level: "MUST",
    profile: "cluster",
    description:
      "One meeting across nodes: turns pass between participants on different nodes, and a turn timeout is applied once",
    spec: "acb.v1.CreateMeetingRequest.turn_timeout",
    rules: ["cluster.cross-node-meeting"],
    requires: ["meetings"],
    timeoutMs: 60_000,
    async run(t) {
      const nodes = needNodes(t);
      const tenant = await t.tenant();
      const a = await tenant.agent("mx-a", { node: 0 });
      const b = await tenant.agent("mx-b", { node: 1 });
      const { meeting } = await a.meetings.createMeeting({
        title: "across nodes",
        participantIds: [a.id, b.id],
        policy: MeetingTurnPolicy.ROUND_ROBIN,
        turnTimeout: duration(1_000),
      });
      if (!meeting) throw new Error("CreateMeeting returned no meeting");
      await a.meetings.joinMeeting({ meetingId: meeting.id });
      await b.meetings.joinMeeting({ meetingId: meeting.id });
      const started = await a.meetings.startMeeting({ meetingId: meeting.id });
      check(started.meeting?.turnHolderId === a.id, "the creator does not hold the first turn");
      // A speaks through node 0 and passes; B, on node 1, holds the turn and lets it time out.
      await a.meetings.speak({
        meetingId: meeting.id,
        content: text("from 0"),
        passTurnAfter: true,
      });
      const watch = t.stream((signal) =>
        b.meetings.watchMeeting({ meetingId: meeting.id, fromBeginning: true }, { signal }),
      );
      await watch.waitFor(
        (e) => e.kind === MeetingKind.TURN_TIMED_OUT && e.subjectId === b.id,
        "TURN_TIMED_OUT of the participant on node 1 after a 1 s turn timeout",
        1_000 + t.settings.waitMs,
      );
      await watch.waitFor(
        (e) => e.kind === MeetingKind.TURN_GRANTED && e.turnHolderId === a.id,
        "TURN_GRANTED back to the participant on node 0",
        t.settings.waitMs,
      );
      await a.meetings.endMeeting({ meetingId: meeting.id });
      // Every node replays the same events, with one timeout of B's turn.
      let first: string | undefined;
      for (let n = 0; n < nodes; n++) {
        const viewer = t.clientsWith(`Bearer ${(n % 2 === 0 ? a : b).token}`, n);
        const events: string[] = [];
        for await (const e of viewer.meetings.watchMeeting(
          { meetingId: meeting.id, fromBeginning: true },
          { signal: t.signal },
        )) {
          if (e.kind === MeetingKind.READY) continue;
          events.push(`${e.sequence}:${MeetingKind[e.kind]}:${e.turnNumber}`);
        }
        const timeouts = events.filter((e) => e.includes(":TURN_TIMED_OUT:"));
        check(
          timeouts.length === 1,
          `node ${n} shows ${timeouts.length} turn timeouts: [${timeouts.join(", ")}]`,
        );
        check(events.at(-1)?.includes(":ENDED:"), `node ${n}'s events end with ${events.at(-1)}`);
        first ??= events.join(",");
        check(
          events.join(",") === first,
          `node ${n} shows other events than node 0: [${events.join(", ")}]`,
        );
      }
    },
  },
  {
    id: "cluster.shared-quotas",
    level: "MUST",
    profile: "cluster",
    description:
      "A tenant's message quota counts sends through every node: past it, every node refuses",
    spec: "acb.v1.TenantQuotas.messages_per_month",
    rules: ["cluster.shared-quotas"],
    requires: ["messaging"],
    async run(t) {
      const nodes = needNodes(t);
      const base = await t.tenant();
      const tenantId = `${base.id}-q`;
      const limit = 2 * nodes;
      await t.admin.admin.createTenant({
        tenantId,
        tier: Tier.CUSTOM,
        quotas: { messagesPerMonth: BigInt(limit) },
      });
      t.defer(() => t.admin.admin.deleteTenant({ tenantId }));
      const issued = await t.admin.auth.issueToken({
        tenantId,
        agentId: "q-s",
        roles: [Role.AGENT_FULL],
      });
      const token = `Bearer ${issued.tokens?.accessToken ?? ""}`;
      const via = (n: number) => t.clientsWith(token, n);
      await via(0).registry.register({ agentId: "q-s", type: "conformance" });
      const send = (n: number) =>
        via(n).messaging.send({
          target: { case: "recipientId", value: "q-s" },
          kind: "count",
          payload: text("n"),
        });
      // The quota's sends, spread over the nodes; then each node refuses the next.
      for (let i = 0; i < limit; i++) await send(i % nodes);
      for (let n = 0; n < nodes; n++) {
        const err = await expectCode(
          send(n),
          Code.ResourceExhausted,
          `send ${limit + 1 + n} of a quota of ${limit}, through node ${n}`,
        );
        check(err.findDetails(RetryInfoSchema).length > 0, "the refusal carries no RetryInfo");
      }
    },
  },
];
