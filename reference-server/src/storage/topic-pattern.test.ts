import { describe, expect, it } from "vitest";
import { topicMatches } from "./topic-pattern.js";

describe("topicMatches", () => {
  it.each([
    ["orders.eu.created", "orders.eu.created", true],
    ["orders.*.created", "orders.eu.created", true],
    ["orders.*.created", "orders.eu.x.created", false],
    ["orders.*", "orders", false],
    ["orders.>", "orders.eu", true],
    ["orders.>", "orders.eu.created", true],
    ["orders.>", "orders", false],
    [">", "anything.at.all", true],
    ["*", "one", true],
    ["*", "one.two", false],
    ["orders.eu", "orders.eu.created", false],
    ["orders.eu.created", "orders.eu", false],
  ])("%s matches %s: %s", (pattern, topic, expected) => {
    expect(topicMatches(pattern, topic)).toBe(expected);
  });
});
