import Foundation
import Postgres
import ProvisionConfig

/// The cron schedules of the sources, as rows of `source_schedules` (DESIGN §2).
///
/// Each row holds a source's next slot. Whichever daemon finds the slot due moves it on and
/// queues the import in one transaction, under the row's lock, so each slot becomes one
/// job however many daemons share the database. Slots missed while every daemon was down
/// are caught up with one import, not one per missed slot.
public enum SourceSchedules {
    /// A slot that was queued.
    public struct QueuedSlot: Sendable, Equatable {
        /// The source whose import was queued.
        public let source: String
        /// The cron slot it was queued for.
        public let slot: Date
        /// Nil when an import of the source was already waiting, which serves the slot.
        public let jobID: Int64?
    }

    /// Makes the rows agree with `sources`: adds new schedules, restarts changed ones from
    /// `now`, and removes those no longer configured.
    public static func synchronise(
        _ db: PostgresConnection, sources: [Configuration.Source], timeZone: TimeZone, now: Date = Date()
    ) async throws {
        let scheduled = sources.compactMap { source in source.schedule.map { (source.name, $0) } }
        try await db.transaction { db in
            for (name, schedule) in scheduled {
                guard let next = schedule.nextFire(after: now, in: timeZone) else { continue }
                try db.execute(
                    """
                    INSERT INTO source_schedules (source, schedule, time_zone, next_slot)
                    VALUES ($1, $2, $3, to_timestamp($4::float8))
                    ON CONFLICT (source) DO UPDATE
                       SET schedule = EXCLUDED.schedule, time_zone = EXCLUDED.time_zone,
                           next_slot = EXCLUDED.next_slot, updated_at = now()
                     WHERE source_schedules.schedule <> EXCLUDED.schedule
                        OR source_schedules.time_zone <> EXCLUDED.time_zone
                    """, name, schedule.expression, timeZone.identifier, next.timeIntervalSince1970)
            }
            let names: [String] = scheduled.map(\.0)  // one array parameter, not one per name
            try db.execute("DELETE FROM source_schedules WHERE NOT (source = ANY($1::text[]))", names)
        }
    }

    /// Queues an import for every source whose slot is due, and moves its slot on.
    public static func queueDue(
        _ db: PostgresConnection, sources: [Configuration.Source], timeZone: TimeZone, queue: JobQueue,
        maxAttempts: Int, now: Date = Date()
    ) async throws -> [QueuedSlot] {
        // Slots that fall together are queued in the order the sources are configured, which
        // is then the order a school's sources run in (JobQueue.claim): its CTF, listed first,
        // before the marksheets that name its pupils.
        let position = Dictionary(sources.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { first, _ in first })
        let due = try await db.query(
            """
            SELECT source, extract(epoch FROM next_slot)::float8 AS slot FROM source_schedules
             WHERE next_slot <= to_timestamp($1::float8)
            """, now.timeIntervalSince1970
        ).rows.map { (name: try $0.decode("source", as: String.self), slot: try $0.decode("slot", as: Double.self)) }
            .sorted { ($0.slot, position[$0.name] ?? Int.max) < ($1.slot, position[$1.name] ?? Int.max) }
        var queued: [QueuedSlot] = []
        for (name, _) in due {
            guard let source = sources.first(where: { $0.name == name }), let schedule = source.schedule,
                let next = schedule.nextFire(after: now, in: timeZone)
            else { continue }
            try await db.begin()
            do {
                // The row lock makes a second daemon wait here, then find the slot moved on.
                let claimed = try await db.query(
                    """
                    UPDATE source_schedules SET last_slot = next_slot, next_slot = to_timestamp($2::float8),
                           updated_at = now()
                     WHERE source = $1 AND next_slot <= to_timestamp($3::float8)
                    RETURNING extract(epoch FROM last_slot)::float8 AS slot
                    """, name, next.timeIntervalSince1970, now.timeIntervalSince1970
                ).singleRow()
                if let claimed {
                    let jobID = try await queue.enqueueImport(
                        db, source: name, schools: source.schools, reason: "schedule", maxAttempts: maxAttempts)
                    try await db.execute("UPDATE source_schedules SET last_job_id = $2 WHERE source = $1", name, jobID)
                    let slot = Date(timeIntervalSince1970: try claimed.decode("slot", as: Double.self))
                    queued.append(QueuedSlot(source: name, slot: slot, jobID: jobID))
                }
                try await db.commit()
            } catch {
                await db.rollback()
                throw error
            }
        }
        return queued
    }

    /// The earliest next slot of any schedule, to sleep until.
    public static func earliestSlot(_ db: PostgresConnection) async throws -> Date? {
        let row = try await db.query("SELECT extract(epoch FROM min(next_slot))::float8 AS at FROM source_schedules").singleRow()
        return try row?.decode("at", as: Double?.self).map { Date(timeIntervalSince1970: $0) }
    }

    /// The next slot of each scheduled source.
    public static func nextSlots(_ db: PostgresConnection) async throws -> [String: Date] {
        let result = try await db.query("SELECT source, extract(epoch FROM next_slot)::float8 AS at FROM source_schedules")
        var slots: [String: Date] = [:]
        for row in result.rows {
            slots[try row.decode("source")] = Date(timeIntervalSince1970: try row.decode("at", as: Double.self))
        }
        return slots
    }
}
