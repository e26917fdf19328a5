// The Bun entry point (`@acb/sdk/bun`): Bun implements fetch natively, so it uses the fetch client;
// this module exists so that choosing a runtime is one import and a Bun-specific transport can
// replace it later without changing applications.
export * from "./web.js";
