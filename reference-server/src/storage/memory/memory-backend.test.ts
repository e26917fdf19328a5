import { backendTestSuite } from "../backend-test-suite.js";
import { createMemoryBackend } from "./memory-backend.js";

backendTestSuite("memory backend", () => createMemoryBackend());

// A small retention, so the suite can check that old events are trimmed.
backendTestSuite(
  "memory backend with retainEvents 8",
  () => createMemoryBackend({ events: { retainEvents: 8 } }),
  { retainEvents: 8 },
);
