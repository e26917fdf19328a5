// ListContexts' filters: type, owner and metadata each narrow the list to exactly the contexts
// that match, ordered by id.

import { type ConformanceCase, check } from "../case.js";
import { text } from "../inbox.js";

export const contextListCases: ConformanceCase[] = [
  {
    id: "contexts.list-filters",
    level: "MUST",
    profile: "contexts",
    description:
      "ListContexts returns exactly the readable contexts matching type, owner_id and metadata, ordered by id",
    spec: "acb.v1.ListContextsRequest",
    rules: ["contexts.list-filters"],
    requires: ["contexts"],
    async run(t) {
      const tenant = await t.tenant();
      const a = await tenant.agent("lf-a");
      const b = await tenant.agent("lf-b");
      const made: { id: string; type: string; owner: string; team: string }[] = [
        { id: "lf-5", type: "plan", owner: a.id, team: "x" },
        { id: "lf-1", type: "note", owner: a.id, team: "y" },
        { id: "lf-4", type: "plan", owner: b.id, team: "y" },
        { id: "lf-2", type: "note", owner: b.id, team: "x" },
        { id: "lf-3", type: "plan", owner: a.id, team: "y" },
      ];
      for (const c of made) {
        await (c.owner === a.id ? a : b).contexts.createContext({
          contextId: c.id,
          type: c.type,
          metadata: { team: c.team, n: c.id },
          payload: text(c.id),
        });
      }
      for (const [filter, keep, what] of [
        [{ type: "plan" }, (c: (typeof made)[number]) => c.type === "plan", 'type "plan"'],
        [{ ownerId: b.id }, (c: (typeof made)[number]) => c.owner === b.id, `owner ${b.id}`],
        [{ metadata: { team: "y" } }, (c: (typeof made)[number]) => c.team === "y", "team y"],
        [
          { type: "plan", ownerId: a.id, metadata: { team: "y" } },
          (c: (typeof made)[number]) => c.type === "plan" && c.owner === a.id && c.team === "y",
          "all three",
        ],
        [{}, () => true, "no filter"],
      ] as const) {
        const got = (await a.contexts.listContexts({ ...filter })).contexts.map((c) => c.id);
        const want = made
          .filter(keep)
          .map((c) => c.id)
          .sort();
        check(
          got.join(",") === want.join(","),
          `ListContexts (${what}) lists [${got}], not [${want}]`,
        );
      }
    },
  },
];
