"""broker_accounts.rabbitmq_hash: RabbitMQ's hash of each broker account's password

Beside mosquitto's ``$7$`` hash, the salted SHA-256 that a RabbitMQ definitions file carries
(``sitewatch server broker-files --rabbitmq FILE``); neither can be made from the other, so
both are written when a password is set. Rows already here get NULL: an edge needs
``add-edge SITE --rotate``, the console's row is filled by the next ``broker-files`` with
SITEWATCH_MQTT_PASSWORD set.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 05:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("broker_accounts") as batch:
        batch.add_column(sa.Column("rabbitmq_hash", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("broker_accounts") as batch:
        batch.drop_column("rabbitmq_hash")
