-- `/generation` fields that were always null (issue 20): what prompt
-- caching saved (`cache_discount`; may be negative when cache writes cost
-- more than they saved), the media items in the prompt
-- (`num_media_prompt`) and the request's `session_id`. Older rows keep
-- them NULL.
ALTER TABLE generations
    ADD COLUMN cache_discount   NUMERIC(28, 12),
    ADD COLUMN num_media_prompt BIGINT CHECK (num_media_prompt >= 0),
    ADD COLUMN session_id       TEXT;
