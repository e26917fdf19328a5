import {
  MeetingParticipantStatus,
  MeetingState,
  MeetingTurnPolicy,
} from "@acb/gen/acb/v1/meetings_pb";
import { type Identity, isAdmin } from "../auth/identity.js";
import { Code, hubError } from "../errors.js";
import type { MeetingDraft } from "./meeting-draft.js";
import { invalidState } from "./meeting-state.js";

// The refusals the meeting RPCs share, with the ErrorInfo reasons meetings.proto documents.

export const statusName = (s: MeetingParticipantStatus) =>
  `MEETING_PARTICIPANT_STATUS_${MeetingParticipantStatus[s]}`;

export function participantOf(d: MeetingDraft, identity: Identity) {
  const me = d.participant(identity.agentId);
  if (!me) {
    // Only admins see meetings they are not in; they may organise them but not take part.
    throw hubError(
      Code.PermissionDenied,
      // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
      `"${identity.agentId}" is not a participant of meeting "${d.m.id}"`,
    );
  }
  return me;
}

export function checkJoinedActive(d: MeetingDraft, identity: Identity, wanted: string): string {
  const me = participantOf(d, identity);
  if (d.m.state !== MeetingState.ACTIVE) throw invalidState(d.m.id, d.m.state, wanted);
  if (me.status !== MeetingParticipantStatus.JOINED) {
    throw hubError(
      Code.FailedPrecondition,
      // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
      `agent "${me.agentId}" has not joined meeting "${d.m.id}"`,
      { reason: "NOT_JOINED", metadata: { status: statusName(me.status) } },
    );
  }
  return me.agentId;
}

export function checkHolder(
  d: MeetingDraft,
  identity: Identity,
  turn: number,
  wanted: string,
): string {
  const me = checkJoinedActive(d, identity, wanted);
  const { turnHolderId, turnNumber } = d.m;
  if (turnHolderId !== me) {
    // Stryker disable next-line all: a part of the message text (the holder is in the metadata)
    const who = turnHolderId === "" ? "nobody does" : `"${turnHolderId}" does`;
    throw hubError(
      Code.FailedPrecondition,
      // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
      `agent "${me}" does not hold the turn in meeting "${d.m.id}"; ${who} (turn ${turnNumber})`,
      {
        reason: "NOT_TURN_HOLDER",
        metadata: { turn_holder_id: turnHolderId, turn_number: String(turnNumber) },
      },
    );
  }
  if (turn !== 0 && turn !== turnNumber) {
    throw hubError(
      Code.FailedPrecondition,
      // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
      `turn ${turn} of meeting "${d.m.id}" is over; the current turn is ${turnNumber}`,
      { reason: "TURN_MISMATCH", metadata: { turn_number: String(turnNumber) } },
    );
  }
  return me;
}

export function checkOrganiser(d: MeetingDraft, identity: Identity, action: string): void {
  const id = identity.agentId;
  if (id !== d.m.creatorId && id !== d.m.moderatorId && !isAdmin(identity)) {
    throw hubError(
      Code.PermissionDenied,
      // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
      `only the creator, the moderator or an admin may ${action} meeting "${d.m.id}"`,
    );
  }
}

export function policyError(d: MeetingDraft, rpc: string) {
  const policy = `MEETING_TURN_POLICY_${MeetingTurnPolicy[d.m.policy]}`;
  return hubError(
    Code.FailedPrecondition,
    // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
    `${rpc} does not apply to meeting "${d.m.id}", whose turn policy is ${policy}`,
    { reason: "TURN_POLICY", metadata: { policy } },
  );
}

/** The actor of an organiser's event: its agent id, or "admin:<subject>" for a non-participant admin. */
export function actorOf(d: MeetingDraft, identity: Identity): string {
  // Only participants and admins see a meeting, so a caller who is not a participant is an admin.
  return d.participant(identity.agentId) ? identity.agentId : `admin:${identity.agentId}`;
}
