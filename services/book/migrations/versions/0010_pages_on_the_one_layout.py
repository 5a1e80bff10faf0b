"""artifacts: the stored HTML pages go, to be rendered again on the one layout of every page

The honour rolls and press releases stored before the book's pages took the layout and stylesheet
shared by the three services were made with the book's own template. Without them, each is
rendered on its next request from what the book holds and kept again (as after an inscription,
until the worker republishes), on the new layout. Feeds, figures and PDFs are untouched.

Revision ID: 0010_pages_on_the_one_layout
Revises: 0009_books_closed_at
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_pages_on_the_one_layout"
down_revision = "0009_books_closed_at"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(sa.text("DELETE FROM artifacts WHERE content_type LIKE 'text/html%'"))


def downgrade() -> None:
    # Nothing to put back: the pages are rendered on request from the entries, which are untouched.
    pass
