"""The clinic schema shared by the `api` and `db` targets: clients and their appointments.

Clients are soft-deleted (`deleted_at`), and `Appointment.client` follows live clients only, with
SQLAlchemy's default lazy loading. Because of that extra criterion the session's identity map
cannot answer the lazy load (it can only for a plain foreign key to primary key join), so touching
`appointment.client` emits one SELECT per appointment, even for a client already loaded: the N+1
of the `api` calendar and the `db` agenda, one statement per appointment listed. (A soft-delete
filter on a relationship is common; so is being surprised by what it does to lazy loading.)

The date-range index on `appointments.starts_at` is part of the schema; the `db` target drops it
for its unindexed variant.

`make_engine` gives every database URL a synchronous engine. An in-memory SQLite database exists
once per connection, so it is kept on a single shared connection (`StaticPool`) that any thread
may use (`check_same_thread=False`): setup seeds it, the body and `profwork serve` read it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Engine, ForeignKey, Index, String, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.pool import StaticPool


class Base(DeclarativeBase):
    pass


class Client(Base):
    __tablename__ = "clients"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    email: Mapped[str] = mapped_column(String(120))
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime, default=None)  # soft delete

    appointments: Mapped[list[Appointment]] = relationship(
        back_populates="client", order_by="Appointment.starts_at"
    )


class Appointment(Base):
    __tablename__ = "appointments"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"), index=True)
    room: Mapped[str] = mapped_column(String(20))
    starts_at: Mapped[datetime] = mapped_column(DateTime)
    ends_at: Mapped[datetime] = mapped_column(DateTime)
    service: Mapped[str] = mapped_column(String(40))

    # Only live clients: the soft-delete criterion makes this join something the session's
    # identity map cannot answer, so each lazy load is a SELECT, even for a client already loaded.
    client: Mapped[Client | None] = relationship(
        primaryjoin="and_(Appointment.client_id == Client.id, Client.deleted_at.is_(None))",
        back_populates="appointments",
    )  # lazy="select"


STARTS_AT_INDEX = Index("ix_appointments_starts_at", Appointment.starts_at)


def make_engine(db_url: str = "sqlite://") -> Engine:
    """A synchronous engine for `db_url`; in-memory SQLite on one shared connection."""
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        return create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
    return create_engine(url)


def create_schema(engine: Engine) -> None:
    """A fresh schema: whatever a previous run left in the database is dropped first."""
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
