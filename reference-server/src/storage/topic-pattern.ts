/**
 * NATS-style topic matching: topics are dot-separated segments; in a pattern `*` matches exactly
 * one segment and `>` (only as the last segment) matches one or more trailing segments.
 */
export function topicMatches(pattern: string, topic: string): boolean {
  if (pattern === topic) return true;
  const p = pattern.split(".");
  const t = topic.split(".");
  for (let i = 0; i < p.length; i++) {
    const seg = p[i];
    if (seg === ">") return t.length > i;
    if (i >= t.length) return false;
    if (seg !== "*" && seg !== t[i]) return false;
  }
  return p.length === t.length;
}
