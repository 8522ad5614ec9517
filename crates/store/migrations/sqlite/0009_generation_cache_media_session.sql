-- `/generation` fields that were always null (issue 20): what prompt
-- caching saved (`cache_discount`, picodollars like every amount here; may
-- be negative when cache writes cost more than they saved), the media
-- items in the prompt (`num_media_prompt`) and the request's `session_id`.
-- Added at the end of the table; older rows keep them NULL.
ALTER TABLE generations ADD COLUMN cache_discount INTEGER;
ALTER TABLE generations ADD COLUMN num_media_prompt INTEGER CHECK (num_media_prompt >= 0);
ALTER TABLE generations ADD COLUMN session_id TEXT;
