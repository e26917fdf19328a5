// The Deno entry point (`@acb/sdk/deno`): Deno's fetch speaks HTTP/1.1 and HTTP/2 and streams
// responses, so the fetch client is the right one; this module exists so that choosing a runtime
// is one import and a Deno-specific transport can replace it later without changing applications.
export * from "./web.js";
