// The package's default entry point (`@acb/sdk`): the fetch client of `@acb/sdk/web`, which runs in
// browsers, Deno, Bun and Node alike. Node applications may prefer `@acb/sdk/node` (HTTP/2).
export * from "./web.js";
