// The hub's web console: a page on the SDK's browser entry that shows a tenant's agents and their
// presence, message counts and rate, meetings in progress with the current speaker, contexts and
// dead letters. It polls the hub (every second; `?refresh=MS` changes it) with the credential
// pasted at login, which stays in sessionStorage (gone when the tab closes).

import { type AcbClient, AcbError, createClient } from "@acb/sdk/web";

const TOKEN_KEY = "acb-console-token";
const $ = <T extends HTMLElement = HTMLElement>(sel: string) => document.querySelector(sel) as T;
const refreshMs = Math.max(
  200,
  Number(new URLSearchParams(location.search).get("refresh")) || 1000,
);

/** Replaces a table body's rows with text cells (textContent: nothing from the hub is markup). */
function rows(tbody: HTMLElement, data: (string | number)[][], classes: string[][] = []): void {
  tbody.replaceChildren(
    ...data.map((cells, r) => {
      const tr = document.createElement("tr");
      for (const [i, cell] of cells.entries()) {
        const td = document.createElement("td");
        td.textContent = String(cell);
        const cls = classes[r]?.[i];
        if (cls) td.className = cls;
        tr.append(td);
      }
      return tr;
    }),
  );
}

const timeOf = (d: Date | undefined) => (d ? d.toLocaleTimeString() : "");

async function refresh(client: AcbClient, tenantId: string, last: { count: number; at: number }) {
  const now = Date.now();
  const [agents, usage, meetings, contexts, deadLetters] = await Promise.all([
    client.discover(),
    client.services.admin.getUsage({
      tenantId,
      start: { seconds: BigInt(Math.floor(now / 1000) - 86_400), nanos: 0 },
      end: { seconds: BigInt(Math.ceil(now / 1000) + 60), nanos: 0 },
    }),
    (async () => {
      const out = [];
      for await (const m of client.meetings.list({ state: "active" })) out.push(m);
      return out;
    })(),
    (async () => {
      const out = [];
      for await (const c of client.listContexts({ pageSize: 100 })) {
        out.push(c);
        if (out.length >= 100) break;
      }
      return out;
    })(),
    client.services.messaging.listDeadLetters({ agentId: "*", omitPayloads: true, pageSize: 100 }),
  ]);
  const online = agents.filter((a) => a.status === "online").length;
  $("[data-testid=agents-online]").textContent = `${online} online of ${agents.length}`;
  rows(
    $("#agents"),
    agents.map((a) => [a.id, a.type, a.status, timeOf(a.lastSeen)]),
    agents.map((a) => ["", "", a.status]),
  );
  const count = Number(usage.total?.messages ?? 0n);
  const rate = last.at > 0 ? ((count - last.count) * 1000) / (now - last.at) : 0;
  last.count = count;
  last.at = now;
  $("[data-testid=message-count]").textContent = String(count);
  $("[data-testid=message-rate]").textContent = Math.max(0, rate).toFixed(1);
  rows(
    $("#meetings"),
    meetings.map((m) => [
      m.title || m.id,
      m.turnNumber,
      m.turnHolderId || "(nobody)",
      m.participants.map((p) => p.agentId).join(", "),
    ]),
  );
  for (const [i, m] of meetings.entries()) {
    const cell = $("#meetings").children[i]?.children[2];
    if (cell) cell.setAttribute("data-testid", `speaker-${m.id}`);
  }
  $("[data-testid=context-count]").textContent = String(contexts.length);
  rows(
    $("#contexts"),
    contexts.map((c) => [c.id, c.type, c.ownerId, c.revision, c.size]),
  );
  const dls = deadLetters.deadLetters;
  $("[data-testid=dead-letter-count]").textContent = String(dls.length);
  rows(
    $("#dead-letters"),
    dls.map((d) => [d.id, d.agentId, d.message?.kind ?? "", d.attempts, d.lastError]),
  );
}

async function start(token: string): Promise<void> {
  const client = createClient({ baseUrl: location.origin, token });
  // Who the credential is: the console shows that agent's tenant.
  const me = await client.services.auth.whoAmI({});
  if (me.tenantId === "*")
    throw new Error(
      "a platform-admin token sees no tenant: paste a token issued in the tenant to watch",
    );
  sessionStorage.setItem(TOKEN_KEY, token);
  $("#login").hidden = true;
  $("#dashboard").hidden = false;
  $("#logout").hidden = false;
  $("#hub").textContent = `${location.host} · tenant ${me.tenantId} · as ${me.agentId}`;
  client.on("state", (s) => {
    $("#state").textContent = s;
  });
  $("#state").textContent = client.state;
  const last = { count: 0, at: 0 };
  const tick = async () => {
    try {
      await refresh(client, me.tenantId, last);
      $("#error").textContent = "";
    } catch (err) {
      $("#error").textContent = AcbError.from(err).message;
    }
    setTimeout(tick, refreshMs);
  };
  await tick();
}

function showLogin(message = ""): void {
  $("#dashboard").hidden = true;
  $("#logout").hidden = true;
  $("#login").hidden = false;
  $("#login-error").textContent = message;
}

$("#login").addEventListener("submit", (e) => {
  e.preventDefault();
  const token = $<HTMLTextAreaElement>("#token").value.trim();
  start(token).catch((err: unknown) => showLogin(AcbError.from(err).message));
});
$("#logout").addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN_KEY);
  location.reload();
});

const saved = sessionStorage.getItem(TOKEN_KEY);
if (saved) start(saved).catch((err: unknown) => showLogin(AcbError.from(err).message));
else showLogin();
