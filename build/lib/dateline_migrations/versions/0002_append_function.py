"""One round trip per append: a function that moves the streams and inserts the events.

Revision ID: 0002
Revises: 0001
"""

from service.migrations import execute

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# An append used to take a transaction of five statements; each round trip costs more than
# the work it carries. This function does the whole write in one call and one implicit
# transaction. It raises SQLSTATE DL001 (with the stream and its version in DETAIL) when a
# stream is not at the expected version or an entity is already registered; the caller maps
# that to a 409.
UPGRADE = [
    """
    create function append_events(
        change_streams text[], change_counts int[], change_expected int[], change_kinds text[],
        change_merges text[],
        event_ids uuid[], event_streams text[], event_nths int[], event_types text[],
        event_schema_versions smallint[], event_data text[], event_metadata text[], event_occurred text[],
        batch_metadata jsonb
    ) returns table (id uuid, stream text, version int, "position" bigint, recorded_at timestamptz)
    language plpgsql as $$
    declare
        i int;
        moved_to int;
        first_versions int[] := '{}';
    begin
        -- An event's metadata is batch_metadata (parsed once) unless event_metadata has its own.
        -- event_nths says where each event falls among the batch's events of its stream, so its
        -- version is the stream's first new version plus that.
        -- Streams come sorted by name, so concurrent appends lock them in the same order.
        for i in 1 .. coalesce(array_length(change_streams, 1), 0) loop
            if change_kinds[i] is not null then
                insert into streams as s (stream, version, kind)
                values (change_streams[i], change_counts[i], change_kinds[i])
                on conflict on constraint streams_pkey do nothing
                returning s.version into moved_to;
                if moved_to is null then
                    raise exception 'entity % is already registered', change_streams[i]
                        using errcode = 'DL001', detail = change_streams[i];
                end if;
            else
                update streams as s
                set version = s.version + change_counts[i],
                    merged_into = coalesce(change_merges[i], s.merged_into)
                where s.stream = change_streams[i]
                  and (change_expected[i] is null or s.version = change_expected[i])
                  and (change_merges[i] is null or s.merged_into is null)
                returning s.version into moved_to;
                if moved_to is null then
                    raise exception 'stream % moved', change_streams[i]
                        using errcode = 'DL001', detail = change_streams[i];
                end if;
            end if;
            first_versions := first_versions || (moved_to - change_counts[i] + 1);
        end loop;

        return query
        insert into events as e (id, stream, version, type, schema_version, data, metadata, occurred)
        select coalesce(n.id, gen_random_uuid()), n.stream, f.first_version + n.nth,
               n.type, n.schema_version, n.data::jsonb, coalesce(n.metadata::jsonb, batch_metadata), n.occurred
        from unnest(event_ids, event_streams, event_nths, event_types, event_schema_versions, event_data,
                    event_metadata, event_occurred)
             with ordinality as n (id, stream, nth, type, schema_version, data, metadata, occurred, ord)
        join unnest(change_streams, first_versions) as f (stream, first_version) on f.stream = n.stream
        order by n.ord
        -- Positions are drawn in the batch's order, so sorting by position gives it back.
        returning e.id, e.stream, e.version, e.position, e.recorded_at;
    end
    $$
    """,
]
DOWNGRADE = [
    """
    drop function append_events(text[], int[], int[], text[], text[], uuid[], text[], int[], text[],
                                smallint[], text[], text[], text[], jsonb)
    """,
]


def upgrade() -> None:
    execute(UPGRADE)


def downgrade() -> None:
    execute(DOWNGRADE)
