"""Initial schema: items (cached, with a NOTIFY trigger and a pgvector column) and jobs.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    op.execute(
        """
        CREATE TABLE items (
            key        text PRIMARY KEY,
            value      text NOT NULL,
            embedding  vector(3),
            updated_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    # Every change to a row, from any client, tells the listener which key to drop.
    op.execute(
        """
        CREATE FUNCTION items_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'UPDATE' THEN
                NEW.updated_at := now();
            END IF;
            PERFORM pg_notify('item_changed', OLD.key);
            RETURN COALESCE(NEW, OLD);
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER items_changed BEFORE UPDATE OR DELETE ON items FOR EACH ROW EXECUTE FUNCTION items_notify()"
    )
    op.execute(
        """
        CREATE TABLE jobs (
            id          uuid PRIMARY KEY,
            status      text NOT NULL CHECK (status IN ('queued', 'running', 'done')),
            payload     jsonb NOT NULL,
            result      jsonb,
            attempts    integer NOT NULL DEFAULT 0,
            completions integer NOT NULL DEFAULT 0,
            created_at  timestamptz NOT NULL DEFAULT now(),
            finished_at timestamptz
        )
        """
    )
    op.execute(
        "INSERT INTO items (key, value, embedding) VALUES ('hello', 'world', '[1,0,0]'), ('answer', '42', '[0,1,0]')"
    )


def downgrade() -> None:
    op.execute("DROP TABLE jobs")
    op.execute("DROP TRIGGER items_changed ON items")
    op.execute("DROP FUNCTION items_notify()")
    op.execute("DROP TABLE items")
