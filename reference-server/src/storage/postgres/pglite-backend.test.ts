import { backendTestSuite } from "../backend-test-suite.js";
import { createPgliteBackend } from "./postgres-backend.js";

// PGlite in memory: the same schema and SQL as the PostgreSQL backend, in process.
backendTestSuite("pglite backend", () => createPgliteBackend({ pollIntervalMs: 200 }));
