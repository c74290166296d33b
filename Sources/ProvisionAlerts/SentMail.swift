import Postgres

/// The outbox's record of what was sent. A digest names pupils in its text, so a sent
/// message's text is kept only as long as `[retention] sent_mail_days` says: then it is
/// erased, and who was sent what subject and when stays (subjects never name a pupil).
public enum SentMail {
    /// Erases the text of messages sent, or given up on, more than `days` days ago; `days`
    /// 0 keeps every text. Returns how many were erased. Waiting messages are never touched.
    public static func eraseText(_ db: PostgresConnection, olderThanDays days: Int) async throws -> Int {
        guard days > 0 else { return 0 }
        return try await db.execute(
            """
            UPDATE mail_outbox SET message = ''::bytea
             WHERE state IN ('sent', 'failed') AND octet_length(message) > 0
               AND coalesce(sent_at, created_at) < now() - make_interval(days => $1)
            """, days)
    }
}
