"""Search at national scale: the radius box answered inside one index; capacity kept lean.

1. `ix_capacity_search` gains the longitude: (listed, category, latitude, longitude). A
   radius search's bounding box is then answered inside the index — the latitude as the
   range, the longitude checked on the index entries — so only rows inside the box are
   read from the table, not every row of the category in the same band of latitude
   across the country. Searches without a category ask for every category, so the same
   index is read as a few ranges (PostgreSQL has no skip scan before 18). Both databases.

   Why not a nearest-neighbour index. Search ranks by a blend of free units, freshness,
   distance and the receiver's response time, stale last; an index that returns rows in
   order of distance (a GiST index on a built-in `point`, `cube`/`earthdistance`, or
   PostGIS, which this deployment does not have) can stop early only when the rows not
   yet read provably score below the twentieth. Measured on the 50,000-service bench
   directory, that proof holds for two of six typical queries and only after 105-176 of
   their 550-650 candidates; the others need every candidate anyway. A plain GiST index
   on the point for the box (`point <@ box`, no extension) was slower than this btree
   for every query that names a category (PostgreSQL estimates any box at 0.1 % of the
   table, so it chose the GiST index and then read 11,000 rows for 700 candidates):
   mean backend CPU 4.1 ms against 2.2 ms here, 3.0 ms before. Figures: docs/deploy.md.

2. `ix_capacity_stale_at` goes. Every capacity update moves `stale_at`; while it was
   indexed no such update could be a HOT update (a new row version in the same page, no
   new index entries), so every update of the numbers wrote into every index of the
   table. The stale reminder (every 15 minutes) reads the table instead; it already read
   the whole service table for its join, so at 50,000 services the sweep went from about
   90 to 140-160 ms on a busy 2-core machine.

3. PostgreSQL only: `capacity` is written with room to spare (fillfactor 70), so the new
   version of a row fits in its own page and the update is HOT, and it is vacuumed early
   (once 1,000 rows plus 1 % of the table have changed, without cost delay). Holds and
   releases change only `available` and `held`, which no index holds. Existing pages keep
   their old fill until rewritten (`VACUUM FULL capacity`, see docs/deploy.md).

Revision ID: 5c3e9b7a2f14
Revises: da6a2543ce39
Create Date: 2026-12-07 20:10:00
"""

from alembic import op

revision = "5c3e9b7a2f14"
down_revision = "da6a2543ce39"
branch_labels = None
depends_on = None

LEAN = {
    "fillfactor": "70",
    "autovacuum_vacuum_scale_factor": "0.01",
    "autovacuum_vacuum_threshold": "1000",
    "autovacuum_analyze_scale_factor": "0.05",
    "autovacuum_vacuum_cost_delay": "0",
}


def _postgresql() -> bool:
    return bool(op.get_bind().dialect.name == "postgresql")


def upgrade() -> None:
    op.drop_index("ix_capacity_search", table_name="capacity")
    op.create_index(
        "ix_capacity_search", "capacity", ["listed", "category", "search_lat", "search_lon"]
    )
    op.drop_index("ix_capacity_stale_at", table_name="capacity")
    if _postgresql():
        settings = ", ".join(f"{name} = {value}" for name, value in LEAN.items())
        op.execute(f"ALTER TABLE capacity SET ({settings})")


def downgrade() -> None:
    if _postgresql():
        op.execute(f"ALTER TABLE capacity RESET ({', '.join(LEAN)})")
    op.create_index("ix_capacity_stale_at", "capacity", ["stale_at"])
    op.drop_index("ix_capacity_search", table_name="capacity")
    op.create_index("ix_capacity_search", "capacity", ["listed", "category", "search_lat"])
