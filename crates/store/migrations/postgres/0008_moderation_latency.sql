-- How long the moderation backend took to check a request's input for a
-- moderated endpoint (`moderation_latency` of `/generation`), in
-- milliseconds; NULL when no check was made.
ALTER TABLE generations ADD COLUMN moderation_latency_ms BIGINT
    CHECK (moderation_latency_ms >= 0);
