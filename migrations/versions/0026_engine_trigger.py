"""A cheaper balance trigger, and the period lock date kept on the journal head.

Revision ID: 0026_engine_trigger
Revises: 0025_crowd_totals
Create Date: 2026-12-07

1. The balance check (I1, PostgreSQL). 0001 refuses an unbalanced entry at
   COMMIT with two deferred row triggers: one call per entry
   (`journal_entries_balanced`) and one per posting (`postings_balanced`), each
   running three queries, so a two-leg entry paid for three full checks. Now:

   - `journal_entries_balanced` stays, one call per entry at COMMIT, and its
     check is one query;
   - `postings_balanced` is replaced by `postings_join_new_entries`, a
     statement-level trigger (one call per INSERT statement, however many rows)
     that refuses at once a posting added to an entry that was not written by
     the same (sub)transaction (the entry's and the posting's `xmin` differ):
     the entry's own check at COMMIT then covers every posting it can ever
     have. An entry may still be written leg by leg inside its transaction and
     is refused at COMMIT if it does not balance;
   - UPDATE and DELETE of postings are refused by the append-only triggers of
     0001; behind them, two statement-level triggers refuse a statement that
     leaves an entry unbalanced (at once: nothing legitimate updates postings).

2. `ledger_heads.locked_through`: the last day of the latest closed month,
   written by a close under the head lock. A writer reads it with the head it
   locks, so a writer that waited for a close's COMMIT sees the date the close
   wrote (PostgreSQL returns the locked row's newest version). Read from
   `periods` in the same statement, the date came from the statement's snapshot,
   taken before the wait, and an entry could be posted into the month just
   closed.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0026_engine_trigger"
down_revision = "0025_crowd_totals"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("ledger_heads", sa.Column("locked_through", sa.Date(), nullable=True))
    op.execute("UPDATE ledger_heads SET locked_through = (SELECT max(ends_on) FROM periods)")
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER postings_balanced ON postings")
    op.execute("""
        CREATE OR REPLACE FUNCTION ledger_assert_balanced(eid varchar) RETURNS void
        LANGUAGE plpgsql AS $$
        DECLARE
            n integer;
            bad text;
        BEGIN
            SELECT coalesce(sum(legs), 0),
                   string_agg(currency || ' ' || total::text, ', ') FILTER (WHERE total <> 0)
            INTO n, bad
            FROM (
                SELECT currency, sum(amount_minor) AS total, count(*) AS legs FROM postings
                WHERE entry_id = eid GROUP BY currency
            ) AS per_currency;
            IF n < 2 THEN
                IF NOT EXISTS (SELECT 1 FROM journal_entries WHERE id = eid) THEN
                    RETURN;  -- the entry itself is gone; its own guards apply
                END IF;
                RAISE EXCEPTION 'ledger: entry % has % postings; an entry needs two or more',
                    eid, n USING ERRCODE = 'check_violation';
            END IF;
            IF bad IS NOT NULL THEN
                RAISE EXCEPTION 'ledger: entry % does not balance (%)', eid, bad
                    USING ERRCODE = 'check_violation';
            END IF;
        END $$;
    """)
    op.execute("""
        CREATE FUNCTION ledger_postings_join_new_entries() RETURNS trigger
        LANGUAGE plpgsql AS $$
        DECLARE
            eid varchar;
        BEGIN
            SELECT n.entry_id INTO eid
            FROM new_postings AS n
            JOIN postings AS p ON p.id = n.id
            JOIN journal_entries AS e ON e.id = n.entry_id
            WHERE e.xmin <> p.xmin
            LIMIT 1;
            IF eid IS NOT NULL THEN
                RAISE EXCEPTION 'ledger: postings may only be added to an entry written in the '
                    'same transaction; entry % was written by another', eid
                    USING ERRCODE = 'check_violation';
            END IF;
            RETURN NULL;
        END $$;
    """)
    op.execute("""
        CREATE TRIGGER postings_join_new_entries
        AFTER INSERT ON postings
        REFERENCING NEW TABLE AS new_postings
        FOR EACH STATEMENT EXECUTE FUNCTION ledger_postings_join_new_entries();
    """)
    # Behind the append-only triggers, which refuse UPDATE and DELETE of postings
    # outright: if one of them is dropped, a statement that leaves an entry
    # unbalanced is still refused (at once; the row triggers of 0001 did it at COMMIT).
    for event, tables, entries in (
        ("UPDATE", "OLD TABLE AS old_postings NEW TABLE AS new_postings",
         "SELECT entry_id FROM old_postings UNION SELECT entry_id FROM new_postings"),
        ("DELETE", "OLD TABLE AS old_postings", "SELECT DISTINCT entry_id FROM old_postings"),
    ):  # fmt: skip
        name = event.lower()
        op.execute(f"""
            CREATE FUNCTION ledger_postings_stay_balanced_on_{name}() RETURNS trigger
            LANGUAGE plpgsql AS $$
            DECLARE
                eid varchar;
            BEGIN
                FOR eid IN {entries} LOOP
                    PERFORM ledger_assert_balanced(eid);
                END LOOP;
                RETURN NULL;
            END $$;
        """)
        op.execute(f"""
            CREATE TRIGGER postings_stay_balanced_on_{name}
            AFTER {event} ON postings
            REFERENCING {tables}
            FOR EACH STATEMENT EXECUTE FUNCTION ledger_postings_stay_balanced_on_{name}();
        """)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name in ("join_new_entries", "stay_balanced_on_update", "stay_balanced_on_delete"):
            op.execute(f"DROP TRIGGER postings_{name} ON postings")
            op.execute(f"DROP FUNCTION ledger_postings_{name}()")
        op.execute("""
            CREATE OR REPLACE FUNCTION ledger_assert_balanced(eid varchar) RETURNS void
            LANGUAGE plpgsql AS $$
            DECLARE
                n integer;
                bad text;
            BEGIN
                IF NOT EXISTS (SELECT 1 FROM journal_entries WHERE id = eid) THEN
                    RETURN;  -- the entry itself is gone; its own guards apply
                END IF;
                SELECT count(*) INTO n FROM postings WHERE entry_id = eid;
                IF n < 2 THEN
                    RAISE EXCEPTION 'ledger: entry % has % postings; an entry needs two or more',
                        eid, n USING ERRCODE = 'check_violation';
                END IF;
                SELECT string_agg(currency || ' ' || total::text, ', ') INTO bad FROM (
                    SELECT currency, sum(amount_minor) AS total FROM postings
                    WHERE entry_id = eid GROUP BY currency HAVING sum(amount_minor) <> 0
                ) AS off;
                IF bad IS NOT NULL THEN
                    RAISE EXCEPTION 'ledger: entry % does not balance (%)', eid, bad
                        USING ERRCODE = 'check_violation';
                END IF;
            END $$;
        """)
        op.execute("""
            CREATE CONSTRAINT TRIGGER postings_balanced
            AFTER INSERT OR UPDATE OR DELETE ON postings
            DEFERRABLE INITIALLY DEFERRED
            FOR EACH ROW EXECUTE FUNCTION ledger_check_posting();
        """)
    with op.batch_alter_table("ledger_heads") as batch:
        batch.drop_column("locked_through")
