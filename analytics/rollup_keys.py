"""How rollup rows are keyed by tenant, for the hourly and the usage rollups alike.

Each conversation counts in its tenant's rows and in the rows of every tenant (tenant NULL), which a
reader of all tenants reads: summing ten tenants' rows instead would make the most common view ten
times slower. A reader of some tenants sums those tenants' rows.
"""

from __future__ import annotations

# In a rollup's source rows: one row for the conversation's tenant, one for every tenant.
TENANT_SCOPES_SQL = "CROSS JOIN LATERAL (VALUES (conversations.tenant), (NULL::text)) AS tenant_scope(tenant)"

# The rollup rows a query reads for %(tenants)s (NULL: every tenant; an array: those tenants).
ROLLUP_TENANT_WHERE = "((%(tenants)s::text[] IS NULL AND tenant IS NULL) OR tenant = ANY(%(tenants)s::text[]))"


def same_key(left: str, right: str, columns: tuple[str, ...]) -> str:
    """SQL joining two rows of rollup keys: equal ``columns`` and the same tenant, NULL (every tenant) included."""
    equal = " AND ".join(f"{left}.{name} = {right}.{name}" for name in columns)
    return f"{equal} AND {left}.tenant IS NOT DISTINCT FROM {right}.tenant"
