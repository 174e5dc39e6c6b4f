"""phone notes outlive the address they are filed under

Revision ID: calls_notes_outlive
Revises: auth_sessions
Create Date: 2026-12-01 10:00:00

Deleting an address deleted every phone note filed under it (ON DELETE CASCADE),
also other users' notes. Now the link is set NULL and `filed_under` keeps the
name as text; existing notes get it filled from what they are filed under.
"""
from alembic import op
import sqlalchemy as sa


revision = 'calls_notes_outlive'
down_revision = "auth_sessions"
branch_labels = None
depends_on = None

FK = 'fk_phone_note_address_id_address'


def upgrade():
    with op.batch_alter_table('phone_note', schema=None) as batch_op:
        batch_op.add_column(sa.Column('filed_under', sa.String(length=250), nullable=False, server_default=''))
        batch_op.drop_constraint(FK, type_='foreignkey')
        batch_op.create_foreign_key(FK, 'address', ['address_id'], ['id'], ondelete='SET NULL')
    op.execute(
        "UPDATE phone_note SET filed_under = COALESCE("
        "(SELECT contact_person.name FROM contact_person WHERE contact_person.id = phone_note.contact_person_id), "
        "(SELECT address.name FROM address WHERE address.id = phone_note.address_id), "
        "(SELECT phonebook_entry.display_name FROM phonebook_entry "
        "WHERE phonebook_entry.id = phone_note.phonebook_entry_id), '')"
    )


def downgrade():
    # Notes whose address is gone cannot point to it again; they stay, unfiled.
    with op.batch_alter_table('phone_note', schema=None) as batch_op:
        batch_op.drop_constraint(FK, type_='foreignkey')
        batch_op.create_foreign_key(FK, 'address', ['address_id'], ['id'], ondelete='CASCADE')
        batch_op.drop_column('filed_under')
