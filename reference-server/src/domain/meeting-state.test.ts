import { readFileSync } from "node:fs";
import { MeetingState } from "@acb/gen/acb/v1/meetings_pb";
import { ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { type MeetingTrigger, meetingTransitions, stateName, transition } from "./meeting-state.js";

const docs = readFileSync(new URL("../../../docs/meetings.md", import.meta.url), "utf8");

/** The edges of the first mermaid stateDiagram in docs/meetings.md, as "from --> to : trigger". */
function diagramEdges(): string[] {
  const block = /```mermaid\n(stateDiagram-v2\n[\s\S]*?)```/.exec(docs)?.[1];
  if (!block) throw new Error("docs/meetings.md has no mermaid stateDiagram-v2 block");
  return block
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line.includes("-->"))
    .map((line) => {
      const m = /^(\S+)\s*-->\s*(\S+)\s*(?::\s*(\S+))?$/.exec(line);
      if (!m) throw new Error(`cannot read diagram line "${line}"`);
      return m[3] ? `${m[1]} --> ${m[2]} : ${m[3]}` : `${m[1]} --> ${m[2]}`;
    });
}

const tableEdges = () =>
  meetingTransitions.map((t) =>
    t.trigger ? `${t.from} --> ${t.to} : ${t.trigger}` : `${t.from} --> ${t.to}`,
  );

const states = [
  MeetingState.SCHEDULED,
  MeetingState.ACTIVE,
  MeetingState.ENDED,
  MeetingState.CANCELLED,
];
const triggers = ["StartMeeting", "EndMeeting", "CancelMeeting", "MaxDuration"] as const;

describe("meeting lifecycle", () => {
  it("has exactly the transitions the docs diagram shows", () => {
    expect(diagramEdges().sort()).toEqual(tableEdges().sort());
  });

  it("names every state of the protocol in the diagram", () => {
    const edges = diagramEdges().join("\n");
    for (const s of states) expect(edges).toContain(stateName(s));
  });

  // Every (state, trigger) pair: a listed edge moves, a repeat on the target state is a no-op
  // (safe retries), anything else is INVALID_MEETING_STATE naming the current state.
  for (const state of states) {
    for (const trigger of triggers) {
      it(`${trigger} on ${stateName(state)}`, () => {
        const edge = meetingTransitions.find(
          (t) => t.from === stateName(state) && t.trigger === trigger,
        );
        const retry =
          trigger !== "MaxDuration" &&
          meetingTransitions.some(
            (t) => t.trigger === (trigger as MeetingTrigger) && t.to === stateName(state),
          );
        if (edge) {
          const r = transition("m", state, trigger);
          expect(r.changed).toBe(true);
          expect(stateName(r.to)).toBe(edge.to);
        } else if (retry) {
          expect(transition("m", state, trigger)).toEqual({ to: state, changed: false });
        } else {
          let caught: unknown;
          try {
            transition("m", state, trigger);
          } catch (err) {
            caught = err;
          }
          const e = ConnectError.from(caught);
          expect(e.message).toContain(`is ${stateName(state)}`);
          expect(e.code).toBe(9); // FAILED_PRECONDITION
        }
      });
    }
  }

  it("allows the documented moves and refuses the rest", () => {
    // Spelled out once, independently of the table, so a wrong table edit fails here too.
    expect(transition("m", MeetingState.SCHEDULED, "StartMeeting").to).toBe(MeetingState.ACTIVE);
    expect(transition("m", MeetingState.ACTIVE, "CancelMeeting").to).toBe(MeetingState.CANCELLED);
    expect(transition("m", MeetingState.ENDED, "EndMeeting").changed).toBe(false);
    expect(() => transition("m", MeetingState.SCHEDULED, "EndMeeting")).toThrow(/SCHEDULED/);
    expect(() => transition("m", MeetingState.ENDED, "CancelMeeting")).toThrow(/ENDED/);
    expect(() => transition("m", MeetingState.CANCELLED, "StartMeeting")).toThrow(/CANCELLED/);
    expect(() => transition("m", MeetingState.SCHEDULED, "MaxDuration")).toThrow();
  });
});
